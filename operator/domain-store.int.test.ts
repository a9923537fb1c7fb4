// One store per Domain: the operator refuses a Domain whose RelayPools use different Redis
// stores, and a change of its pools that would leave its data behind on the old store (a
// condition and a Warning Event naming each pool's store); nothing is changed or deleted, and
// devices are given only the pools on the Domain's store. The operator as a real process
// against a real kube-apiserver, and a real Redis holding the Domain's data.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { connectRedis } from '../contracts/redis/connection.js';
import { deviceKeys, directoryKeys } from '../contracts/redis/keys.js';
import { RedisServer } from '../test/support/redis-server.js';
import { OperatorWorld } from '../test/support/operator-world.js';
import { sleep } from '../test/support/ports.js';
import type { KubeClient } from '../kube/kube-client.js';
import type { KubeObject } from '../kube/kube-object.js';
import { resourceTypes as t } from '../kube/resource-types.js';

const ns = 'grove-store';
let world: OperatorWorld | undefined;
let client: KubeClient;
let redis: RedisServer | undefined;

type Json = Record<string, unknown>;
const field = (object: KubeObject | undefined, path: string): unknown =>
  path.split('.').reduce<unknown>((value, key) => (value as Json | undefined)?.[key], object);
const readyOf = (object: KubeObject | undefined) =>
  (field(object, 'status.conditions') as Json[] | undefined)?.find((c) => c.type === 'Ready');

async function until<T>(what: string, check: () => Promise<T | undefined | false>): Promise<T> {
  if (world === undefined) throw new Error('the operator world did not start');
  return world.until(what, check, 20_000, 100);
}

const domain = (name: string) => client.get(t.domains, ns, name);

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

const endpointOf = (pool: string) => `ws://${pool}-relay.${ns}.svc`;

beforeAll(async () => {
  redis = await RedisServer.start();
  world = await OperatorWorld.start(ns);
  client = world.client;
}, 180_000);

afterAll(async () => {
  await world?.stop();
  await redis?.stop();
});

describe('operator › one store per Domain', () => {
  it('refuses a Domain whose pools use different stores, naming them, and gives devices only the home store’s pools', async () => {
    for (const pool of ['home', 'away']) {
      await client.create(t.relayPools, groveObject('RelayPool', pool, { redis: { builtin: {} } }));
    }
    await client.create(
      t.domains,
      groveObject('Domain', 'split', { relayPools: ['home', 'away'] }),
    );
    const refused = await until('RelayPoolsOnDifferentStores', async () => {
      const current = await domain('split');
      return readyOf(current)?.reason === 'RelayPoolsOnDifferentStores' && current;
    });
    const message = String(readyOf(refused)?.message);
    expect(message).toContain('"home" uses the built-in Redis of RelayPool "home"');
    expect(message).toContain('"away" uses the built-in Redis of RelayPool "away"');
    expect(readyOf(refused)?.status).toBe('False');
    expect(field(refused, 'status.store')).toBe(`builtin:${ns}/home`);
    const urls = field(refused, 'status.relayUrls') as string[];
    expect(urls.some((url) => url.startsWith(endpointOf('home')))).toBe(true);
    expect(urls.some((url) => url.startsWith(endpointOf('away')))).toBe(false);
    const [warning] = await until('a Warning Event', async () => {
      const found = await warnings('split', 'RelayPoolsOnDifferentStores');
      return found.length > 0 && found;
    });
    expect(String(warning?.message)).toContain('Point every pool at one store');
    // Nothing deleted: both pools keep their Redis, the Domain its key.
    for (const pool of ['home', 'away']) {
      await until(`the Redis of "${pool}"`, async () => {
        return (await client.get(t.statefulSets, ns, `${pool}-redis`)) !== undefined;
      });
    }
    await sleep(1000);
    for (const pool of ['home', 'away']) {
      expect(await client.get(t.statefulSets, ns, `${pool}-redis`)).toBeDefined();
    }
    expect(await client.get(t.secrets, ns, 'split-signing-key')).toBeDefined();
  });

  it('accepts pools on one external store, and refuses moving the Domain off it without losing its data', async () => {
    const url = redis?.url ?? '';
    const other = 'redis://127.0.0.1:1';
    await client.create(
      t.relayPools,
      groveObject('RelayPool', 'ext-a', { redis: { external: { url } } }),
    );
    await client.create(
      t.relayPools,
      // The same store, written differently (database 0 spelt out).
      groveObject('RelayPool', 'ext-b', { redis: { external: { url: `${url}/0` } } }),
    );
    await client.create(
      t.relayPools,
      groveObject('RelayPool', 'elsewhere', { redis: { external: { url: other } } }),
    );
    await client.create(
      t.domains,
      groveObject('Domain', 'shared', { relayPools: ['ext-a', 'ext-b'] }),
    );
    const accepted = await until('the store recorded, both pools given', async () => {
      const current = await domain('shared');
      const urls = (field(current, 'status.relayUrls') as string[] | undefined) ?? [];
      return field(current, 'status.store') !== undefined && urls.length === 2 && current;
    });
    expect(String(field(accepted, 'status.store'))).toMatch(
      /^external:redis:\/\/127\.0\.0\.1:\d+\/0$/,
    );
    expect(readyOf(accepted)?.reason).not.toBe('RelayPoolsOnDifferentStores');

    const commands = connectRedis({ url, cluster: false }, 'commands');
    try {
      await commands.rpush(deviceKeys('shared', 'laptop').queue, 'm1');
      await commands.hset(directoryKeys('shared').devices, 'laptop', 'alice');
      await client.patch(
        t.domains,
        ns,
        'shared',
        { spec: { relayPools: ['elsewhere'] } },
        {
          type: 'merge',
        },
      );
      const refused = await until('StoreChanged', async () => {
        const current = await domain('shared');
        return readyOf(current)?.reason === 'StoreChanged' && current;
      });
      expect(String(readyOf(refused)?.message)).toContain('docs/architecture.md');
      expect(field(refused, 'status.store')).toBe(field(accepted, 'status.store'));
      expect(field(refused, 'status.relayUrls')).toEqual([]);
      expect((await warnings('shared', 'StoreChanged')).length).toBeGreaterThan(0);
      // The data stays where it is.
      expect(await commands.lrange(deviceKeys('shared', 'laptop').queue, 0, -1)).toEqual(['m1']);
      expect(await commands.hget(directoryKeys('shared').devices, 'laptop')).toBe('alice');

      // Putting a pool on the old store back first is accepted again.
      await client.patch(
        t.domains,
        ns,
        'shared',
        { spec: { relayPools: ['ext-a'] } },
        {
          type: 'merge',
        },
      );
      await until('accepted again', async () => {
        const current = await domain('shared');
        const reason = readyOf(current)?.reason;
        return reason !== 'StoreChanged' && reason !== undefined && current;
      });
    } finally {
      commands.disconnect();
    }
  });
});
