// The operator as a real process against a real kube-apiserver (+ kube-controller-manager for
// garbage collection). No kubelet: the tests play the workload controllers' part by writing
// Deployment and StatefulSet status themselves.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { connectRedis } from '../contracts/redis/connection.js';
import { deviceKeys, directoryKeys } from '../contracts/redis/keys.js';
import { KubeApiServer } from '../test/support/kube-apiserver.js';
import { RedisServer } from '../test/support/redis-server.js';
import { createNamespace, installGroveCrds } from '../test/support/grove-crds.js';
import { OperatorProcess } from '../test/support/operator-process.js';
import { waitFor } from '../test/support/ports.js';
import { annotationKeys } from './builders/labels.js';
import { KubeClient } from '../kube/kube-client.js';
import type { KubeObject, ResourceType } from '../kube/kube-object.js';
import { resourceTypes as t } from '../kube/resource-types.js';

const ns = 'grove-op';
let kube: KubeApiServer | undefined;
let client: KubeClient;
let operator: OperatorProcess | undefined;
let redis: RedisServer | undefined;

type Json = Record<string, unknown>;
const field = (object: KubeObject | undefined, path: string): unknown =>
  path.split('.').reduce<unknown>((value, key) => (value as Json | undefined)?.[key], object);

const conditionOf = (object: KubeObject | undefined, type: string) =>
  (field(object, 'status.conditions') as Json[] | undefined)?.find((c) => c.type === type);

async function until<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = 20_000,
): Promise<T> {
  return waitFor(check, what, timeoutMs, 100).catch((error: unknown) => {
    throw new Error(
      `${String(error)}\noperator log tail:\n${operator?.lines.slice(-15).join('\n') ?? ''}`,
    );
  });
}

const get = (type: ResourceType, name: string) => client.get(type, ns, name);

function groveObject(kind: string, name: string, spec: Json, metadata: Json = {}): KubeObject {
  return {
    apiVersion: 'grove.dev/v1alpha1',
    kind,
    metadata: { name, namespace: ns, ...metadata },
    spec,
  };
}

async function events(name: string): Promise<Json[]> {
  const list = await client.list(t.events, {
    namespace: ns,
    fieldSelector: `involvedObject.name=${name}`,
  });
  return list.items;
}

/** Plays the Deployment and StatefulSet controllers: all pods of the current template ready. */
async function markWorkloadsReady(pool: string): Promise<void> {
  const deployment = await get(t.deployments, `${pool}-relay`);
  const replicas = Number(field(deployment, 'spec.replicas') ?? 1);
  await client.patch(
    t.deployments,
    ns,
    `${pool}-relay`,
    {
      status: {
        observedGeneration: deployment?.metadata.generation,
        replicas,
        readyReplicas: replicas,
        updatedReplicas: replicas,
        availableReplicas: replicas,
      },
    },
    { type: 'merge', subresource: 'status' },
  );
  if ((await get(t.statefulSets, `${pool}-redis`)) !== undefined) {
    await client.patch(
      t.statefulSets,
      ns,
      `${pool}-redis`,
      { status: { replicas: 1, readyReplicas: 1, availableReplicas: 1 } },
      { type: 'merge', subresource: 'status' },
    );
  }
}

const configHash = async (pool: string) =>
  field(await get(t.deployments, `${pool}-relay`), `spec.template.metadata.annotations`) as
    Json | undefined;

beforeAll(async () => {
  redis = await RedisServer.start();
  kube = await KubeApiServer.start({
    controllerManager: true,
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
  await redis?.stop();
});

describe('operator › RelayPool', () => {
  it('creates every child with an owner reference and reports endpoints and selector', async () => {
    await client.create(t.domains, groveObject('Domain', 'acme', { relayPools: ['main'] }));
    const pool = await client.create(
      t.relayPools,
      groveObject('RelayPool', 'main', { replicas: 2 }),
    );
    const children: [ResourceType, string][] = [
      [t.configMaps, 'main-relay-config'],
      [t.secrets, 'main-redis-auth'],
      [t.services, 'main-redis'],
      [t.statefulSets, 'main-redis'],
      [t.deployments, 'main-relay'],
      [t.services, 'main-relay'],
      [t.podDisruptionBudgets, 'main-relay'],
    ];
    for (const [type, name] of children) {
      const child = await until(`${type.kind} ${name}`, () => get(type, name));
      expect(child.metadata.ownerReferences).toEqual([
        expect.objectContaining({
          kind: 'RelayPool',
          name: 'main',
          uid: pool.metadata.uid,
          controller: true,
        }),
      ]);
      expect(child.metadata.labels?.['app.kubernetes.io/managed-by']).toBe('grove-operator');
    }
    expect(await get(t.horizontalPodAutoscalers, 'main-relay')).toBeUndefined();
    const deployment = await get(t.deployments, 'main-relay');
    expect(field(deployment, 'spec.replicas')).toBe(2);
    const status = await until('RelayPool status', async () => {
      const current = await get(t.relayPools, 'main');
      return (
        field(current, 'status.observedGeneration') === current?.metadata.generation && current
      );
    });
    expect(field(status, 'status.selector')).toBe(
      'app.kubernetes.io/component=relay,app.kubernetes.io/instance=main',
    );
    expect(field(status, 'status.endpoints')).toEqual([`ws://main-relay.${ns}.svc:443`]);
    expect(conditionOf(status, 'Ready')).toMatchObject({ status: 'False' });
  });

  it('publishes the Domain key to the relays and becomes Ready with its workloads', async () => {
    const domain = await until('Domain public key', async () => {
      const current = await get(t.domains, 'acme');
      return (
        ((field(current, 'status.publicKeys') as unknown[] | undefined) ?? []).length === 1 &&
        current
      );
    });
    const [key] = field(domain, 'status.publicKeys') as { kid: string; x: string }[];
    expect(key?.kid).toBe('acme-1');
    const secret = await get(t.secrets, 'acme-signing-key');
    expect(secret?.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'Domain', name: 'acme' });
    const config = await until('relay config with the acme key', async () => {
      const map = await get(t.configMaps, 'main-relay-config');
      const text = (field(map, 'data') as Json | undefined)?.['relay.json'];
      return typeof text === 'string' && text.includes(key?.x ?? '?') && (JSON.parse(text) as Json);
    });
    expect((config.domains as Json[]).map((d) => d.name)).toEqual(['acme']);

    await markWorkloadsReady('main');
    const ready = await until('RelayPool Ready', async () => {
      const current = await get(t.relayPools, 'main');
      return conditionOf(current, 'Ready')?.status === 'True' && current;
    });
    expect(field(ready, 'status.readyReplicas')).toBe(2);
    const domainReady = await until('Domain Ready', async () => {
      const current = await get(t.domains, 'acme');
      return conditionOf(current, 'Ready')?.status === 'True' && current;
    });
    expect(field(domainReady, 'status.relayUrls')).toEqual([`ws://main-relay.${ns}.svc:443`]);
    const reasons = (await events('main')).map((e) => e.reason);
    expect(reasons).toEqual(expect.arrayContaining(['Created', 'AllReplicasReady']));
  });

  it('scales through the scale subresource, as kubectl scale and an HPA do', async () => {
    const scale = await client.patch(
      t.relayPools,
      ns,
      'main',
      { spec: { replicas: 4 } },
      { type: 'merge', subresource: 'scale' },
    );
    // The Scale object is what an HPA reads: its selector comes from status.selector.
    expect(scale.kind).toBe('Scale');
    expect(field(scale, 'spec.replicas')).toBe(4);
    expect(field(scale, 'status.selector')).toBe(
      'app.kubernetes.io/component=relay,app.kubernetes.io/instance=main',
    );
    await until(
      'Deployment scaled to 4',
      async () => field(await get(t.deployments, 'main-relay'), 'spec.replicas') === 4,
    );
  });

  it('rolls the pods when the relay configuration changes, and only then', async () => {
    const before = (await configHash('main'))?.[annotationKeys.configHash];
    expect(typeof before).toBe('string');
    await client.create(
      t.policies,
      groveObject('Policy', 'small-messages', {
        domainSelector: {},
        relay: { maxMessageBytes: 4096 },
      }),
    );
    const after = await until('new config hash', async () => {
      const hash = (await configHash('main'))?.[annotationKeys.configHash];
      return hash !== before && hash;
    });
    const map = await get(t.configMaps, 'main-relay-config');
    const relayJson = JSON.parse(String((field(map, 'data') as Json)['relay.json'])) as {
      domains: { limits: Json }[];
    };
    expect(relayJson.domains[0]?.limits.maxMessageBytes).toBe(4096);
    const policy = await until('Policy bound', async () => {
      const current = await get(t.policies, 'small-messages');
      return (
        (field(current, 'status.appliesTo') as string[] | undefined)?.includes('acme') === true &&
        current
      );
    });
    expect(conditionOf(policy, 'Ready')).toMatchObject({ status: 'True', reason: 'Bound' });
    // Replicas are not configuration: the template (and so the pods) stay as they are.
    await client.patch(t.relayPools, ns, 'main', { spec: { replicas: 3 } }, { type: 'merge' });
    await until(
      'Deployment scaled to 3',
      async () => field(await get(t.deployments, 'main-relay'), 'spec.replicas') === 3,
    );
    expect((await configHash('main'))?.[annotationKeys.configHash]).toBe(after);
  });

  it('rotates the signing key on request and keeps the old public key during the grace period', async () => {
    const before = (await configHash('main'))?.[annotationKeys.configHash];
    await client.patch(
      t.domains,
      ns,
      'acme',
      { metadata: { annotations: { [annotationKeys.rotateSigningKey]: 'first' } } },
      { type: 'merge' },
    );
    const domain = await until('two published keys', async () => {
      const current = await get(t.domains, 'acme');
      return (
        ((field(current, 'status.publicKeys') as unknown[] | undefined) ?? []).length === 2 &&
        current
      );
    });
    const keys = field(domain, 'status.publicKeys') as { kid: string; notAfter?: string }[];
    expect(keys.map((k) => k.kid)).toEqual(['acme-2', 'acme-1']);
    expect(keys[1]?.notAfter).toBeDefined();
    await until(
      'pods rolled for the new key',
      async () => (await configHash('main'))?.[annotationKeys.configHash] !== before,
    );
    expect((await events('acme')).map((e) => e.reason)).toContain('SigningKeyRotated');
  });

  it('adds a HorizontalPodAutoscaler with autoscaling and removes it again', async () => {
    await client.patch(
      t.relayPools,
      ns,
      'main',
      {
        spec: {
          autoscaling: { minReplicas: 2, maxReplicas: 5 },
          resources: { requests: { cpu: '100m' } },
        },
      },
      { type: 'merge' },
    );
    const hpa = await until('HPA', () => get(t.horizontalPodAutoscalers, 'main-relay'));
    expect(field(hpa, 'spec.maxReplicas')).toBe(5);
    await client.patch(
      t.relayPools,
      ns,
      'main',
      { spec: { autoscaling: null } },
      { type: 'merge' },
    );
    await until(
      'HPA deleted',
      async () => (await get(t.horizontalPodAutoscalers, 'main-relay')) === undefined,
    );
  });

  it('reverts a manual edit of a child and recreates a deleted one', async () => {
    // A hand edit of relay.json would give the pods a config the operator did not compute.
    await client.patch(
      t.configMaps,
      ns,
      'main-relay-config',
      { data: { 'relay.json': '{"tampered":true}' } },
      { type: 'merge' },
    );
    await client.delete(t.podDisruptionBudgets, ns, 'main-relay');
    await until('PDB recreated', () => get(t.podDisruptionBudgets, 'main-relay'));
    await until('relay.json restored', async () => {
      const data = field(await get(t.configMaps, 'main-relay-config'), 'data') as Json | undefined;
      return String(data?.['relay.json']).includes('"domains"');
    });
  });

  it('rolls Redis and the relays together when the Redis password Secret is replaced', async () => {
    const authHash = async (type: ResourceType, name: string) =>
      (field(await get(type, name), 'spec.template.metadata.annotations') as Json | undefined)?.[
        'grove.dev/redis-auth-hash'
      ];
    const secret = await get(t.secrets, 'main-redis-auth');
    const data = field(secret, 'data') as Json;
    expect(Buffer.from(String(data['redis.conf']), 'base64').toString()).toMatch(/^requirepass "/);
    const before = await authHash(t.deployments, 'main-relay');
    expect(before).toBeDefined();
    expect(await authHash(t.statefulSets, 'main-redis')).toBe(before);
    await client.delete(t.secrets, ns, 'main-redis-auth');
    const after = await until('new password hash on the relays', async () => {
      const hash = await authHash(t.deployments, 'main-relay');
      return hash !== before && hash;
    });
    await until(
      'same hash on Redis',
      async () => (await authHash(t.statefulSets, 'main-redis')) === after,
    );
  });

  it('stops reconciling a paused object and resumes when the annotation goes', async () => {
    await client.patch(
      t.relayPools,
      ns,
      'main',
      { metadata: { annotations: { [annotationKeys.paused]: 'true' } } },
      { type: 'merge' },
    );
    await until(
      'Paused condition',
      async () => conditionOf(await get(t.relayPools, 'main'), 'Paused')?.status === 'True',
    );
    await client.patch(t.relayPools, ns, 'main', { spec: { replicas: 5 } }, { type: 'merge' });
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(field(await get(t.deployments, 'main-relay'), 'spec.replicas')).not.toBe(5);
    await client.patch(
      t.relayPools,
      ns,
      'main',
      { metadata: { annotations: { [annotationKeys.paused]: null } } },
      { type: 'merge' },
    );
    await until(
      'replicas applied after resume',
      async () => field(await get(t.deployments, 'main-relay'), 'spec.replicas') === 5,
    );
    await until(
      'Paused condition removed',
      async () => conditionOf(await get(t.relayPools, 'main'), 'Paused') === undefined,
    );
  });

  it('reports a Domain whose RelayPool does not exist, with a Warning Event', async () => {
    await client.create(t.domains, groveObject('Domain', 'orphan', { relayPools: ['nowhere'] }));
    const domain = await until('RelayPoolNotFound', async () => {
      const current = await get(t.domains, 'orphan');
      return conditionOf(current, 'Ready')?.reason === 'RelayPoolNotFound' && current;
    });
    expect(String(conditionOf(domain, 'Ready')?.message)).toContain('"nowhere"');
    const warning = await until('Warning Event', async () =>
      (await events('orphan')).find(
        (e) => e.type === 'Warning' && e.reason === 'RelayPoolNotFound',
      ),
    );
    expect(String(warning.message)).toContain('create it or fix spec.relayPools');
  });

  it('accepts a valid BackupSchedule and says a bridge needs the Manager (no --manager-url)', async () => {
    await client.create(
      t.backupSchedules,
      groveObject('BackupSchedule', 'nightly', {
        domain: 'acme',
        schedule: '@daily',
        destination: { pvc: { claimName: 'archives' } },
        encryption: { passwordSecretRef: { name: 'backup-password', key: 'password' } },
      }),
    );
    // Started without --manager-url: it cannot enroll a bridge device, and says so.
    await until(
      'ManagerNotConfigured',
      async () =>
        conditionOf(await get(t.backupSchedules, 'nightly'), 'Ready')?.reason ===
        'ManagerNotConfigured',
    );
  });

  it('exposes controller-runtime metrics', async () => {
    const ok = await operator?.metric('controller_runtime_reconcile_total', {
      controller: 'relaypool',
      result: 'success',
    });
    expect(ok).toBeGreaterThan(0);
    expect(await operator?.metric('workqueue_depth', { name: 'relaypool' })).toBeDefined();
  });

  it('purges a deleted Domain’s data from its RelayPools’ Redis before letting it go', async () => {
    const url = redis?.url ?? '';
    await client.create(
      t.relayPools,
      groveObject('RelayPool', 'ext', { redis: { external: { url } } }),
    );
    await client.create(t.domains, groveObject('Domain', 'leaving', { relayPools: ['ext'] }));
    await until('finalizer on the Domain', async () =>
      (await get(t.domains, 'leaving'))?.metadata.finalizers?.includes(
        'grove.dev/purge-domain-data',
      ),
    );
    const commands = connectRedis({ url, cluster: false }, 'commands');
    try {
      for (const domain of ['leaving', 'staying']) {
        await commands.rpush(deviceKeys(domain, 'laptop').queue, 'm1');
        await commands.hset(directoryKeys(domain).devices, 'laptop', 'alice');
      }
      await client.delete(t.domains, ns, 'leaving');
      await until('Domain gone', async () => (await get(t.domains, 'leaving')) === undefined);
      expect(await commands.exists(deviceKeys('leaving', 'laptop').queue)).toBe(0);
      expect(await commands.exists(directoryKeys('leaving').devices)).toBe(0);
      expect(await commands.exists(deviceKeys('staying', 'laptop').queue)).toBe(1);
      expect(await commands.exists(directoryKeys('staying').devices)).toBe(1);
    } finally {
      commands.disconnect();
    }
    expect((await events('leaving')).map((e) => e.reason)).toContain('DataPurged');
  });

  it('keeps a Domain whose Redis cannot be reached, and says how to let it go', async () => {
    // main's built-in Redis is an in-cluster name: unreachable from this test machine.
    await client.create(t.domains, groveObject('Domain', 'stuck', { relayPools: ['main'] }));
    await until('finalizer on the Domain', async () =>
      (await get(t.domains, 'stuck'))?.metadata.finalizers?.includes('grove.dev/purge-domain-data'),
    );
    await client.delete(t.domains, ns, 'stuck');
    const warning = await until('PurgeFailed Event', async () =>
      (await events('stuck')).find((e) => e.reason === 'PurgeFailed'),
    );
    expect(String(warning.message)).toContain('remove the finalizer grove.dev/purge-domain-data');
    expect((await get(t.domains, 'stuck'))?.metadata.deletionTimestamp).toBeDefined();
    await client.patch(
      t.domains,
      ns,
      'stuck',
      { metadata: { finalizers: null } },
      { type: 'merge' },
    );
    await until('Domain gone', async () => (await get(t.domains, 'stuck')) === undefined);
  });

  it('leaves deletion to garbage collection through the owner references', async () => {
    await client.delete(t.relayPools, ns, 'main', { propagationPolicy: 'Background' });
    for (const [type, name] of [
      [t.deployments, 'main-relay'],
      [t.configMaps, 'main-relay-config'],
      [t.statefulSets, 'main-redis'],
      [t.secrets, 'main-redis-auth'],
    ] as const) {
      await until(
        `${type.kind} ${name} collected`,
        async () => (await get(type, name)) === undefined,
        30_000,
      );
    }
    await until(
      'Domain no longer Ready',
      async () =>
        conditionOf(await get(t.domains, 'acme'), 'Ready')?.reason === 'RelayPoolNotFound',
    );
  });
});
