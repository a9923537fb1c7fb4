/**
 * Scenario 5 (issue 8's sixth): the operator's leader is deleted, then killed, then every
 * operator pod restarted, each time while the RelayPool is being scaled: a standby takes the
 * Lease over and the pool converges to the replicas asked for last.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { e2eEnv } from '../support/env.js';
import { scalePool } from '../support/faults.js';
import { POOL, ensureGrove, waitPoolSettled } from '../support/grove.js';
import { getObject, kubectl, listObjects, mustGet, podProxyGet, waitFor } from '../support/kube.js';
import { reportFigures, since } from '../support/report.js';

const env = e2eEnv();
const figures: Record<string, unknown> = {};
const leaders: string[] = [];

async function leaseHolder(): Promise<string | undefined> {
  const lease = await getObject('lease', `${env.release}-operator`);
  const holder = (lease?.spec as { holderIdentity?: string } | undefined)?.holderIdentity;
  return holder === '' ? undefined : holder;
}

async function operatorPods(): Promise<string[]> {
  const pods = await listObjects('pods', {
    selector: `app.kubernetes.io/instance=${env.release},app.kubernetes.io/component=operator`,
  });
  return pods.filter((p) => p.metadata.deletionTimestamp === undefined).map((p) => p.metadata.name);
}

/** Waits for a holder of the Lease that is none of `previous`, and a running operator pod. */
async function newLeader(previous: string[]): Promise<string> {
  return waitFor(
    `a new operator leader (not ${previous.join(', ')})`,
    async () => {
      const holder = await leaseHolder();
      if (holder === undefined || previous.includes(holder)) return undefined;
      return (await operatorPods()).includes(holder) ? holder : undefined;
    },
    { timeoutMs: 90_000, intervalMs: 250 },
  );
}

/** Exactly one running operator pod reports leadership in its metrics. */
async function expectOneLeader(holder: string): Promise<void> {
  await waitFor('exactly one operator reporting leadership', async () => {
    const pods = await operatorPods();
    let leading = 0;
    for (const pod of pods) {
      const metrics = await podProxyGet(pod, 8080, '/metrics');
      if (/^leader_election_master_status\{[^}]*\} 1$/m.test(metrics)) {
        leading++;
        if (pod !== holder) return undefined;
      }
    }
    return leading === 1 ? true : undefined;
  });
}

/** The pool converged: RelayPool status and Deployment at `replicas`, all ready, Ready. */
async function converged(replicas: number): Promise<void> {
  const pool = await waitPoolSettled(replicas);
  const status = pool.status as { observedGeneration?: number };
  expect(status.observedGeneration).toBe(pool.metadata.generation);
  const deployment = await mustGet('deployment', `${POOL}-relay`);
  expect((deployment.spec as { replicas: number }).replicas).toBe(replicas);
}

beforeAll(async () => {
  await ensureGrove();
  const pool = await mustGet('relaypool', POOL);
  await waitPoolSettled((pool.spec as { replicas: number }).replicas);
  const holder = await waitFor('an operator leader', leaseHolder);
  leaders.push(holder);
});

afterAll(() => {
  reportFigures('operator-failover', { ...figures, leaders });
});

describe('operator failover while a RelayPool is being scaled', () => {
  test('the leader deleted while scaling to 4: the standby takes over at once, the pool converges', async () => {
    const started = performance.now();
    await scalePool(4);
    await kubectl(['-n', env.namespace, 'delete', 'pod', leaders.at(-1) ?? '', '--wait=false']);
    leaders.push(await newLeader(leaders));
    figures.gracefulTakeoverMs = since(started);
    await converged(4);
    figures.convergedTo4Ms = since(started);
    await expectOneLeader(leaders.at(-1) ?? '');
  });

  test('the leader force-killed while scaling to 3: a standby takes over once its Lease expires', async () => {
    const started = performance.now();
    await scalePool(3);
    await kubectl([
      '-n',
      env.namespace,
      'delete',
      'pod',
      leaders.at(-1) ?? '',
      '--grace-period=0',
      '--force',
      '--wait=false',
    ]);
    leaders.push(await newLeader(leaders));
    figures.forcedTakeoverMs = since(started);
    await converged(3);
    figures.convergedTo3Ms = since(started);
    await expectOneLeader(leaders.at(-1) ?? '');
  });

  test('every operator pod restarted while scaling to 2: the pool converges', async () => {
    const before = await operatorPods();
    const started = performance.now();
    await scalePool(2);
    await kubectl([
      '-n',
      env.namespace,
      'rollout',
      'restart',
      `deployment/${env.release}-operator`,
    ]);
    await kubectl(
      [
        '-n',
        env.namespace,
        'rollout',
        'status',
        `deployment/${env.release}-operator`,
        '--timeout=180s',
      ],
      { timeoutMs: 200_000 },
    );
    const after = await waitFor('only restarted operator pods', async () => {
      const pods = await operatorPods();
      return pods.length === 2 && pods.every((p) => !before.includes(p)) ? pods : undefined;
    });
    leaders.push(await newLeader([...leaders, ...before]));
    expect(after).toContain(leaders.at(-1));
    await converged(2);
    figures.restartConvergedTo2Ms = since(started);
    await expectOneLeader(leaders.at(-1) ?? '');
  });
});
