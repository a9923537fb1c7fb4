import type { RedisClient } from '../../contracts/redis/connection.js';
import { directoryKeys, identityKeys, podKeys } from '../../contracts/redis/keys.js';
import {
  presenceOfflineScript,
  presenceOnlineScript,
} from '../../contracts/redis/presence-scripts.js';
import { runScript } from '../../contracts/redis/script-runner.js';
import {
  decodeConnectionHandle,
  decodePresenceValue,
  encodeConnectionHandle,
  type ConnectionHandle,
  type PresenceEvent,
  type PresenceStatus,
} from '../../contracts/wire/presence.js';

/**
 * Device presence per identity (a hash device → presence value), change events on the
 * identity's sharded channel, and pod liveness: each pod records its connections and
 * renews a deadline; any pod takes a dead pod's devices offline.
 */
export class PresenceStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly clock: () => number,
  ) {}

  async online(pod: string, handle: ConnectionHandle, status: PresenceStatus): Promise<void> {
    await Promise.all([
      this.redis.sadd(podKeys.conns(pod), encodeConnectionHandle(handle)),
      this.touchLastSeen(handle),
      runScript(this.redis, presenceOnlineScript, { handle, status }),
    ]);
  }

  async offline(pod: string | undefined, handle: ConnectionHandle): Promise<void> {
    await runScript(this.redis, presenceOfflineScript, handle);
    await this.touchLastSeen(handle);
    if (pod !== undefined)
      await this.redis.srem(podKeys.conns(pod), encodeConnectionHandle(handle));
  }

  /** "Last seen" in the Manager: when the device connected or went offline. */
  private async touchLastSeen(handle: ConnectionHandle): Promise<void> {
    await this.redis.hset(
      directoryKeys(handle.domain).lastSeen,
      handle.device,
      new Date(this.clock()).toISOString(),
    );
  }

  async snapshot(domain: string, identity: string): Promise<PresenceEvent[]> {
    const all = await this.redis.hgetall(identityKeys(domain, identity).presence);
    return Object.entries(all).map(([device, value]) => ({
      identity,
      device,
      state: 'online',
      status: decodePresenceValue(value).status,
    }));
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
          const handle = decodeConnectionHandle(value);
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
