import { directoryKeys, identityKeys, podKeys } from '../../contracts/redis/keys.js';
import type { RedisClient } from './redis-connection.js';

export type PresenceStatus = 'active' | 'idle';

export interface PresenceEvent {
  identity: string;
  device: string;
  state: 'online' | 'offline';
  status?: PresenceStatus;
}

/** A connection as recorded in its pod's set, so a sweeper can take it offline after a crash. */
export interface PresenceHandle {
  domain: string;
  identity: string;
  device: string;
  connectionId: string;
}

function encodeHandle(handle: PresenceHandle): string {
  return [handle.domain, handle.identity, handle.device, handle.connectionId].join('|');
}

function decodeHandle(value: string): PresenceHandle | undefined {
  const [domain, identity, device, connectionId] = value.split('|');
  if (
    domain === undefined ||
    identity === undefined ||
    device === undefined ||
    connectionId === undefined
  ) {
    return undefined;
  }
  return { domain, identity, device, connectionId };
}

/**
 * Device presence per identity (a hash device → "connection|status"), change events on the
 * identity's sharded channel, and pod liveness: each pod records its connections and
 * renews a deadline; any pod takes a dead pod's devices offline.
 */
export class PresenceStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly clock: () => number,
  ) {}

  async online(pod: string, handle: PresenceHandle, status: PresenceStatus): Promise<void> {
    const keys = identityKeys(handle.domain, handle.identity);
    const event: PresenceEvent = {
      identity: handle.identity,
      device: handle.device,
      state: 'online',
      status,
    };
    await Promise.all([
      this.redis.sadd(podKeys.conns(pod), encodeHandle(handle)),
      this.touchLastSeen(handle),
      this.redis.grovePresenceOnline(
        keys.presence,
        handle.device,
        handle.connectionId,
        status,
        keys.channel,
        JSON.stringify(event),
      ),
    ]);
  }

  async offline(pod: string | undefined, handle: PresenceHandle): Promise<void> {
    const keys = identityKeys(handle.domain, handle.identity);
    const event: PresenceEvent = {
      identity: handle.identity,
      device: handle.device,
      state: 'offline',
    };
    await this.redis.grovePresenceOffline(
      keys.presence,
      handle.device,
      handle.connectionId,
      keys.channel,
      JSON.stringify(event),
    );
    await this.touchLastSeen(handle);
    if (pod !== undefined) await this.redis.srem(podKeys.conns(pod), encodeHandle(handle));
  }

  /** "Last seen" in the Manager: when the device connected or went offline. */
  private async touchLastSeen(handle: PresenceHandle): Promise<void> {
    await this.redis.hset(
      directoryKeys(handle.domain).lastSeen,
      handle.device,
      new Date(this.clock()).toISOString(),
    );
  }

  async snapshot(domain: string, identity: string): Promise<PresenceEvent[]> {
    const all = await this.redis.hgetall(identityKeys(domain, identity).presence);
    return Object.entries(all).map(([device, value]) => {
      const status = value.slice(value.lastIndexOf('|') + 1);
      return {
        identity,
        device,
        state: 'online',
        status: status === 'idle' ? 'idle' : 'active',
      };
    });
  }

  /** Renews the pod's deadline. True when the pod was missing (new, or swept as dead). */
  async heartbeat(pod: string, ttlMs: number): Promise<boolean> {
    const added = await this.redis.zadd(podKeys.pods, this.clock() + ttlMs, pod);
    return added === 1;
  }

  /** Takes offline every device of every pod whose deadline passed. Returns how many. */
  async sweepDeadPods(): Promise<number> {
    const dead = await this.redis.zrangebyscore(podKeys.pods, '-inf', this.clock());
    let swept = 0;
    for (const pod of dead) {
      const locked = await this.redis.set(podKeys.sweepLock(pod), '1', 'PX', 30_000, 'NX');
      if (locked !== 'OK') continue;
      try {
        // Since the read above, another pod may have swept it, or it may have come back.
        const deadline = await this.redis.zscore(podKeys.pods, pod);
        if (deadline === null || Number(deadline) > this.clock()) continue;
        const handles = await this.redis.smembers(podKeys.conns(pod));
        for (const value of handles) {
          const handle = decodeHandle(value);
          if (handle !== undefined) {
            await this.offline(undefined, handle);
            swept++;
          }
        }
        await this.redis.del(podKeys.conns(pod));
        await this.redis.zrem(podKeys.pods, pod);
      } finally {
        // Held only while sweeping: a pod that comes back and then dies is swept again at once.
        await this.redis.del(podKeys.sweepLock(pod));
      }
    }
    return swept;
  }

  async retire(pod: string): Promise<void> {
    await this.redis.zrem(podKeys.pods, pod);
  }
}
