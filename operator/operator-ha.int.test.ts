// Two operator processes on one Lease, and an API-server restart under a running operator.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { KubeApiServer } from '../test/support/kube-apiserver.js';
import { createNamespace, installGroveCrds } from '../test/support/grove-crds.js';
import { OperatorProcess } from '../test/support/operator-process.js';
import { waitFor } from '../test/support/ports.js';
import { KubeClient } from '../kube/kube-client.js';
import type { KubeObject } from '../kube/kube-object.js';
import { resourceTypes as t } from '../kube/resource-types.js';

const ns = 'grove-ha';
const lease = { leaseDuration: 4, renewDeadline: 3, retryPeriod: 0.5 };
let kube: KubeApiServer | undefined;
let client: KubeClient;
const operators: OperatorProcess[] = [];

function pool(name: string): KubeObject {
  return {
    apiVersion: 'grove.dev/v1alpha1',
    kind: 'RelayPool',
    metadata: { name, namespace: ns },
    spec: { replicas: 1, redis: { external: { url: 'redis://redis.example:6379' } } },
  };
}

const holder = async (): Promise<string | undefined> => {
  const current = await client.get(t.leases, 'default', 'grove-operator');
  const spec = current?.spec as { holderIdentity?: string } | undefined;
  return spec?.holderIdentity === '' ? undefined : spec?.holderIdentity;
};

async function leaders(): Promise<OperatorProcess[]> {
  const flags = await Promise.all(
    operators.map(async (operator) =>
      operator.running ? await operator.metric('leader_election_master_status') : undefined,
    ),
  );
  return operators.filter((_, i) => flags[i] === 1);
}

beforeAll(async () => {
  kube = await KubeApiServer.start();
  client = await KubeClient.fromKubeConfig({ kubeconfigPath: kube.kubeconfigPath });
  await installGroveCrds(client);
  await createNamespace(client, ns);
}, 120_000);

afterAll(async () => {
  await Promise.all(operators.map((operator) => operator.stop()));
  client.close();
  await kube?.stop();
});

describe('operator › high availability', () => {
  it('elects exactly one leader of two; the standby is ready but does not reconcile', async () => {
    const { kubeconfigPath } = kube ?? { kubeconfigPath: '' };
    operators.push(
      await OperatorProcess.start({ kubeconfigPath, leaderElect: lease }),
      await OperatorProcess.start({ kubeconfigPath, leaderElect: lease }),
    );
    await Promise.all(operators.map((operator) => operator.waitReady()));
    await waitFor(async () => (await leaders()).length === 1, 'one leader', 20_000);
    // Stays at one: the standby keeps losing the race for a held Lease.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(await leaders()).toHaveLength(1);
    expect(await holder()).toBeDefined();
    await client.create(t.relayPools, pool('first'));
    await waitFor(() => client.get(t.deployments, ns, 'first-relay'), 'first-relay', 20_000);
    const standby = operators.find(
      (operator) => !operator.lines.some((l) => l.includes('became the leader')),
    );
    expect(standby).toBeDefined();
    // Its series exist (at 0) from the start; a standby never reconciles.
    expect(
      await standby?.metric('controller_runtime_reconcile_total', {
        controller: 'relaypool',
        result: 'success',
      }),
    ).toBe(0);
  });

  it('hands over to the standby when the leader is killed', async () => {
    const [leader] = await leaders();
    if (leader === undefined) throw new Error('no leader');
    const before = await holder();
    leader.kill('SIGKILL');
    await leader.waitExit();
    const started = Date.now();
    await waitFor(
      async () => {
        const current = await holder();
        return current !== undefined && current !== before && (await leaders()).length === 1;
      },
      'the standby to take the Lease',
      20_000,
      100,
    );
    const takeoverMs = Date.now() - started;
    // At most one lease duration after the last renewal, plus a retry period.
    expect(takeoverMs).toBeLessThan((lease.leaseDuration + 2) * 1000);
    await client.create(t.relayPools, pool('second'));
    await waitFor(
      () => client.get(t.deployments, ns, 'second-relay'),
      'second-relay by the new leader',
      20_000,
    );
  });

  it('releases the Lease on SIGTERM so a successor takes over at once', async () => {
    const [leader] = await leaders();
    if (leader === undefined || kube === undefined) throw new Error('no leader');
    operators.push(
      await OperatorProcess.start({ kubeconfigPath: kube.kubeconfigPath, leaderElect: lease }),
    );
    await operators.at(-1)?.waitReady();
    const stopped = Date.now();
    await leader.stop();
    await waitFor(
      async () => (await leaders()).length === 1 && !leader.running,
      'successor',
      10_000,
      100,
    );
    expect(Date.now() - stopped).toBeLessThan(lease.leaseDuration * 1000 + 3000);
  }, 60_000);
  it('recovers from an API-server restart and converges on what changed meanwhile', async () => {
    if (kube === undefined) throw new Error('no API server');
    // A restart outlasts any renew deadline short enough for fast takeovers: a leader then
    // exits by design (it cannot prove it still leads). Informer recovery is shown by an
    // operator that does not depend on the Lease.
    await Promise.all(operators.map((operator) => operator.stop()));
    const operator = await OperatorProcess.start({ kubeconfigPath: kube.kubeconfigPath });
    operators.push(operator);
    await operator.waitReady();
    await waitFor(() => client.get(t.deployments, ns, 'second-relay'), 'second-relay', 20_000);
    await kube.restartApiServer({ graceMs: 2000 });
    // Changes right after the restart: the informers must relist and watch again by themselves.
    await waitFor(
      async () => (await client.create(t.relayPools, pool('third'))).metadata.uid,
      'create third',
      20_000,
      500,
    );
    await client.delete(t.deployments, ns, 'second-relay');
    await waitFor(
      () => client.get(t.deployments, ns, 'third-relay'),
      'third-relay after restart',
      60_000,
      200,
    );
    await waitFor(
      () => client.get(t.deployments, ns, 'second-relay'),
      'second-relay recreated after restart',
      60_000,
      200,
    );
    expect(await operator.metric('grove_operator_informer_restarts_total')).toBeGreaterThan(0);
    expect(operator.running).toBe(true);
  }, 120_000);

  it('a leader that cannot renew its Lease exits rather than reconcile beside a successor', async () => {
    if (kube === undefined) throw new Error('no API server');
    await Promise.all(operators.map((operator) => operator.stop()));
    const leader = await OperatorProcess.start({
      kubeconfigPath: kube.kubeconfigPath,
      leaderElect: lease,
    });
    operators.push(leader);
    await leader.waitReady();
    await waitFor(
      async () => (await leader.metric('leader_election_master_status')) === 1,
      'leadership',
      20_000,
    );
    // Down longer than the renew deadline (3 s): the leader can no longer prove it leads.
    await kube.restartApiServer({ graceMs: 1000, downMs: 4000 });
    expect(await leader.waitExit(20_000)).toBe(1);
    expect(leader.lines.some((line) => line.includes('lost the leader lease'))).toBe(true);
  }, 60_000);
});
