/**
 * Scenario 1: `helm install --wait` of charts/grove with default values but the image under
 * test (and a NodePort Service for the Manager, so the host reaches it) completes before any
 * RelayPool exists. The operators elect one leader, the Manager is Ready (degraded, saying why
 * until its pool's Redis exists), and the release passes a check of what it installed (the
 * chart has no `helm test` hooks: the suite checks the same from outside).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { managerUrl } from '../support/access.js';
import { e2eEnv } from '../support/env.js';
import {
  POOL,
  adminToken,
  installRelease,
  removeEarlierRun,
  waitManagerReady,
} from '../support/grove.js';
import { getObject, helm, listObjects, mustGet, podProxyGet, waitFor } from '../support/kube.js';
import { reportFigures, since } from '../support/report.js';

const env = e2eEnv();
const figures: Record<string, unknown> = {};

/** Lines of a Prometheus text exposition whose metric name is `name`. */
function metric(text: string, name: string): number[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .map((line) => Number(line.split(' ').at(-1)));
}

describe('helm install of charts/grove', () => {
  beforeAll(async () => {
    figures.removedEarlierRun = await removeEarlierRun();
  });
  afterAll(() => reportFigures('install', figures));

  test('with default values completes with --wait, before any RelayPool exists', async () => {
    const started = performance.now();
    await installRelease();
    figures.installWaitMs = since(started);
    expect(await getObject('relaypool', POOL)).toBeUndefined();
  });

  test('the release is deployed and its workloads are available', async () => {
    await waitManagerReady();
    const status = JSON.parse(
      await helm(['status', env.release, '-n', env.namespace, '-o', 'json']),
    ) as { info: { status: string }; version: number };
    expect(status.info.status).toBe('deployed');
    const operator = await mustGet('deployment', `${env.release}-operator`);
    const want = (operator.spec as { replicas: number }).replicas;
    expect(want).toBe(2);
    await waitFor('both operator pods available', async () => {
      const d = await mustGet('deployment', `${env.release}-operator`);
      return (d.status as { availableReplicas?: number }).availableReplicas === want
        ? true
        : undefined;
    });
    for (const kind of ['relaypools', 'domains', 'policies', 'backupschedules']) {
      const crd = await mustGet('crd', `${kind}.grove.dev`, 'default');
      const conditions = (crd.status?.conditions ?? []) as { type: string; status: string }[];
      expect(conditions.find((c) => c.type === 'Established')?.status).toBe('True');
    }
  });

  test('exactly one operator leads: the Lease names it and only it reports leadership', async () => {
    const pods = (
      await listObjects('pods', {
        selector: `app.kubernetes.io/instance=${env.release},app.kubernetes.io/component=operator`,
      })
    ).filter((p) => p.metadata.deletionTimestamp === undefined);
    expect(pods).toHaveLength(2);
    const holder = await waitFor('the operator Lease to have a holder', async () => {
      const lease = await getObject('lease', `${env.release}-operator`);
      const identity = (lease?.spec as { holderIdentity?: string } | undefined)?.holderIdentity;
      return identity === undefined || identity === '' ? undefined : identity;
    });
    expect(pods.map((p) => p.metadata.name)).toContain(holder);
    const leadership: Record<string, number> = {};
    for (const pod of pods) {
      await waitFor(`operator ${pod.metadata.name} /readyz`, async () =>
        (await podProxyGet(pod.metadata.name, 8081, '/readyz')) === 'ok' ? true : undefined,
      );
      const metrics = await podProxyGet(pod.metadata.name, 8080, '/metrics');
      leadership[pod.metadata.name] = metric(metrics, 'leader_election_master_status').reduce(
        (a, b) => a + b,
        0,
      );
    }
    expect(leadership[holder]).toBe(1);
    expect(Object.values(leadership).reduce((a, b) => a + b, 0)).toBe(1);
    figures.operatorLeader = holder;
  });

  test('the Manager answers through its Service, degraded until its RelayPool exists', async () => {
    const url = await managerUrl();
    const degraded = await waitFor('the Manager through its Service', async () => {
      const response = await fetch(`${url}/readyz?degraded=ok`, {
        signal: AbortSignal.timeout(3000),
      });
      return response.ok
        ? ((await response.json()) as { status?: string; error?: { code?: string } })
        : undefined;
    });
    expect(degraded).toMatchObject({ status: 'degraded', error: { code: 'STORAGE_UNAVAILABLE' } });
    expect((await fetch(`${url}/readyz`)).status).toBe(503);
    const whoami = await fetch(`${url}/v1/admin/whoami`, {
      headers: { authorization: `Bearer ${await adminToken()}` },
    });
    expect(whoami.status).toBe(503);
    const body = (await whoami.json()) as { error?: { code?: string; message?: string } };
    expect(body.error?.code).toBe('STORAGE_UNAVAILABLE');
    expect((await fetch(`${url}/`)).status).toBe(200);
    figures.managerUrl = url;
    figures.managerBeforePool = body.error?.message;
  });
});
