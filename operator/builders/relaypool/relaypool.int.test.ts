import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { KubeApiServer } from '../../../test/support/kube-apiserver.js';
import { KubeClient } from '../../../kube/kube-client.js';
import type { KubeObject } from '../../../kube/kube-object.js';
import { FIELD_MANAGER } from '../labels.js';
import { goldenCases, makeInput } from './fixtures.js';
import {
  REPLICAS_HANDOVER_FIELD_MANAGER,
  buildRedisAuthSecret,
  buildRelayDeployment,
  buildRelayPoolChildren,
  buildRelayReplicasHandover,
} from './index.js';

// What the golden files cannot show: that a real API server accepts every child as the
// operator applies it (server-side apply, its field manager, force), stores it without
// rewriting a field we set (which would make every reconcile fight the server), and treats a
// second identical apply as a no-op.
describe('relay pool builders › against a real API server', () => {
  let started: KubeApiServer | undefined;
  let client: KubeClient;

  // The operator's own client: the JSON as built goes on the wire (client-node's object API
  // would re-serialize it through its models, which drop a NetworkPolicy rule's `from`).
  const apply = async (object: KubeObject, manager = FIELD_MANAGER): Promise<KubeObject> =>
    client.apply(object, { fieldManager: manager, force: true });

  beforeAll(async () => {
    started = await KubeApiServer.start();
    client = await KubeClient.fromKubeConfig({ kubeconfigPath: started.kubeconfigPath });
    for (const name of [...Object.keys(goldenCases), 'handover']) {
      await apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    }
  }, 120_000);

  afterAll(async () => {
    client.close();
    await started?.stop();
  });

  it.each(Object.keys(goldenCases))(
    'stores the children of %s as built, and re-applying them changes nothing',
    async (name) => {
      const testCase = goldenCases[name];
      if (testCase === undefined) throw new Error(name);
      // One namespace per case: every case names its pool "main".
      const pool = structuredClone(testCase.input.pool);
      pool.metadata.namespace = name;
      // A borrowed Redis is in the borrowing pool's namespace.
      const storePool =
        testCase.input.storePool === undefined
          ? undefined
          : structuredClone(testCase.input.storePool);
      if (storePool !== undefined) storePool.metadata.namespace = name;
      const input = { ...testCase.input, pool, ...(storePool === undefined ? {} : { storePool }) };
      const desired = buildRelayPoolChildren(input);
      if (testCase.redisPassword !== undefined) {
        desired.push(buildRedisAuthSecret(pool, testCase.redisPassword));
      }
      for (const object of desired) {
        const stored = await apply(object);
        // Subset match: the server adds defaults, but must keep every field we set as we set it.
        expect(stored).toMatchObject(object);
        const again = await apply(object);
        expect(again.metadata.resourceVersion).toBe(stored.metadata.resourceVersion);
      }
    },
  );

  it('keeps the replica count when autoscaling takes over, given the handover apply', async () => {
    const input = (name: string, autoscaling: boolean) => {
      const spec = autoscaling
        ? { replicas: 5, autoscaling: { minReplicas: 2, maxReplicas: 9 } }
        : { replicas: 5 };
      const built = makeInput({ ...spec, resources: { requests: { cpu: '100m' } } });
      built.pool.metadata.namespace = 'handover';
      built.pool.metadata.name = name;
      return built;
    };
    const replicas = (object: KubeObject) => (object.spec as { replicas?: number }).replicas;

    // Without the handover, server-side apply drops the field, and replicas falls back to 1.
    await apply(buildRelayDeployment(input('plain', false)));
    expect(replicas(await apply(buildRelayDeployment(input('plain', true))))).toBe(1);

    const before = await apply(buildRelayDeployment(input('handed', false)));
    expect(replicas(before)).toBe(5);
    await apply(
      buildRelayReplicasHandover(input('handed', true).pool, 5),
      REPLICAS_HANDOVER_FIELD_MANAGER,
    );
    expect(replicas(await apply(buildRelayDeployment(input('handed', true))))).toBe(5);
  });
});
