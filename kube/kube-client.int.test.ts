// The client and the event recorder against a real kube-apiserver: CRUD, server-side apply
// (also to /status), the errors users will see, watches (normal end, dead connections).

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { KubeApiServer } from '../test/support/kube-apiserver.js';
import { freePort, waitFor } from '../test/support/ports.js';
import { EventRecorder, type EventObject } from './event-recorder.js';
import { KubeApiError, KubeClient, type WatchEvent } from './kube-client.js';
import type { KubeObject, ResourceType } from './kube-object.js';
import { resourceTypes } from './resource-types.js';
import { TcpProxy } from './testdata/tcp-proxy.js';

const namespace = 'grove-kube-client';
const crdType: ResourceType = {
  group: 'apiextensions.k8s.io',
  version: 'v1',
  kind: 'CustomResourceDefinition',
  plural: 'customresourcedefinitions',
  namespaced: false,
};
/** A tiny CRD with a status subresource, independent of Grove's evolving schemas. */
const widgets: ResourceType = {
  group: 'test.grove.dev',
  version: 'v1',
  kind: 'Widget',
  plural: 'widgets',
  namespaced: true,
};
const widgetCrd: KubeObject = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'widgets.test.grove.dev' },
  spec: {
    group: 'test.grove.dev',
    scope: 'Namespaced',
    names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        subresources: { status: {} },
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: { type: 'object', properties: { size: { type: 'integer' } } },
              status: {
                type: 'object',
                properties: {
                  ready: { type: 'boolean' },
                  observedGeneration: { type: 'integer' },
                },
              },
            },
          },
        },
      },
    ],
  },
};

let started: KubeApiServer | undefined;
let client: KubeClient | undefined;
const kube = (): KubeApiServer => {
  if (started === undefined) throw new Error('KubeApiServer did not start');
  return started;
};
const api = (): KubeClient => {
  if (client === undefined) throw new Error('no client');
  return client;
};

function configMap(name: string, data: Record<string, string> = {}, labels = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace, labels }, data };
}

/** The admin kubeconfig, pointed at another address (a proxy) with the same credentials. */
function kubeconfigVia(url: string, file: string): string {
  const text = readFileSync(kube().kubeconfigPath, 'utf8').replace(kube().url, url);
  const path = join(kube().dir, file);
  writeFileSync(path, text, { mode: 0o600 });
  return path;
}

async function rejection(promise: Promise<unknown>): Promise<KubeApiError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof KubeApiError) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
}

beforeAll(async () => {
  started = await KubeApiServer.start();
  client = await KubeClient.fromKubeConfig({ kubeconfigPath: started.kubeconfigPath });
  await api().create(resourceTypes.namespaces, {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: namespace },
  });
}, 60_000);

afterAll(async () => {
  client?.close();
  await started?.stop();
});

describe('kube client › CRUD', () => {
  it('creates, reads, replaces and deletes, with undefined/false for what is not there', async () => {
    const created = await api().create(resourceTypes.configMaps, configMap('crud', { a: '1' }));
    expect(created.metadata.uid).toBeDefined();
    const read = await api().get<KubeObject & { data?: Record<string, string> }>(
      resourceTypes.configMaps,
      namespace,
      'crud',
    );
    expect(read?.data).toEqual({ a: '1' });
    expect(read).toMatchObject({ apiVersion: 'v1', kind: 'ConfigMap' });
    if (read === undefined) throw new Error('unreachable');

    const replaced = await api().replace(resourceTypes.configMaps, { ...read, data: { a: '2' } });
    expect(replaced.metadata.resourceVersion).not.toBe(read.metadata.resourceVersion);

    // The stale resourceVersion loses: optimistic concurrency.
    const conflict = await rejection(
      api().replace(resourceTypes.configMaps, { ...read, data: { a: '3' } }),
    );
    expect(conflict).toMatchObject({ code: 409, reason: 'Conflict' });
    expect(conflict.message).toMatch(
      /^PUT \/api\/v1\/namespaces\/grove-kube-client\/configmaps\/crud: 409 Conflict: Operation cannot be fulfilled/,
    );

    const duplicate = await rejection(api().create(resourceTypes.configMaps, configMap('crud')));
    expect(duplicate).toMatchObject({ code: 409, reason: 'AlreadyExists' });

    // A uid precondition protects a re-created object of the same name.
    const wrongUid = await rejection(
      api().delete(resourceTypes.configMaps, namespace, 'crud', { uid: 'not-the-uid' }),
    );
    expect(wrongUid).toMatchObject({ code: 409, reason: 'Conflict' });
    expect(
      await api().delete(resourceTypes.configMaps, namespace, 'crud', {
        uid: created.metadata.uid ?? '',
        propagationPolicy: 'Background',
      }),
    ).toBe(true);
    expect(await api().delete(resourceTypes.configMaps, namespace, 'crud')).toBe(false);
    expect(await api().get(resourceTypes.configMaps, namespace, 'crud')).toBeUndefined();
  });

  it('lists across pages, filling in apiVersion and kind, and filters by label', async () => {
    for (let i = 0; i < 5; i += 1) {
      await api().create(
        resourceTypes.configMaps,
        configMap(`page-${i}`, {}, { 'test.grove.dev/set': i % 2 === 0 ? 'even' : 'odd' }),
      );
    }
    const all = await api().list(resourceTypes.configMaps, {
      namespace,
      labelSelector: 'test.grove.dev/set',
      limit: 2,
    });
    expect(all.items.map((item) => item.metadata.name).sort()).toEqual([
      'page-0',
      'page-1',
      'page-2',
      'page-3',
      'page-4',
    ]);
    expect(all.items.every((item) => item.apiVersion === 'v1' && item.kind === 'ConfigMap')).toBe(
      true,
    );
    expect(Number(all.resourceVersion)).toBeGreaterThan(0);
    const even = await api().list(resourceTypes.configMaps, {
      namespace,
      labelSelector: 'test.grove.dev/set=even',
    });
    expect(even.items).toHaveLength(3);
    const everywhere = await api().list(resourceTypes.configMaps, {
      labelSelector: 'test.grove.dev/set=odd',
    });
    expect(everywhere.items.map((item) => item.metadata.namespace)).toEqual([namespace, namespace]);
  });

  it('patches with merge and JSON patches', async () => {
    await api().create(resourceTypes.configMaps, configMap('patched', { a: '1', b: '2' }));
    const merged = await api().patch<KubeObject & { data: Record<string, string> }>(
      resourceTypes.configMaps,
      namespace,
      'patched',
      { data: { a: null, c: '3' } },
      { type: 'merge' },
    );
    expect(merged.data).toEqual({ b: '2', c: '3' });
    const jsonPatched = await api().patch<KubeObject & { data: Record<string, string> }>(
      resourceTypes.configMaps,
      namespace,
      'patched',
      [
        { op: 'test', path: '/data/b', value: '2' },
        { op: 'replace', path: '/data/b', value: '20' },
      ],
      { type: 'json' },
    );
    expect(jsonPatched.data).toEqual({ b: '20', c: '3' });
    const failedTest = await rejection(
      api().patch(
        resourceTypes.configMaps,
        namespace,
        'patched',
        [{ op: 'test', path: '/data/b', value: 'nope' }],
        { type: 'json' },
      ),
    );
    expect(failedTest.code).toBe(422);
  });
});

describe('kube client › server-side apply', () => {
  it('is idempotent: applying the same object twice changes nothing', async () => {
    const desired = configMap('applied', { key: 'value' }, { app: 'grove' });
    const first = await api().apply(desired, { fieldManager: 'grove-operator' });
    const second = await api().apply(desired, { fieldManager: 'grove-operator' });
    expect(second.metadata.resourceVersion).toBe(first.metadata.resourceVersion);
    expect(second).toMatchObject({
      data: { key: 'value' },
      metadata: { labels: { app: 'grove' } },
    });
  });

  it('removes fields the manager stops stating, and keeps other managers’ fields', async () => {
    await api().apply(configMap('owned', { a: '1', b: '2' }), { fieldManager: 'grove-operator' });
    await api().patch(
      resourceTypes.configMaps,
      namespace,
      'owned',
      { data: { human: 'edit' } },
      { type: 'merge', fieldManager: 'kubectl-edit' },
    );
    const after = await api().apply<KubeObject & { data: Record<string, string> }>(
      configMap('owned', { a: '1' }),
      { fieldManager: 'grove-operator' },
    );
    expect(after.data).toEqual({ a: '1', human: 'edit' });
  });

  it('reports a field-manager conflict without force, and takes the field with force', async () => {
    await api().apply(configMap('contested', { owner: 'alice' }), { fieldManager: 'alice' });
    const conflict = await rejection(
      api().apply(configMap('contested', { owner: 'bob' }), { fieldManager: 'bob', force: false }),
    );
    expect(conflict).toMatchObject({ code: 409, reason: 'Conflict' });
    expect(conflict.message).toMatch(
      /Apply failed with \d conflicts: conflicts with "alice":.*\.data\.owner/s,
    );
    const forced = await api().apply<KubeObject & { data: Record<string, string> }>(
      configMap('contested', { owner: 'bob' }),
      { fieldManager: 'bob' },
    );
    expect(forced.data.owner).toBe('bob');
  });

  it('applies to the /status subresource of a custom resource', async () => {
    await api().apply(widgetCrd, { fieldManager: 'grove-test', resourceType: crdType });
    await waitFor(
      async () => (await api().list(widgets, { namespace })).resourceVersion !== '',
      'the Widget CRD to be served',
      20_000,
      100,
    );
    const widget = (spec: Record<string, unknown>, status?: Record<string, unknown>) => ({
      apiVersion: 'test.grove.dev/v1',
      kind: 'Widget',
      metadata: { name: 'w', namespace },
      spec,
      ...(status !== undefined && { status }),
    });
    const created = await api().apply(widget({ size: 3 }), {
      fieldManager: 'grove-operator',
      resourceType: widgets,
    });
    const withStatus = await api().apply<KubeObject & { status?: unknown; spec?: unknown }>(
      widget({}, { ready: true, observedGeneration: created.metadata.generation }),
      { fieldManager: 'grove-operator', subresource: 'status', resourceType: widgets },
    );
    expect(withStatus.status).toEqual({ ready: true, observedGeneration: 1 });
    expect(withStatus.spec).toEqual({ size: 3 });
    expect(withStatus.metadata.generation).toBe(1);

    // Status on the main resource is ignored; spec applied again keeps the status.
    const again = await api().apply<KubeObject & { status?: unknown }>(
      widget({ size: 4 }, { ready: false }),
      { fieldManager: 'grove-operator', resourceType: widgets },
    );
    expect(again.status).toEqual({ ready: true, observedGeneration: 1 });

    const patched = await api().patch<KubeObject & { status?: unknown }>(
      widgets,
      namespace,
      'w',
      { status: { ready: false } },
      { type: 'merge', subresource: 'status' },
    );
    expect(patched.status).toEqual({ ready: false, observedGeneration: 1 });
  });

  it('refuses to guess the URL of a kind it does not know', async () => {
    await expect(
      api().apply(
        { apiVersion: 'example.com/v1', kind: 'Thing', metadata: { name: 'x', namespace } },
        { fieldManager: 'grove-operator' },
      ),
    ).rejects.toThrow(/unknown kind example.com\/v1 Thing/);
  });
});

describe('kube client › errors', () => {
  it('says what the API server rejected as invalid (422)', async () => {
    const invalid = await rejection(
      api().create(resourceTypes.configMaps, configMap('Not_A_Valid_Name')),
    );
    expect(invalid).toMatchObject({ code: 422, reason: 'Invalid' });
    expect(invalid.message).toMatch(
      /POST .*configmaps: 422 Invalid: ConfigMap "Not_A_Valid_Name" is invalid/,
    );
  });

  it('throws, not undefined, when the kind itself is unknown (CRD not installed)', async () => {
    const missing: ResourceType = { ...widgets, group: 'absent.grove.dev' };
    const error = await rejection(api().get(missing, namespace, 'x'));
    expect(error.code).toBe(404);
    expect(error.message).toMatch(
      /GET \/apis\/absent\.grove\.dev\/v1\/namespaces\/.*: 404 NotFound/,
    );
  });

  it('reports Forbidden with the API server’s explanation', async () => {
    const { pki } = kube();
    const nobody = new KubeClient({
      server: kube().url,
      tls: {
        ca: readFileSync(pki.caCert),
        cert: readFileSync(pki.adminCert),
        key: readFileSync(pki.adminKey),
      },
      credentials: () => Promise.resolve({ 'Impersonate-User': 'nobody' }),
    });
    try {
      const error = await rejection(nobody.list(resourceTypes.configMaps, { namespace }));
      expect(error).toMatchObject({ code: 403, reason: 'Forbidden' });
      expect(error.message).toMatch(/User "nobody" cannot list resource "configmaps"/);
    } finally {
      nobody.close();
    }
  });

  it('reports a refused connection as a network error (code 0)', async () => {
    const down = new KubeClient({ server: `https://127.0.0.1:${await freePort()}` });
    const error = await rejection(down.get(resourceTypes.configMaps, namespace, 'x'));
    expect(error).toMatchObject({ code: 0, reason: 'NetworkError' });
    expect(error.message).toMatch(
      /^GET \/api\/v1\/namespaces\/grove-kube-client\/configmaps\/x: network error: connect ECONNREFUSED/,
    );
    down.close();
  });

  it('gives up on a server that never answers after the request timeout', async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
    const address = silent.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    const stuck = new KubeClient({
      server: `https://127.0.0.1:${address.port}`,
      requestTimeoutMs: 300,
    });
    try {
      const started = Date.now();
      const error = await rejection(stuck.get(resourceTypes.configMaps, namespace, 'x'));
      expect(error).toMatchObject({ code: 0, reason: 'Timeout' });
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      stuck.close();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});

describe('kube client › watch', () => {
  it('streams changes from a resourceVersion and resolves when the server ends the stream', async () => {
    const { resourceVersion } = await api().list(resourceTypes.configMaps, { namespace });
    const events: WatchEvent[] = [];
    const abort = new AbortController();
    const started = Date.now();
    const watching = api().watch(
      resourceTypes.configMaps,
      { namespace, resourceVersion, timeoutSeconds: 2, signal: abort.signal },
      (event) => events.push(event),
    );
    await api().create(resourceTypes.configMaps, configMap('watched', { v: '1' }));
    await api().patch(
      resourceTypes.configMaps,
      namespace,
      'watched',
      { data: { v: '2' } },
      {
        type: 'merge',
      },
    );
    await api().delete(resourceTypes.configMaps, namespace, 'watched');
    await watching;
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
    const changes = events.filter((event) => event.type !== 'BOOKMARK');
    expect(changes.map((event) => `${event.type} ${event.object.metadata.name}`)).toEqual([
      'ADDED watched',
      'MODIFIED watched',
      'DELETED watched',
    ]);
    expect(changes[1]?.object).toMatchObject({ kind: 'ConfigMap', data: { v: '2' } });
  });

  it('resolves at once when its signal aborts', async () => {
    const abort = new AbortController();
    const watching = api().watch(
      resourceTypes.configMaps,
      { namespace, resourceVersion: '', timeoutSeconds: 60, signal: abort.signal },
      () => undefined,
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    const started = Date.now();
    abort.abort();
    await watching;
    expect(Date.now() - started).toBeLessThan(500);
  });

  it('rejects when a handler throws, with that error', async () => {
    await api().create(resourceTypes.configMaps, configMap('trigger'));
    await expect(
      api().watch(
        resourceTypes.configMaps,
        {
          namespace,
          resourceVersion: '0',
          timeoutSeconds: 10,
          signal: new AbortController().signal,
        },
        () => {
          throw new Error('handler failed');
        },
      ),
    ).rejects.toThrow('handler failed');
  });

  it('detects a dead connection (no bytes, no close) and rejects with IdleTimeout', async () => {
    const proxy = await TcpProxy.start('127.0.0.1', kube().port);
    const viaProxy = await KubeClient.fromKubeConfig({
      kubeconfigPath: kubeconfigVia(proxy.url, 'idle.kubeconfig'),
    });
    try {
      const { resourceVersion } = await viaProxy.list(resourceTypes.configMaps, { namespace });
      const watching = viaProxy.watch(
        resourceTypes.configMaps,
        {
          namespace,
          resourceVersion,
          timeoutSeconds: 60,
          idleTimeoutMs: 1000,
          signal: new AbortController().signal,
        },
        () => undefined,
      );
      await waitFor(() => proxy.openConnections > 0, 'the watch connection');
      proxy.freeze();
      const started = Date.now();
      const error = await rejection(watching);
      expect(error).toMatchObject({ code: 0, reason: 'IdleTimeout' });
      expect(error.message).toMatch(/no data for 1000 ms/);
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      viaProxy.close();
      await proxy.stop();
    }
  });

  it('rejects with a network error when the connection is cut mid-stream', async () => {
    const proxy = await TcpProxy.start('127.0.0.1', kube().port);
    const viaProxy = await KubeClient.fromKubeConfig({
      kubeconfigPath: kubeconfigVia(proxy.url, 'cut.kubeconfig'),
    });
    try {
      const watching = viaProxy.watch(
        resourceTypes.configMaps,
        {
          namespace,
          resourceVersion: '',
          timeoutSeconds: 60,
          signal: new AbortController().signal,
        },
        () => undefined,
      );
      await waitFor(() => proxy.openConnections > 0, 'the watch connection');
      await new Promise((resolve) => setTimeout(resolve, 200));
      proxy.refuse();
      const error = await rejection(watching);
      expect(error).toMatchObject({ code: 0, reason: 'NetworkError' });
    } finally {
      viaProxy.close();
      await proxy.stop();
    }
  });
});

describe('event recorder (real API server)', () => {
  it('creates an Event, then counts the repeat on it', async () => {
    const subject = await api().create(resourceTypes.configMaps, configMap('eventful'));
    let now = Date.parse('2026-01-01T10:00:00Z');
    const recorder = new EventRecorder(api(), {
      component: 'grove-operator',
      host: 'grove-operator-0',
      now: () => new Date(now),
    });
    recorder.record(subject, 'Warning', 'ApplyFailed', 'could not apply the StatefulSet');
    await recorder.flush();
    now += 30_000;
    recorder.record(subject, 'Warning', 'ApplyFailed', 'could not apply the StatefulSet');
    recorder.record(subject, 'Normal', 'Scaled', 'scaled to 3');
    await recorder.flush();

    const { items } = await api().list<EventObject>(resourceTypes.events, {
      namespace,
      fieldSelector: `involvedObject.uid=${subject.metadata.uid ?? ''}`,
    });
    const byReason = new Map(items.map((event) => [event.reason, event]));
    expect(items).toHaveLength(2);
    expect(byReason.get('ApplyFailed')).toMatchObject({
      type: 'Warning',
      message: 'could not apply the StatefulSet',
      count: 2,
      firstTimestamp: '2026-01-01T10:00:00Z',
      lastTimestamp: '2026-01-01T10:00:30Z',
      involvedObject: {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        name: 'eventful',
        namespace,
        uid: subject.metadata.uid,
      },
      source: { component: 'grove-operator', host: 'grove-operator-0' },
      reportingComponent: 'grove-operator',
      reportingInstance: 'grove-operator-0',
    });
    expect(byReason.get('Scaled')?.count).toBe(1);

    // A new recorder (an operator restart) keeps counting on the same Event.
    const restarted = new EventRecorder(api(), {
      component: 'grove-operator',
      host: 'grove-operator-1',
    });
    restarted.record(subject, 'Warning', 'ApplyFailed', 'could not apply the StatefulSet');
    await restarted.flush();
    const event = await api().get<EventObject>(
      resourceTypes.events,
      namespace,
      byReason.get('ApplyFailed')?.metadata.name ?? '',
    );
    expect(event?.count).toBe(3);
  });
});
