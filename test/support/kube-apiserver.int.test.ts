/* eslint-disable @typescript-eslint/no-unsafe-class-instance-assignment --
 * @kubernetes/client-node declares its API models (V1ConfigMap, V1ObjectMeta, …) as classes,
 * but they are plain data: its serializer accepts, and its docs pass, object literals. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ApiException, CoreV1Api, KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import { KubeApiServer } from './kube-apiserver.js';
import { waitFor } from './ports.js';

/** True when the API server answers 404 for the object (ApiException, as client-node throws). */
async function isGone(read: () => Promise<unknown>): Promise<boolean> {
  try {
    await read();
    return false;
  } catch (error) {
    if (error instanceof ApiException && error.code === 404) return true;
    throw error;
  }
}

describe('KubeApiServer (etcd + kube-apiserver + kube-controller-manager)', () => {
  // Undefined when start() failed; afterAll must not throw over that.
  let started: KubeApiServer | undefined;
  let core: CoreV1Api;
  const kube = (): KubeApiServer => {
    if (started === undefined) throw new Error('KubeApiServer did not start');
    return started;
  };
  const namespace = 'grove-harness';

  beforeAll(async () => {
    started = await KubeApiServer.start({ controllerManager: true });
    const config = new KubeConfig();
    config.loadFromFile(started.kubeconfigPath);
    core = config.makeApiClient(CoreV1Api);
  }, 120_000);

  afterAll(async () => {
    await started?.stop();
  });

  it('serves the admin user over TLS with RBAC on', async () => {
    expect(kube().url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(await kube().adminGetStatus('/readyz')).toBe(200);
    // The admin is in system:masters, so it may read cluster-scoped objects.
    const namespaces = await core.listNamespace();
    expect(namespaces.items.map((item) => item.metadata?.name)).toContain('default');
  });

  it('creates a namespace and a ConfigMap and reads them back', async () => {
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: 'settings' }, data: { mode: 'relay' } },
    });
    const read = await core.readNamespacedConfigMap({ namespace, name: 'settings' });
    expect(read.data).toEqual({ mode: 'relay' });
    const ns = await core.readNamespace({ name: namespace });
    expect(ns.status?.phase).toBe('Active');
  });

  it('garbage-collects a dependent after its owner is deleted (controller manager runs)', async () => {
    const owner: V1ConfigMap = await core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: 'owner' }, data: { role: 'owner' } },
    });
    const uid = owner.metadata?.uid;
    expect(uid).toBeDefined();
    await core.createNamespacedConfigMap({
      namespace,
      body: {
        metadata: {
          name: 'dependent',
          ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: uid ?? '' }],
        },
        data: { role: 'dependent' },
      },
    });
    await core.deleteNamespacedConfigMap({ namespace, name: 'owner' });
    await waitFor(
      () => isGone(() => core.readNamespacedConfigMap({ namespace, name: 'dependent' })),
      'the garbage collector to delete the dependent ConfigMap',
      60_000,
      250,
    );
  }, 90_000);

  it('keeps its data and port across an API server restart', async () => {
    const port = kube().port;
    await kube().restartApiServer();
    expect(kube().port).toBe(port);
    // The same client (same kubeconfig, same certificates) works again without reloading.
    const read = await core.readNamespacedConfigMap({ namespace, name: 'settings' });
    expect(read.data).toEqual({ mode: 'relay' });
    await core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: 'after-restart' }, data: { ok: 'yes' } },
    });
  }, 120_000);

  it('deletes a namespace with its contents (namespace controller runs)', async () => {
    await core.deleteNamespace({ name: namespace });
    await waitFor(
      () => isGone(() => core.readNamespace({ name: namespace })),
      'the namespace controller to finish deleting the namespace',
      60_000,
      250,
    );
  }, 90_000);
});
