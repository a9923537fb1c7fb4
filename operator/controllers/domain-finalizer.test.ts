import { describe, expect, it } from '@jest/globals';
import { domainSchema, type Domain } from '../../crds/domain.js';
import type { RedisTarget } from '../../contracts/redis/connection.js';
import type { KubeObject } from '../../kube/kube-object.js';
import type { KubeApi, ObjectCache, ReconcileContext } from './context.js';
import { finalizeDomain, PURGE_FINALIZER } from './domain-finalizer.js';

const NAMESPACE = 'grove';

function cacheOf(objects: KubeObject[]): ObjectCache {
  return {
    get: (namespace, name) =>
      objects.find((o) => o.metadata.namespace === namespace && o.metadata.name === name),
    list: (namespace) =>
      objects.filter((o) => namespace === undefined || o.metadata.namespace === namespace),
  };
}

function pool(name: string, redis: unknown, deleting = false): KubeObject {
  return {
    apiVersion: 'grove.dev/v1alpha1',
    kind: 'RelayPool',
    metadata: {
      name,
      namespace: NAMESPACE,
      uid: `uid-${name}`,
      ...(deleting ? { deletionTimestamp: '2025-01-01T00:00:00Z' } : {}),
    },
    spec: { redis },
  };
}

function secret(name: string, data: Record<string, string>): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: NAMESPACE },
    data: Object.fromEntries(
      Object.entries(data).map(([key, value]) => [key, Buffer.from(value).toString('base64')]),
    ),
  };
}

const domainObject: KubeObject = {
  apiVersion: 'grove.dev/v1alpha1',
  kind: 'Domain',
  metadata: {
    name: 'leaving',
    namespace: NAMESPACE,
    uid: 'uid-leaving',
    deletionTimestamp: '2025-01-01T00:00:00Z',
    finalizers: [PURGE_FINALIZER],
  },
};

interface Recorded {
  purged: { target: RedisTarget; domain: string }[];
  events: { type: string; reason: string; message: string }[];
  applied: KubeObject[];
}

/** A context with fakes for everything the finalizer touches; the purge is the injected one. */
function setup(
  pools: KubeObject[],
  secrets: KubeObject[],
  purge: (target: RedisTarget, domain: string) => Promise<number>,
): { ctx: ReconcileContext; seen: Recorded } {
  const seen: Recorded = { purged: [], events: [], applied: [] };
  const unexpected = (what: string) => () => Promise.reject(new Error(`unexpected ${what}`));
  const api: KubeApi = {
    get: <T extends KubeObject>(
      type: { kind: string },
      namespace: string | undefined,
      name: string,
    ) =>
      Promise.resolve(
        (type.kind === 'Secret'
          ? secrets.find((s) => s.metadata.namespace === namespace && s.metadata.name === name)
          : undefined) as T | undefined,
      ),
    apply: <T extends KubeObject>(object: KubeObject) => {
      seen.applied.push(object);
      return Promise.resolve(object as T);
    },
    create: unexpected('create'),
    replace: unexpected('replace'),
    delete: unexpected('delete'),
    patch: unexpected('patch'),
  };
  const ctx: ReconcileContext = {
    api,
    events: {
      record: (_object, type, reason, message) => seen.events.push({ type, reason, message }),
    },
    log: { info: () => undefined, warn: () => undefined, error: () => undefined },
    now: () => new Date('2025-01-01T00:00:00Z'),
    settings: { image: 'grove:test', redisImage: 'grove:test' },
    caches: {
      relayPools: cacheOf(pools),
      domains: cacheOf([domainObject]),
      policies: cacheOf([]),
      backupSchedules: cacheOf([]),
      owned: new Map(),
    },
    randomPassword: () => 'unused',
    generateSigningKey: () => Promise.reject(new Error('unexpected generateSigningKey')),
    purgeDomainData: async (target, domain) => {
      seen.purged.push({ target, domain });
      return purge(target, domain);
    },
  };
  return { ctx, seen };
}

const parsedDomain = (relayPools: string[]): Domain =>
  domainSchema.parse({ ...domainObject, spec: { relayPools } });

describe('finalizeDomain', () => {
  it('purges every existing pool’s Redis through the context, then removes the finalizer', async () => {
    const { ctx, seen } = setup(
      [
        pool('home', { builtin: {} }),
        pool('managed', {
          external: {
            url: 'rediss://redis.example.com:6380',
            cluster: true,
            passwordSecretRef: { name: 'managed-auth', key: 'token' },
          },
        }),
        pool('going', { builtin: {} }, true),
      ],
      [
        secret('home-redis-auth', { password: 'home-secret' }),
        secret('managed-auth', { token: 'managed-secret' }),
      ],
      (target) => Promise.resolve(target.cluster ? 7 : 3),
    );
    await finalizeDomain(ctx, domainObject, parsedDomain(['home', 'missing', 'going', 'managed']));

    expect(seen.purged).toEqual([
      {
        target: {
          url: 'redis://home-redis-svc.grove.svc:6379',
          cluster: false,
          password: 'home-secret',
        },
        domain: 'leaving',
      },
      {
        target: {
          url: 'rediss://redis.example.com:6380',
          cluster: true,
          password: 'managed-secret',
        },
        domain: 'leaving',
      },
    ]);
    expect(seen.events).toEqual([
      {
        type: 'Normal',
        reason: 'DataPurged',
        message: 'removed 3 Redis keys of domain leaving from RelayPool home',
      },
      {
        type: 'Normal',
        reason: 'DataPurged',
        message: 'removed 7 Redis keys of domain leaving from RelayPool managed',
      },
    ]);
    expect(seen.applied).toEqual([
      {
        apiVersion: 'grove.dev/v1alpha1',
        kind: 'Domain',
        metadata: { name: 'leaving', namespace: NAMESPACE, finalizers: [] },
      },
    ]);
  });

  it('purges a store shared through spec.redis.relayPool once, through the pool that owns it', async () => {
    const homeTarget = {
      url: 'redis://home-redis-svc.grove.svc:6379',
      cluster: false,
      password: 'home-secret',
    };
    const pools = [
      pool('home', { builtin: {} }),
      pool('failover', { relayPool: { name: 'home' } }),
      pool('orphan', { relayPool: { name: 'gone' } }),
    ];
    const secrets = [secret('home-redis-auth', { password: 'home-secret' })];
    const both = setup(pools, secrets, () => Promise.resolve(4));
    await finalizeDomain(both.ctx, domainObject, parsedDomain(['home', 'failover', 'orphan']));
    expect(both.seen.purged).toEqual([{ target: homeTarget, domain: 'leaving' }]);
    expect(both.seen.events.map((e) => e.message)).toEqual([
      'removed 4 Redis keys of domain leaving from RelayPool home',
    ]);
    expect(both.seen.applied).toHaveLength(1);

    // Only the failover pool listed: its store is still the home pool's Redis.
    const alone = setup(pools, secrets, () => Promise.resolve(2));
    await finalizeDomain(alone.ctx, domainObject, parsedDomain(['failover']));
    expect(alone.seen.purged).toEqual([{ target: homeTarget, domain: 'leaving' }]);
    expect(alone.seen.events.map((e) => e.message)).toEqual([
      'removed 2 Redis keys of domain leaving from the built-in Redis of RelayPool home (used by failover)',
    ]);
  });

  it('keeps the finalizer and says how to let go when a purge fails', async () => {
    const { ctx, seen } = setup(
      [pool('home', { builtin: {} })],
      [secret('home-redis-auth', { password: 'home-secret' })],
      () => Promise.reject(new Error('connection refused')),
    );
    await expect(finalizeDomain(ctx, domainObject, parsedDomain(['home']))).rejects.toThrow(
      'connection refused',
    );
    expect(seen.purged).toHaveLength(1);
    expect(seen.events).toEqual([
      {
        type: 'Warning',
        reason: 'PurgeFailed',
        message:
          "cannot purge the domain's data from RelayPool home's Redis: connection refused. " +
          `Retrying; to delete the Domain without purging, remove the finalizer ${PURGE_FINALIZER}`,
      },
    ]);
    expect(seen.applied).toEqual([]);
  });

  it('does not purge without the pool’s password, and reports it the same way', async () => {
    const { ctx, seen } = setup([pool('home', { builtin: {} })], [], () => Promise.resolve(1));
    await expect(finalizeDomain(ctx, domainObject, parsedDomain(['home']))).rejects.toThrow(
      'Secret grove/home-redis-auth has no key "password"',
    );
    expect(seen.purged).toEqual([]);
    expect(seen.events.map((e) => e.reason)).toEqual(['PurgeFailed']);
    expect(seen.applied).toEqual([]);
  });

  it('releases a Domain whose spec no longer parses without purging anything', async () => {
    const { ctx, seen } = setup([pool('home', { builtin: {} })], [], () => Promise.resolve(1));
    await finalizeDomain(ctx, domainObject, undefined);
    expect(seen.purged).toEqual([]);
    expect(seen.applied).toHaveLength(1);
  });
});
