import { deviceKeys, managerKeys } from '../../contracts/redis/keys.js';
import type { RedisClient } from '../../contracts/redis/connection.js';
import { revokeDeviceScript, touchDeviceScript } from '../../contracts/redis/manager-scripts.js';
import { runScript } from '../../contracts/redis/script-runner.js';
import { decodeIdList } from '../../contracts/wire/directory-records.js';
import type { Device } from '../model.js';
import type { DeviceStore } from './manager-store.js';
import { sha256Hex } from './secrets.js';
import { byId, checkDomain, checkId, fail } from './store-checks.js';

/** A device record as stored, with its last-seen time (kept apart: touched at every refresh). */
export function parseDevice(json: string, lastSeenAt?: string | null): Device {
  const device = JSON.parse(json) as Device;
  return lastSeenAt == null ? device : { ...device, lastSeenAt };
}

/**
 * Deletes the queues of devices that the directory no longer lists. A queue lives in its
 * device's own slot, so it cannot go in the script that revokes the device: purged after it,
 * when no relay queues anything new for the device any more.
 */
export async function purgeQueues(
  redis: RedisClient,
  domain: string,
  devices: readonly string[],
): Promise<void> {
  await Promise.all(
    devices.map((device) => {
      const keys = deviceKeys(domain, device);
      return redis.del(keys.meta, keys.queue, keys.ids);
    }),
  );
}

/** Devices: records, revocation, and what a token refresh writes (last seen, nonces). */
export class RedisDeviceStore implements DeviceStore {
  constructor(private readonly redis: RedisClient) {}

  async listDevices(domain: string, options: { memberId?: string }): Promise<Device[]> {
    checkDomain(domain);
    const keys = managerKeys(domain);
    let records: (string | null)[];
    let ids: string[];
    if (options.memberId === undefined) {
      const all = await this.redis.hgetall(keys.devices);
      ids = Object.keys(all);
      records = Object.values(all);
    } else {
      ids = decodeIdList(await this.redis.hget(keys.memberDevices, options.memberId));
      if (ids.length === 0) return [];
      records = await this.redis.hmget(keys.devices, ...ids);
    }
    if (ids.length === 0) return [];
    const seen = await this.redis.hmget(keys.lastSeen, ...ids);
    const devices: Device[] = [];
    records.forEach((json, i) => {
      if (json !== null) devices.push(parseDevice(json, seen[i]));
    });
    return devices.sort(byId);
  }

  async getDevice(domain: string, id: string): Promise<Device | undefined> {
    checkDomain(domain);
    const keys = managerKeys(domain);
    const [json, lastSeenAt] = await Promise.all([
      this.redis.hget(keys.devices, id),
      this.redis.hget(keys.lastSeen, id),
    ]);
    return json === null ? undefined : parseDevice(json, lastSeenAt);
  }

  async revokeDevice(domain: string, id: string, now: Date): Promise<Device> {
    checkDomain(domain);
    checkId(id, 'device');
    const [status, json] = await runScript(this.redis, revokeDeviceScript, {
      domain,
      id,
      now: now.toISOString(),
    });
    if (status !== 'OK' || json === undefined) fail('NOT_FOUND', `no device ${id} in ${domain}`);
    await purgeQueues(this.redis, domain, [id]);
    const lastSeenAt = await this.redis.hget(managerKeys(domain).lastSeen, id);
    return parseDevice(json, lastSeenAt);
  }

  async touchDevice(domain: string, id: string, now: Date): Promise<void> {
    checkDomain(domain);
    await runScript(this.redis, touchDeviceScript, { domain, id, now: now.toISOString() });
  }

  async useNonce(
    domain: string,
    deviceId: string,
    nonce: string,
    ttlSeconds: number,
  ): Promise<boolean> {
    checkDomain(domain);
    checkId(deviceId, 'device');
    // The nonce is hashed into the key: whatever the client sent, the key stays well-formed.
    const key = managerKeys(domain).nonce(deviceId, sha256Hex(nonce).slice(0, 32));
    const set = await this.redis.set(key, '1', 'EX', Math.max(1, Math.ceil(ttlSeconds)), 'NX');
    return set === 'OK';
  }
}
