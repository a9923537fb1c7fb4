// Informers against a real kube-apiserver, including what client-node's informer does not
// survive: an API server restart, a connection cut while objects change, a dead connection.

import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loggerOf } from '../contracts/logger.js';
import { KubeApiServer } from '../test/support/kube-apiserver.js';
import { sleep, waitFor } from '../test/support/ports.js';
import { Informer, type InformerOptions } from './informer.js';
import { KubeClient } from './kube-client.js';
import type { KubeObject } from './kube-object.js';
import { resourceTypes } from './resource-types.js';
import { TcpProxy } from './testdata/tcp-proxy.js';

type ConfigMap = KubeObject & { data?: Record<string, string> };

let started: KubeApiServer | undefined;
let admin: KubeClient | undefined;
const cleanups: (() => Promise<void> | void)[] = [];

const kube = (): KubeApiServer => {
  if (started === undefined) throw new Error('KubeApiServer did not start');
  return started;
};
const api = (): KubeClient => {
  if (admin === undefined) throw new Error('no client');
  return admin;
};

beforeAll(async () => {
  started = await KubeApiServer.start();
  admin = await KubeClient.fromKubeConfig({ kubeconfigPath: started.kubeconfigPath });
}, 60_000);

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(async () => {
  admin?.close();
  await started?.stop();
});

let namespaceCount = 0;
async function freshNamespace(): Promise<string> {
  namespaceCount += 1;
  const name = `grove-informer-${namespaceCount}`;
  await api().create(resourceTypes.namespaces, {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name },
  });
  return name;
}

function configMap(namespace: string, name: string, data: Record<string, string> = {}): ConfigMap {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace }, data };
}

interface Observed {
  informer: Informer<ConfigMap>;
  events: string[];
  restarts: string[];
  logs: string[];
}

/** An informer on one namespace whose handlers record "add a", "update a v=2", "delete a". */
async function observe(client: KubeClient, options: InformerOptions): Promise<Observed> {
  const events: string[] = [];
  const restarts: string[] = [];
  const logs: string[] = [];
  const informer = new Informer<ConfigMap>(client, resourceTypes.configMaps, {
    backoff: { initialMs: 100, maxMs: 500 },
    log: loggerOf((level, msg, fields) => logs.push(`${level} ${msg} ${JSON.stringify(fields)}`)),
    onRestart: (reason) => restarts.push(reason),
    ...options,
  });
  const show = (object: ConfigMap): string =>
    Object.entries(object.data ?? {})
      .map(([key, value]) => ` ${key}=${value}`)
      .join('');
  informer.onAdd((object) => events.push(`add ${object.metadata.name}${show(object)}`));
  informer.onUpdate((object, old) => {
    // A resync re-delivers unchanged objects; only real changes matter here.
    if (object.metadata.resourceVersion !== old.metadata.resourceVersion) {
      events.push(`update ${object.metadata.name}${show(object)}`);
    }
  });
  informer.onDelete((object) => events.push(`delete ${object.metadata.name}`));
  informer.start();
  cleanups.push(() => informer.stop());
  await informer.waitForSync(AbortSignal.timeout(10_000));
  return { informer, events, restarts, logs };
}

async function seen(observed: Observed, event: string, timeoutMs = 10_000): Promise<void> {
  await waitFor(
    () => observed.events.includes(event),
    `informer event "${event}" (saw ${JSON.stringify(observed.events)}; logs ${JSON.stringify(observed.logs.slice(-5))})`,
    timeoutMs,
  );
}

/** A client that reaches the API server through a proxy the test can break. */
async function clientViaProxy(): Promise<{ client: KubeClient; proxy: TcpProxy }> {
  const proxy = await TcpProxy.start('127.0.0.1', kube().port);
  const path = join(kube().dir, `proxy-${proxy.port}.kubeconfig`);
  writeFileSync(path, readFileSync(kube().kubeconfigPath, 'utf8').replace(kube().url, proxy.url), {
    mode: 0o600,
  });
  const client = await KubeClient.fromKubeConfig({ kubeconfigPath: path });
  cleanups.push(async () => {
    client.close();
    await proxy.stop();
  });
  return { client, proxy };
}

describe('informer (real API server)', () => {
  it('sees add, update and delete, and keeps watching across quiet watches the server ends', async () => {
    const namespace = await freshNamespace();
    await api().create(resourceTypes.configMaps, configMap(namespace, 'before', { v: '1' }));
    const observed = await observe(api(), { namespace, watchTimeoutSeconds: 1 });
    expect(observed.events).toEqual(['add before v=1']);
    expect(observed.informer.get(namespace, 'before')?.data).toEqual({ v: '1' });

    await api().create(resourceTypes.configMaps, configMap(namespace, 'a', { v: '1' }));
    await seen(observed, 'add a v=1');
    // Quiet for three server-side watch timeouts: each ends normally and is resumed.
    await sleep(3200);
    await api().patch(
      resourceTypes.configMaps,
      namespace,
      'a',
      { data: { v: '2' } },
      {
        type: 'merge',
      },
    );
    await seen(observed, 'update a v=2');
    await api().delete(resourceTypes.configMaps, namespace, 'a');
    await seen(observed, 'delete a');
    expect(observed.informer.get(namespace, 'a')).toBeUndefined();
    expect(observed.informer.list(namespace).map((object) => object.metadata.name)).toEqual([
      'before',
    ]);
    expect(observed.restarts).toEqual([]);
    expect(observed.events).toEqual(['add before v=1', 'add a v=1', 'update a v=2', 'delete a']);
  });

  it('relists after a cut connection and emits delete for what vanished meanwhile', async () => {
    const namespace = await freshNamespace();
    for (const name of ['kept', 'changed', 'doomed']) {
      await api().create(resourceTypes.configMaps, configMap(namespace, name, { v: '1' }));
    }
    const { client, proxy } = await clientViaProxy();
    const observed = await observe(client, { namespace, watchTimeoutSeconds: 30 });
    expect(observed.events).toHaveLength(3);

    proxy.refuse();
    // The informer cannot see these: its watch is cut and its relists fail.
    await api().delete(resourceTypes.configMaps, namespace, 'doomed');
    await api().patch(
      resourceTypes.configMaps,
      namespace,
      'changed',
      { data: { v: '2' } },
      {
        type: 'merge',
      },
    );
    await api().create(resourceTypes.configMaps, configMap(namespace, 'born', { v: '1' }));
    await waitFor(() => observed.restarts.length >= 2, 'a failed relist', 5000);
    expect(observed.events).toHaveLength(3);

    proxy.forward();
    await seen(observed, 'delete doomed');
    await seen(observed, 'update changed v=2');
    await seen(observed, 'add born v=1');
    expect(observed.restarts.every((reason) => reason === 'error')).toBe(true);
    expect(observed.logs.some((line) => line.startsWith('warn list/watch failed'))).toBe(true);

    // And it watches again.
    await api().delete(resourceTypes.configMaps, namespace, 'kept');
    await seen(observed, 'delete kept');
  });

  it('notices a dead connection (no data, never closed) and recovers', async () => {
    const namespace = await freshNamespace();
    const { client, proxy } = await clientViaProxy();
    const observed = await observe(client, {
      namespace,
      watchTimeoutSeconds: 60,
      watchIdleTimeoutMs: 1500,
    });
    await waitFor(() => proxy.openConnections > 0, 'the watch connection');
    proxy.freeze();
    await api().create(resourceTypes.configMaps, configMap(namespace, 'unseen', { v: '1' }));
    await sleep(300);
    expect(observed.events).toEqual([]);
    proxy.forward();
    // The frozen watch stays frozen: only the idle timeout gets the informer out of it.
    await seen(observed, 'add unseen v=1', 6000);
    expect(observed.restarts).toContain('error');
    expect(
      observed.logs.some((line) => line.includes('IdleTimeout') || line.includes('no data for')),
    ).toBe(true);
  });

  it('survives an API server restart: sees a delete made right after it, and later changes', async () => {
    const namespace = await freshNamespace();
    for (const name of ['survivor', 'doomed']) {
      await api().create(resourceTypes.configMaps, configMap(namespace, name, { v: '1' }));
    }
    const observed = await observe(api(), {
      namespace,
      watchTimeoutSeconds: 30,
      backoff: { initialMs: 200, maxMs: 1000 },
    });
    expect(observed.events).toHaveLength(2);

    await kube().restartApiServer({ graceMs: 1000 });
    // At once after the restart, most likely before the informer has relisted.
    await api().delete(resourceTypes.configMaps, namespace, 'doomed');
    await seen(observed, 'delete doomed', 15_000);
    expect(observed.restarts.length).toBeGreaterThanOrEqual(1);

    await api().patch(
      resourceTypes.configMaps,
      namespace,
      'survivor',
      { data: { v: '2' } },
      {
        type: 'merge',
      },
    );
    await seen(observed, 'update survivor v=2');
    await api().create(resourceTypes.configMaps, configMap(namespace, 'newcomer'));
    await seen(observed, 'add newcomer');
    expect(
      observed.informer
        .list(namespace)
        .map((object) => object.metadata.name)
        .sort(),
    ).toEqual(['newcomer', 'survivor']);
  }, 60_000);

  it('stops at once, even while its watch is being opened, and emits nothing after', async () => {
    const namespace = await freshNamespace();
    const observed = await observe(api(), { namespace, watchTimeoutSeconds: 30 });
    // At once after the sync: the watch is just being opened, and must still end at once.
    const stopping = Date.now();
    await observed.informer.stop();
    expect(Date.now() - stopping).toBeLessThan(1000);
    await api().create(resourceTypes.configMaps, configMap(namespace, 'late'));
    await sleep(500);
    expect(observed.events).toEqual([]);
  });
});
