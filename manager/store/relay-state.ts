import { deviceKeys, identityKeys, managerKeys } from '../../contracts/redis/keys.js';
import type { RedisClient } from '../../contracts/redis/connection.js';
import { decodePresenceValue } from '../../contracts/wire/presence.js';
import type { UsageReport } from '../model.js';
import type { RelayStateReader } from './manager-store.js';
import { checkDomain } from './store-checks.js';

/**
 * What the Manager reads of the relays' own keys (presence, queue meta, the relayed counter),
 * never writes: the relays own them.
 */
export class RedisRelayState implements RelayStateReader {
  constructor(private readonly redis: RedisClient) {}

  async presence(
    domain: string,
    memberIds: readonly string[],
  ): Promise<Map<string, 'active' | 'idle'>> {
    checkDomain(domain);
    const result = new Map<string, 'active' | 'idle'>();
    const hashes = await Promise.all(
      memberIds.map((member) => this.redis.hgetall(identityKeys(domain, member).presence)),
    );
    for (const hash of hashes) {
      for (const [device, value] of Object.entries(hash)) {
        result.set(device, decodePresenceValue(value).status);
      }
    }
    return result;
  }

  async usage(domain: string): Promise<UsageReport> {
    checkDomain(domain);
    const keys = managerKeys(domain);
    const [members, directoryDevices, relayed] = await Promise.all([
      this.redis.hlen(keys.members),
      this.redis.hgetall(keys.directory.devices),
      this.redis.hget(keys.usage, 'messagesRelayed'),
    ]);
    const devices = Object.keys(directoryDevices);
    const identities = [...new Set(Object.values(directoryDevices))];
    const [presence, metas] = await Promise.all([
      Promise.all(identities.map((id) => this.redis.hkeys(identityKeys(domain, id).presence))),
      Promise.all(
        devices.map((device) =>
          this.redis.hmget(deviceKeys(domain, device).meta, 'head', 'next', 'bytes'),
        ),
      ),
    ]);
    const enrolled = new Set(devices);
    const devicesOnline = presence.flat().filter((device) => enrolled.has(device)).length;
    let queuedMessages = 0;
    let queuedBytes = 0;
    for (const [head, next, bytes] of metas) {
      // Queue meta (contracts/redis/lua/enqueue.lua): entries head..next-1 are queued, `bytes` their size.
      if (head == null || next == null) continue;
      queuedMessages += Math.max(0, Number(next) - Number(head));
      queuedBytes += Math.max(0, Number(bytes ?? 0));
    }
    return {
      domain,
      members,
      devices: devices.length,
      devicesOnline,
      messagesRelayed: Number(relayed ?? 0),
      queuedMessages,
      queuedBytes,
    };
  }
}
