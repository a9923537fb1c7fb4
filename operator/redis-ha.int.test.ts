// A RelayPool with a replicated built-in Redis, through the real operator and kube-apiserver:
// the StatefulSet of the primary and its replicas, their PodDisruptionBudget, relays told to go
// through the Sentinels and to wait for a replica, the API server's rules on the option, and
// status.redis saying why the replication cannot be read while no Redis pod runs (there is no
// kubelet here).

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { KubeApiServer } from '../test/support/kube-apiserver.js';
import { createNamespace, installGroveCrds } from '../test/support/grove-crds.js';
import { OperatorProcess } from '../test/support/operator-process.js';
import { waitFor } from '../test/support/ports.js';
import { KubeClient } from '../kube/kube-client.js';
import type { KubeObject } from '../kube/kube-object.js';
import { resourceTypes as t } from '../kube/resource-types.js';

const ns = 'grove-ha';
let kube: KubeApiServer | undefined;
let client: KubeClient;
let operator: OperatorProcess | undefined;

type Json = Record<string, unknown>;
const field = (object: KubeObject | undefined, path: string): unknown =>
  path.split('.').reduce<unknown>((value, key) => (value as Json | undefined)?.[key], object);

async function until<T>(what: string, check: () => Promise<T | undefined | false>): Promise<T> {
  return waitFor(check, what, 20_000, 100).catch((error: unknown) => {
    throw new Error(
      `${String(error)}\noperator log tail:\n${operator?.lines.slice(-15).join('\n') ?? ''}`,
    );
  });
}

const pool = (name: string, builtin: Json): KubeObject => ({
  apiVersion: 'grove.dev/v1alpha1',
  kind: 'RelayPool',
  metadata: { name, namespace: ns },
  spec: { redis: { builtin } },
});

beforeAll(async () => {
  kube = await KubeApiServer.start({
    beforeControllerManager: async (server) => {
      client = await KubeClient.fromKubeConfig({ kubeconfigPath: server.kubeconfigPath });
      await installGroveCrds(client);
    },
  });
  await createNamespace(client, ns);
  operator = await OperatorProcess.start({
    kubeconfigPath: kube.kubeconfigPath,
    resyncSeconds: 30,
  });
  await operator.waitReady();
}, 180_000);

afterAll(async () => {
  await operator?.stop();
  client.close();
  await kube?.stop();
});

describe('operator › RelayPool with a replicated built-in Redis', () => {
  it('runs the primary and its replicas with Sentinels and points the relays at them', async () => {
    await client.create(t.relayPools, pool('ha', { highAvailability: { replicas: 2 } }));
    const statefulSet = await until('the Redis StatefulSet', () =>
      client.get(t.statefulSets, ns, 'ha-redis'),
    );
    expect(field(statefulSet, 'spec.replicas')).toBe(3);
    const containers = field(statefulSet, 'spec.template.spec.containers') as Json[];
    expect(containers.map((c) => c.name)).toEqual(['redis', 'sentinel']);
    const budget = await until('the Redis PodDisruptionBudget', () =>
      client.get(t.podDisruptionBudgets, ns, 'ha-redis'),
    );
    expect(field(budget, 'spec.maxUnavailable')).toBe(1);
    const config = await until('relay.json', () => client.get(t.configMaps, ns, 'ha-relay-config'));
    const data = (config as KubeObject & { data?: Record<string, string> }).data ?? {};
    const relayJson = JSON.parse(data['relay.json'] ?? '{}') as {
      redis: { url: string; replicaAcks?: unknown };
    };
    expect(relayJson.redis.url).toBe(
      `sentinel://ha-redis-0.ha-redis.${ns}.svc:26379,ha-redis-1.ha-redis.${ns}.svc:26379,ha-redis-2.ha-redis.${ns}.svc:26379/grove`,
    );
    expect(relayJson.redis.replicaAcks).toEqual({ replicas: 1, timeoutMs: 1000 });
    // No Redis pod runs here: the status says why the replication is not known.
    const status = await until('status.redis', async () => {
      const current = await client.get(t.relayPools, ns, 'ha');
      return field(current, 'status.redis.error') !== undefined && current;
    });
    expect(String(field(status, 'status.redis.error'))).toContain(
      'no Sentinel of grove named a primary',
    );
  });

  it('refuses more replica acknowledgements than replicas, and removing the option', async () => {
    await expect(
      client.create(
        t.relayPools,
        pool('greedy', { highAvailability: { replicas: 2, replicaAcks: 3 } }),
      ),
    ).rejects.toThrow(/replicaAcks cannot be more than replicas/);
    await expect(
      client.patch(
        t.relayPools,
        ns,
        'ha',
        { spec: { redis: { builtin: { highAvailability: null } } } },
        { type: 'merge' },
      ),
    ).rejects.toThrow(/highAvailability cannot be removed/);
  });

  it('lets the replicas be raised, never lowered', async () => {
    const replicas = (n: number) => ({
      spec: { redis: { builtin: { highAvailability: { replicas: n } } } },
    });
    await client.create(t.relayPools, pool('growing', { highAvailability: { replicas: 2 } }));
    await client.patch(t.relayPools, ns, 'growing', replicas(3), { type: 'merge' });
    await expect(
      client.patch(t.relayPools, ns, 'growing', replicas(2), { type: 'merge' }),
    ).rejects.toThrow(/replicas cannot be lowered/);
    await client.delete(t.relayPools, ns, 'growing');
  });
});
