import { describe, expect, it } from '@jest/globals';
import type { KubeObject } from '../kube/kube-object.js';
import {
  pingWithin,
  redisTargetOfPool,
  watchPoolRedisTarget,
  type RelayPoolWatch,
} from './redis-access.js';

const fallback = { url: 'redis://main-redis-svc.grove.svc:6379', cluster: false };
const sentinels =
  'sentinel://main-redis-0.main-redis.grove.svc:26379,main-redis-1.main-redis.grove.svc:26379,' +
  'main-redis-2.main-redis.grove.svc:26379/grove';

const pool = (name: string, redis: Record<string, unknown>, namespace = 'grove'): KubeObject => ({
  apiVersion: 'grove.dev/v1alpha1',
  kind: 'RelayPool',
  metadata: { name, namespace },
  spec: { redis },
});

/** The Manager's RelayPool cache: what is there, and the handlers told of each change. */
class PoolCache implements RelayPoolWatch {
  private readonly objects = new Map<string, KubeObject>();
  private readonly handlers: ((pool: KubeObject) => void)[] = [];

  relayPool(namespace: string, name: string): KubeObject | undefined {
    return this.objects.get(`${namespace}/${name}`);
  }

  onRelayPool(handler: (pool: KubeObject) => void): void {
    this.handlers.push(handler);
  }

  put(object: KubeObject): void {
    this.objects.set(`${object.metadata.namespace ?? ''}/${object.metadata.name}`, object);
    for (const handler of this.handlers) handler(object);
  }
}

describe('manager › the Redis a RelayPool calls for', () => {
  it('is the pool’s Sentinels with highAvailability, else the address given', () => {
    expect(
      redisTargetOfPool(pool('main', { builtin: { highAvailability: {} } }), fallback),
    ).toEqual({ target: { url: sentinels, cluster: false } });
    expect(redisTargetOfPool(pool('main', { builtin: {} }), fallback).target).toBe(fallback);
    expect(redisTargetOfPool(undefined, fallback).target).toBe(fallback);
    expect(redisTargetOfPool({ kind: 'RelayPool', spec: 'bad' }, fallback).target).toBe(fallback);
  });

  it('names the pool whose Redis a borrowing pool uses', () => {
    expect(redisTargetOfPool(pool('edge', { relayPool: { name: 'main' } }), fallback)).toEqual({
      target: fallback,
      borrowsFrom: 'main',
    });
  });
});

describe('manager › following its RelayPool’s Redis', () => {
  const ref = { namespace: 'grove', name: 'main' };

  it('tells once when a pool created after the Manager started is replicated', () => {
    const cache = new PoolCache();
    const told: string[] = [];
    watchPoolRedisTarget(cache, ref, fallback, fallback, (target) => told.push(target.url));
    // Other pools, and the pool without highAvailability, change nothing.
    cache.put(pool('other', { builtin: { highAvailability: {} } }));
    cache.put(pool('main', { builtin: { highAvailability: {} } }, 'elsewhere'));
    cache.put(pool('main', { builtin: {} }));
    expect(told).toEqual([]);
    cache.put(pool('main', { builtin: { highAvailability: {} } }));
    cache.put(pool('main', { builtin: { highAvailability: { replicas: 3 } } }));
    expect(told).toEqual([sentinels]);
  });

  it('tells at once when the pool changed between the read at start and the watch', () => {
    const cache = new PoolCache();
    cache.put(pool('main', { builtin: { highAvailability: {} } }));
    const told: string[] = [];
    watchPoolRedisTarget(cache, ref, fallback, fallback, (target) => told.push(target.url));
    expect(told).toEqual([sentinels]);
  });

  it('tells nothing while the pool calls for the Redis the Manager is on', () => {
    const cache = new PoolCache();
    const onSentinels = { ...fallback, url: sentinels };
    const told: string[] = [];
    watchPoolRedisTarget(cache, ref, fallback, onSentinels, (target) => told.push(target.url));
    cache.put(pool('main', { builtin: { highAvailability: {} } }));
    expect(told).toEqual([]);
  });
});

describe('manager › PING for /readyz', () => {
  it('answers as Redis does, and fails once Redis takes longer than the time given', async () => {
    await expect(pingWithin(() => Promise.resolve('PONG'), 50)).resolves.toBeUndefined();
    await expect(
      pingWithin(() => Promise.reject(new Error('Connection is closed.')), 50),
    ).rejects.toThrow('Connection is closed.');
    const started = Date.now();
    await expect(pingWithin(() => new Promise(() => undefined), 50)).rejects.toThrow(
      'Redis did not answer PING within 50 ms',
    );
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
