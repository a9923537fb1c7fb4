import { describe, expect, it } from '@jest/globals';
import { KubeApiError, type CallOptions } from './kube-client.js';
import type { KubeObject, ResourceType } from './kube-object.js';
import {
  decideLease,
  LeaderElector,
  leaseRecordOf,
  microTime,
  type LeaseClient,
  type LeaseObject,
  type LeaseRecord,
} from './leader-election.js';

const t0 = Date.parse('2026-01-01T00:00:00.000Z');
const at = (ms: number): string => microTime(t0 + ms);

function record(holder: string, overrides: Partial<LeaseRecord> = {}): LeaseRecord {
  return {
    holderIdentity: holder,
    leaseDurationSeconds: 15,
    acquireTime: at(0),
    renewTime: at(0),
    leaseTransitions: 3,
    ...overrides,
  };
}

describe('leader election › decision', () => {
  const base = { identity: 'me', leaseDurationSeconds: 15 };

  it('creates the lease when there is none', () => {
    expect(
      decideLease({ ...base, current: undefined, observed: undefined, nowMs: t0, nowTime: at(0) }),
    ).toEqual({
      action: 'create',
      record: {
        holderIdentity: 'me',
        leaseDurationSeconds: 15,
        acquireTime: at(0),
        renewTime: at(0),
        leaseTransitions: 0,
      },
    });
  });

  it('waits while another holder’s lease runs, counted from when we first saw its record', () => {
    const theirs = record('other');
    const first = decideLease({
      ...base,
      current: theirs,
      observed: undefined,
      nowMs: t0 + 5000,
      nowTime: at(5000),
    });
    expect(first).toMatchObject({ action: 'wait', holder: 'other', expiresAtMs: t0 + 20_000 });
    if (first.action !== 'wait') throw new Error('unreachable');
    // Same record 14.999 s after we first saw it: still theirs, whatever its renewTime says.
    const later = decideLease({
      ...base,
      current: theirs,
      observed: first.observed,
      nowMs: t0 + 19_999,
      nowTime: at(19_999),
    });
    expect(later).toMatchObject({ action: 'wait', expiresAtMs: t0 + 20_000 });
  });

  it('restarts the count when the holder renews (the record changes)', () => {
    const observed = { record: record('other'), atMs: t0 };
    const renewed = record('other', { renewTime: at(10_000) });
    expect(
      decideLease({ ...base, current: renewed, observed, nowMs: t0 + 16_000, nowTime: at(16_000) }),
    ).toMatchObject({ action: 'wait', expiresAtMs: t0 + 31_000 });
  });

  it('ignores the holder’s clock: a renewTime far in the past does not make the lease expired', () => {
    const skewed = record('other', { renewTime: '2000-01-01T00:00:00.000000Z' });
    expect(
      decideLease({ ...base, current: skewed, observed: undefined, nowMs: t0, nowTime: at(0) }),
    ).toMatchObject({ action: 'wait' });
  });

  it('takes over an expired lease as a new transition', () => {
    const observed = { record: record('other'), atMs: t0 };
    expect(
      decideLease({
        ...base,
        current: record('other'),
        observed,
        nowMs: t0 + 15_000,
        nowTime: at(15_000),
      }),
    ).toMatchObject({
      action: 'update',
      record: {
        holderIdentity: 'me',
        acquireTime: at(15_000),
        renewTime: at(15_000),
        leaseTransitions: 4,
      },
    });
  });

  it('takes a released lease (empty holder) at once', () => {
    expect(
      decideLease({
        ...base,
        current: record('', { leaseDurationSeconds: 1 }),
        observed: undefined,
        nowMs: t0,
        nowTime: at(0),
      }),
    ).toMatchObject({
      action: 'update',
      record: { holderIdentity: 'me', leaseDurationSeconds: 15, leaseTransitions: 4 },
    });
  });

  it('renews its own lease keeping acquireTime and the transition count', () => {
    const mine = record('me', { acquireTime: at(-60_000) });
    expect(
      decideLease({ ...base, current: mine, observed: undefined, nowMs: t0, nowTime: at(2000) }),
    ).toMatchObject({
      action: 'update',
      record: { acquireTime: at(-60_000), renewTime: at(2000), leaseTransitions: 3 },
    });
  });

  it('writes MicroTime with six fractional digits', () => {
    expect(microTime(Date.parse('2026-03-04T05:06:07.891Z'))).toBe('2026-03-04T05:06:07.891000Z');
  });

  it('reads a Lease the API returned with fields left out', () => {
    expect(
      leaseRecordOf({
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: 'l' },
        spec: {},
      }),
    ).toEqual({ holderIdentity: '', leaseDurationSeconds: 0, leaseTransitions: 0 });
  });
});

/** One Lease in memory with resourceVersion checks, as the API server does them. */
class LeaseStore {
  lease: LeaseObject | undefined;
  private version = 0;

  get(): LeaseObject | undefined {
    return this.lease === undefined ? undefined : structuredClone(this.lease);
  }

  create(object: LeaseObject): LeaseObject {
    if (this.lease !== undefined) throw new KubeApiError('exists', 409, 'AlreadyExists');
    return this.save(object);
  }

  replace(object: LeaseObject): LeaseObject {
    if (this.lease?.metadata.resourceVersion !== object.metadata.resourceVersion) {
      throw new KubeApiError('conflict', 409, 'Conflict');
    }
    return this.save(object);
  }

  private save(object: LeaseObject): LeaseObject {
    this.version += 1;
    this.lease = structuredClone({
      ...object,
      metadata: { ...object.metadata, resourceVersion: String(this.version) },
    });
    return structuredClone(this.lease);
  }
}

/** A client of the store that can be cut off: calls then hang until their deadline. */
class PartitionableClient implements LeaseClient {
  partitioned = false;

  constructor(private readonly store: LeaseStore) {}

  get<T extends KubeObject>(
    _type: ResourceType,
    _namespace: string | undefined,
    _name: string,
    options?: CallOptions,
  ): Promise<T | undefined> {
    return this.call(options, () => this.store.get() as T | undefined);
  }

  create<T extends KubeObject>(
    _type: ResourceType,
    object: KubeObject,
    options?: CallOptions,
  ): Promise<T> {
    return this.call(options, () => this.store.create(object) as T);
  }

  replace<T extends KubeObject>(
    _type: ResourceType,
    object: KubeObject,
    options?: CallOptions,
  ): Promise<T> {
    return this.call(options, () => this.store.replace(object) as T);
  }

  private call<R>(options: CallOptions | undefined, act: () => R): Promise<R> {
    if (!this.partitioned) {
      return new Promise((resolve) => resolve(act()));
    }
    return new Promise((_resolve, reject) => {
      const fail = (): void => reject(new KubeApiError('timed out', 0, 'Timeout'));
      setTimeout(fail, options?.timeoutMs ?? 30_000);
      options?.signal?.addEventListener('abort', fail, { once: true });
    });
  }
}

interface Timeline {
  events: { who: string; what: 'start' | 'stop'; at: number }[];
}

function elector(
  client: LeaseClient,
  identity: string,
  timeline: Timeline,
  timings: { leaseDurationMs: number; renewDeadlineMs: number; retryPeriodMs: number } = {
    leaseDurationMs: 1000,
    renewDeadlineMs: 600,
    retryPeriodMs: 100,
  },
): {
  elector: LeaderElector;
  run: (signal?: AbortSignal) => Promise<void>;
  leadSignal: () => AbortSignal | undefined;
} {
  const elector = new LeaderElector(client, {
    namespace: 'ns',
    name: 'grove-operator',
    identity,
    ...timings,
  });
  let leadSignal: AbortSignal | undefined;
  return {
    elector,
    leadSignal: () => leadSignal,
    run: (signal) =>
      elector.run(
        {
          onStartedLeading: (s) => {
            leadSignal = s;
            timeline.events.push({ who: identity, what: 'start', at: Date.now() });
          },
          onStoppedLeading: () =>
            timeline.events.push({ who: identity, what: 'stop', at: Date.now() }),
        },
        signal,
      ),
  };
}

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('leader election › elector', () => {
  it('lets exactly one of two electors lead', async () => {
    const store = new LeaseStore();
    const timeline: Timeline = { events: [] };
    // A leader whose event loop stalls past its renew deadline rightly steps down; the unit
    // tests share the 2 cores with the integration suites, where a 600 ms stall happened once.
    // Generous timings keep this test about who leads, not about the scheduler.
    const timings = { leaseDurationMs: 10_000, renewDeadlineMs: 8000, retryPeriodMs: 100 };
    const a = elector(new PartitionableClient(store), 'a', timeline, timings);
    const b = elector(new PartitionableClient(store), 'b', timeline, timings);
    const stop = new AbortController();
    const runs = [a.run(stop.signal), b.run(stop.signal)];
    await until(() => a.elector.isLeader() || b.elector.isLeader());
    for (let i = 0; i < 20; i += 1) {
      expect([a.elector.isLeader(), b.elector.isLeader()].filter(Boolean)).toHaveLength(1);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(timeline.events.filter((event) => event.what === 'start')).toHaveLength(1);
    stop.abort();
    await Promise.all(runs);
  });

  it('steps down before anyone else can take over when it cannot reach the API server', async () => {
    const store = new LeaseStore();
    const timeline: Timeline = { events: [] };
    const clientA = new PartitionableClient(store);
    const a = elector(clientA, 'a', timeline);
    const b = elector(new PartitionableClient(store), 'b', timeline);
    const stop = new AbortController();
    const runA = a.run(stop.signal);
    await until(() => a.elector.isLeader());
    const runB = b.run(stop.signal);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(b.elector.isLeader()).toBe(false);

    const cutAt = Date.now();
    clientA.partitioned = true;
    await runA; // run() resolves once leadership is lost
    expect(a.elector.isLeader()).toBe(false);
    expect(a.leadSignal()?.aborted).toBe(true);
    await until(() => b.elector.isLeader());

    const stopA = timeline.events.find((event) => event.who === 'a' && event.what === 'stop');
    const startB = timeline.events.find((event) => event.who === 'b' && event.what === 'start');
    if (stopA === undefined || startB === undefined) throw new Error('missing transitions');
    // a gave up within its renew deadline (600 ms after its last renewal) ...
    expect(stopA.at - cutAt).toBeLessThan(600 + 150);
    // ... and b waited a full lease duration after a's last renewal: never two leaders.
    expect(startB.at).toBeGreaterThan(stopA.at);
    expect(store.lease?.spec?.leaseTransitions).toBe(1);
    stop.abort();
    await runB;
  });

  it('hands the lease over at once on release()', async () => {
    const store = new LeaseStore();
    const timeline: Timeline = { events: [] };
    const a = elector(new PartitionableClient(store), 'a', timeline);
    const b = elector(new PartitionableClient(store), 'b', timeline);
    const runA = a.run();
    await until(() => a.elector.isLeader());
    const runB = b.run();
    await new Promise((resolve) => setTimeout(resolve, 150));
    const releasedAt = Date.now();
    await a.elector.release();
    await runA;
    expect(store.lease?.spec?.holderIdentity).not.toBe('a');
    await until(() => b.elector.isLeader());
    // Far sooner than the 1 s lease duration.
    expect(Date.now() - releasedAt).toBeLessThan(500);
    const stopA = timeline.events.find((event) => event.who === 'a' && event.what === 'stop');
    expect(stopA).toBeDefined();
    await b.elector.release();
    await runB;
    expect(store.lease?.spec?.holderIdentity).toBe('');
  });

  it('refuses timings that would let two leaders overlap', () => {
    const client = new PartitionableClient(new LeaseStore());
    const options = { namespace: 'ns', name: 'l', identity: 'x' };
    expect(
      () =>
        new LeaderElector(client, { ...options, leaseDurationMs: 10_000, renewDeadlineMs: 10_000 }),
    ).toThrow(/must be greater than renewDeadline/);
    expect(
      () => new LeaderElector(client, { ...options, renewDeadlineMs: 2000, retryPeriodMs: 2000 }),
    ).toThrow(/retryPeriod/);
    expect(() => new LeaderElector(client, { ...options, identity: '' })).toThrow(/identity/);
  });
});
