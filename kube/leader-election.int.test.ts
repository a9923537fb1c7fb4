// Leader election on a real coordination.k8s.io/v1 Lease, with short timings (lease 2 s).

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { KubeApiServer } from '../test/support/kube-apiserver.js';
import { sleep, waitFor } from '../test/support/ports.js';
import { KubeClient } from './kube-client.js';
import { LeaderElector, type LeaseObject } from './leader-election.js';
import { resourceTypes } from './resource-types.js';

const namespace = 'grove-leader';
const timings = { leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 250 } as const;

let started: KubeApiServer | undefined;
let client: KubeClient | undefined;
const api = (): KubeClient => {
  if (client === undefined) throw new Error('no client');
  return client;
};

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

interface Candidate {
  elector: LeaderElector;
  done: Promise<void>;
  /** Aborting it stops the elector without releasing: as if the process were killed. */
  kill: AbortController;
  startedAt: number | undefined;
  stoppedAt: number | undefined;
  leading: AbortSignal | undefined;
  leaders: string[];
}

function candidate(lease: string, identity: string): Candidate {
  const elector = new LeaderElector(api(), { namespace, name: lease, identity, ...timings });
  const kill = new AbortController();
  const self: Candidate = {
    elector,
    kill,
    done: Promise.resolve(),
    startedAt: undefined,
    stoppedAt: undefined,
    leading: undefined,
    leaders: [],
  };
  self.done = elector.run(
    {
      onStartedLeading: (signal) => {
        self.startedAt = Date.now();
        self.leading = signal;
      },
      onStoppedLeading: () => {
        self.stoppedAt = Date.now();
      },
      onNewLeader: (leader) => self.leaders.push(leader),
    },
    kill.signal,
  );
  return self;
}

async function lease(name: string): Promise<LeaseObject | undefined> {
  return api().get<LeaseObject>(resourceTypes.leases, namespace, name);
}

describe('leader election (real API server)', () => {
  it('lets exactly one of two electors lead, and records it in the Lease', async () => {
    const a = candidate('one-leader', 'a');
    const b = candidate('one-leader', 'b');
    await waitFor(() => a.elector.isLeader() || b.elector.isLeader(), 'a leader', 5000);
    for (let i = 0; i < 10; i += 1) {
      expect(Number(a.elector.isLeader()) + Number(b.elector.isLeader())).toBe(1);
      await sleep(100);
    }
    const [leader, follower] = a.elector.isLeader() ? [a, b] : [b, a];
    const spec = (await lease('one-leader'))?.spec;
    expect(spec).toMatchObject({
      holderIdentity: leader === a ? 'a' : 'b',
      leaseDurationSeconds: 2,
      leaseTransitions: 0,
    });
    expect(spec?.renewTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(follower.leaders).toEqual([leader === a ? 'a' : 'b']);
    expect(follower.startedAt).toBeUndefined();
    a.kill.abort();
    b.kill.abort();
    await Promise.all([a.done, b.done]);
  });

  it('lets the other take over once a killed leader’s lease expires, not before', async () => {
    const a = candidate('takeover', 'a');
    await waitFor(() => a.elector.isLeader(), 'a to lead', 5000);
    const b = candidate('takeover', 'b');
    await sleep(600);
    expect(b.elector.isLeader()).toBe(false);

    const killedAt = Date.now();
    a.kill.abort(); // no release: the lease still names a
    await a.done;
    expect(a.leading?.aborted).toBe(true);
    expect((await lease('takeover'))?.spec?.holderIdentity).toBe('a');

    await waitFor(() => b.elector.isLeader(), 'b to take over', 6000);
    const waited = Date.now() - killedAt;
    // b must wait out the lease duration from a's last renewal (at most a retry period ago).
    expect(waited).toBeGreaterThanOrEqual(timings.leaseDurationMs - timings.retryPeriodMs);
    expect(waited).toBeLessThan(timings.leaseDurationMs + 3 * timings.retryPeriodMs + 1000);
    expect((await lease('takeover'))?.spec).toMatchObject({
      holderIdentity: 'b',
      leaseTransitions: 1,
    });
    b.kill.abort();
    await b.done;
  });

  it('hands over at once when the leader releases the lease', async () => {
    const a = candidate('release', 'a');
    await waitFor(() => a.elector.isLeader(), 'a to lead', 5000);
    const b = candidate('release', 'b');
    await sleep(400);
    const releasedAt = Date.now();
    await a.elector.release();
    await a.done;
    expect(a.elector.isLeader()).toBe(false);
    expect(a.stoppedAt).toBeDefined();
    await waitFor(() => b.elector.isLeader(), 'b to take over', 3000);
    // Well before the 2 s lease would have expired.
    expect(Date.now() - releasedAt).toBeLessThan(1000);
    await b.elector.release();
    await b.done;
    expect((await lease('release'))?.spec).toMatchObject({
      holderIdentity: '',
      leaseTransitions: 1,
    });
  });
});
