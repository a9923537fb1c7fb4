// Failover pools on the home pool's store: a RelayPool with spec.redis.relayPool runs relays
// only, on the named pool's built-in Redis, so one Domain can list both pools. The operator as a
// real process against a real kube-apiserver (+ kube-controller-manager for garbage
// collection). No kubelet: the test plays the workload controllers' part by writing Deployment
// and StatefulSet status itself.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { OperatorWorld } from '../test/support/operator-world.js';
import { sleep } from '../test/support/ports.js';
import type { KubeClient } from '../kube/kube-client.js';
import type { KubeObject, ResourceType } from '../kube/kube-object.js';
import { resourceTypes as t } from '../kube/resource-types.js';

const ns = 'grove-shared';
let world: OperatorWorld | undefined;
let client: KubeClient;

type Json = Record<string, unknown>;
const field = (object: KubeObject | undefined, path: string): unknown =>
  path.split('.').reduce<unknown>((value, key) => (value as Json | undefined)?.[key], object);
const readyOf = (object: KubeObject | undefined) =>
  (field(object, 'status.conditions') as Json[] | undefined)?.find((c) => c.type === 'Ready');

async function until<T>(what: string, check: () => Promise<T | undefined | false>): Promise<T> {
  if (world === undefined) throw new Error('the operator world did not start');
  return world.until(what, check, 30_000, 200);
}

const get = (type: ResourceType, name: string) => client.get(type, ns, name);

function groveObject(kind: string, name: string, spec: Json): KubeObject {
  return { apiVersion: 'grove.dev/v1alpha1', kind, metadata: { name, namespace: ns }, spec };
}

async function warnings(name: string, reason: string): Promise<Json[]> {
  const list = await client.list(t.events, {
    namespace: ns,
    fieldSelector: `involvedObject.name=${name}`,
  });
  return list.items.filter((e) => e.type === 'Warning' && e.reason === reason);
}

/** Plays the Deployment and StatefulSet controllers: every pod of the current template ready. */
async function markWorkloadsReady(pool: string): Promise<void> {
  const deployment = await get(t.deployments, `${pool}-relay`);
  if (deployment === undefined) return;
  const replicas = Number(field(deployment, 'spec.replicas') ?? 1);
  await client.patch(
    t.deployments,
    ns,
    `${pool}-relay`,
    {
      status: {
        observedGeneration: deployment.metadata.generation,
        replicas,
        readyReplicas: replicas,
        updatedReplicas: replicas,
        availableReplicas: replicas,
      },
    },
    { type: 'merge', subresource: 'status' },
  );
  const statefulSet = await get(t.statefulSets, `${pool}-redis`);
  if (statefulSet !== undefined) {
    const pods = Number(field(statefulSet, 'spec.replicas') ?? 1);
    await client.patch(
      t.statefulSets,
      ns,
      `${pool}-redis`,
      { status: { replicas: pods, readyReplicas: pods, availableReplicas: pods } },
      { type: 'merge', subresource: 'status' },
    );
  }
}

const relayJsonOf = async (pool: string): Promise<Json | undefined> => {
  const text = (
    field(await get(t.configMaps, `${pool}-relay-config`), 'data') as Json | undefined
  )?.['relay.json'];
  return typeof text === 'string' ? (JSON.parse(text) as Json) : undefined;
};

const relayPeers = async (pool: string): Promise<unknown[]> =>
  (field(await get(t.networkPolicies, `${pool}-redis`), 'spec.ingress') as Json[] | undefined)?.[0]
    ?.from as unknown[];

const relaysOf = (pool: string) => ({
  podSelector: {
    matchLabels: { 'app.kubernetes.io/instance': pool, 'app.kubernetes.io/component': 'relay' },
  },
});

beforeAll(async () => {
  world = await OperatorWorld.start(ns);
  client = world.client;
}, 180_000);

afterAll(async () => {
  await world?.stop();
});

describe('operator › a failover pool on the home pool’s built-in Redis', () => {
  it('makes a Domain with a replicated home pool and a failover pool borrowing its Redis Ready, with both pools’ URLs', async () => {
    await client.create(
      t.relayPools,
      groveObject('RelayPool', 'home', {
        redis: { builtin: { highAvailability: { replicas: 2, replicaAcks: 1 } } },
      }),
    );
    await client.create(
      t.relayPools,
      groveObject('RelayPool', 'failover', { redis: { relayPool: { name: 'home' } } }),
    );
    await client.create(
      t.domains,
      groveObject('Domain', 'two-zones', { relayPools: ['home', 'failover'] }),
    );

    // Ready once both pools' workloads are (their templates change as the Domain's key lands).
    const domain = await until('the Domain Ready', async () => {
      await markWorkloadsReady('home');
      await markWorkloadsReady('failover');
      const current = await get(t.domains, 'two-zones');
      return readyOf(current)?.status === 'True' && current;
    });
    expect(field(domain, 'status.store')).toBe(`builtin:${ns}/home`);
    expect(field(domain, 'status.relayUrls')).toEqual([
      `ws://home-relay.${ns}.svc:443`,
      `ws://failover-relay.${ns}.svc:443`,
    ]);
    const failover = await get(t.relayPools, 'failover');
    expect(readyOf(failover)?.status).toBe('True');
    expect(field(failover, 'status.store')).toBe(`builtin:${ns}/home`);
    expect(field(await get(t.relayPools, 'home'), 'status.store')).toBe(`builtin:${ns}/home`);

    // Its relays use the home pool's Redis exactly as the home pool's own relays do.
    const mine = await relayJsonOf('failover');
    const theirs = await relayJsonOf('home');
    expect(mine?.redis).toEqual(theirs?.redis);
    expect(mine?.redis).toEqual({
      url:
        `sentinel://home-redis-0.home-redis.${ns}.svc:26379,home-redis-1.home-redis.${ns}.svc:26379,` +
        `home-redis-2.home-redis.${ns}.svc:26379/grove`,
      cluster: false,
      replicaAcks: { replicas: 1, timeoutMs: 1000 },
    });
    expect((mine?.domains as Json[]).map((d) => d.name)).toEqual(['two-zones']);
    const template = (pool: string) =>
      get(t.deployments, `${pool}-relay`).then((d) => field(d, 'spec.template') as Json);
    const [myTemplate, theirTemplate] = await Promise.all([template('failover'), template('home')]);
    const container = (tpl: Json) => (field(tpl as KubeObject, 'spec.containers') as Json[])[0];
    expect(container(myTemplate)?.env).toEqual(container(theirTemplate)?.env);
    expect(container(myTemplate)?.env).toContainEqual({
      name: 'GROVE_REDIS_PASSWORD',
      valueFrom: { secretKeyRef: { name: 'home-redis-auth', key: 'password' } },
    });
    const authHash = (tpl: Json) =>
      (field(tpl as KubeObject, 'metadata.annotations') as Json | undefined)?.[
        'grove.dev/redis-auth-hash'
      ];
    expect(authHash(myTemplate)).toBeDefined();
    expect(authHash(myTemplate)).toBe(authHash(theirTemplate));

    // The home pool's Redis admits the failover pool's relays; the failover relays reach it.
    expect(await relayPeers('home')).toEqual(
      expect.arrayContaining([relaysOf('home'), relaysOf('failover')]),
    );
    const egress = field(await get(t.networkPolicies, 'failover-relay'), 'spec.egress') as Json[];
    expect(egress[0]?.to).toEqual([
      {
        podSelector: {
          matchLabels: {
            'app.kubernetes.io/instance': 'home',
            'app.kubernetes.io/component': 'redis',
          },
        },
      },
    ]);
    // No Redis of its own.
    expect(await get(t.statefulSets, 'failover-redis')).toBeUndefined();
    expect(await get(t.secrets, 'failover-redis-auth')).toBeUndefined();
    expect(await get(t.networkPolicies, 'failover-redis')).toBeUndefined();
  });

  it('rolls the failover relays with the home pool’s Redis when its password Secret is replaced', async () => {
    const hashOf = async (pool: string) =>
      (
        field(await get(t.deployments, `${pool}-relay`), 'spec.template.metadata.annotations') as
          Json | undefined
      )?.['grove.dev/redis-auth-hash'];
    const before = await hashOf('failover');
    const secret = await get(t.secrets, 'home-redis-auth');
    if (secret === undefined) throw new Error('no home-redis-auth');
    const password = Buffer.from('a-new-password', 'utf8').toString('base64');
    await client.replace(t.secrets, {
      ...secret,
      data: { ...(secret as KubeObject & { data: Json }).data, password },
    });
    // The operator reads its Secrets every 10 s.
    const after = await until('a new password hash on both pools', async () => {
      const [mine, theirs] = await Promise.all([hashOf('failover'), hashOf('home')]);
      return mine !== before && mine === theirs && mine;
    });
    expect(after).toBeDefined();
  });

  it('admits a deleted borrowing pool’s relays no longer', async () => {
    await client.delete(t.relayPools, ns, 'failover');
    await until('the failover relays no longer admitted', async () => {
      const peers = await relayPeers('home');
      return !JSON.stringify(peers).includes('"failover"') && peers;
    });
  });

  it('starts no relays for a pool whose named pool is missing, external or itself borrowing, and says why', async () => {
    await client.create(
      t.relayPools,
      groveObject('RelayPool', 'lost', { redis: { relayPool: { name: 'nowhere' } } }),
    );
    await client.create(
      t.relayPools,
      groveObject('RelayPool', 'ext', {
        redis: { external: { url: 'redis://cache.example:6379' } },
      }),
    );
    await client.create(
      t.relayPools,
      groveObject('RelayPool', 'via-ext', { redis: { relayPool: { name: 'ext' } } }),
    );
    await client.create(
      t.relayPools,
      groveObject('RelayPool', 'chain', { redis: { relayPool: { name: 'lost' } } }),
    );
    const refused = async (pool: string, reason: string) => {
      const current = await until(`${pool}: ${reason}`, async () => {
        const found = await get(t.relayPools, pool);
        return readyOf(found)?.reason === reason && found;
      });
      expect(readyOf(current)?.status).toBe('False');
      const [warning] = await until(`a ${reason} Warning Event on ${pool}`, async () => {
        const found = await warnings(pool, reason);
        return found.length > 0 && found;
      });
      return String(warning?.message);
    };
    expect(await refused('lost', 'StorePoolMissing')).toContain(
      `RelayPool "nowhere" (spec.redis.relayPool.name) does not exist in namespace ${ns}`,
    );
    expect(await refused('via-ext', 'StorePoolUnusable')).toContain(
      'same url (redis://cache.example:6379)',
    );
    expect(await refused('chain', 'StorePoolUnusable')).toContain('name "nowhere" directly');
    expect(field(await get(t.relayPools, 'lost'), 'status.store')).toBe(`builtin:${ns}/nowhere`);
    // A Domain on that pool says why it is not ready.
    await client.create(t.domains, groveObject('Domain', 'stranded', { relayPools: ['lost'] }));
    const stranded = await until('the Domain not ready for the pool’s reason', async () => {
      const current = await get(t.domains, 'stranded');
      return readyOf(current)?.reason === 'RelayPoolNotReady' && current;
    });
    expect(readyOf(stranded)?.message).toBe(
      'RelayPool "lost" (StorePoolMissing) not ready yet: see its status',
    );
    await sleep(1000);
    for (const pool of ['lost', 'via-ext', 'chain']) {
      expect(await get(t.deployments, `${pool}-relay`)).toBeUndefined();
      expect(await get(t.configMaps, `${pool}-relay-config`)).toBeUndefined();
    }

    // The named pool appears: the waiting pool starts its relays on it.
    await client.create(t.relayPools, groveObject('RelayPool', 'nowhere', {}));
    await until('the relays of "lost" on the Redis of "nowhere"', async () => {
      const url = (await relayJsonOf('lost'))?.redis as Json | undefined;
      return url?.url === `redis://nowhere-redis-svc.${ns}.svc:6379` && url;
    });
    expect(await relayPeers('nowhere')).toContainEqual(relaysOf('lost'));
  });

  it('keeps the relays of a pool whose named pool is deleted, not Ready with StorePoolMissing', async () => {
    const before = await until('the relays of "lost"', () => get(t.deployments, 'lost-relay'));
    await client.delete(t.relayPools, ns, 'nowhere');
    const message = await until('StorePoolMissing after the deletion', async () => {
      const current = await get(t.relayPools, 'lost');
      return readyOf(current)?.reason === 'StorePoolMissing' && String(readyOf(current)?.message);
    });
    expect(message).toMatch(/does not exist|is being deleted/);
    await sleep(1000);
    const after = await get(t.deployments, 'lost-relay');
    expect(after?.metadata.uid).toBe(before.metadata.uid);
    expect(after?.metadata.generation).toBe(before.metadata.generation);
  });
});
