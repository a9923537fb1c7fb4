import { describe, expect, it } from '@jest/globals';
import { loggerOf } from '../contracts/logger.js';
import {
  aggregationKey,
  buildEvent,
  eventName,
  EventRecorder,
  planEventWrite,
  type EventClient,
  type EventObject,
} from './event-recorder.js';
import { KubeApiError, type PatchOptions } from './kube-client.js';
import type { KubeObject, ResourceType } from './kube-object.js';

const pool: KubeObject = {
  apiVersion: 'grove.dev/v1alpha1',
  kind: 'RelayPool',
  metadata: { name: 'edge', namespace: 'prod', uid: 'uid-1', resourceVersion: '42' },
};

describe('event recorder › names and aggregation', () => {
  it('names an event after its object plus a hash of what makes it "the same event"', () => {
    const key = aggregationKey(pool, 'Warning', 'ApplyFailed', 'boom');
    expect(eventName('edge', key)).toMatch(/^edge\.[0-9a-f]{16}$/);
    expect(eventName('edge', key)).toBe(
      eventName('edge', aggregationKey(pool, 'Warning', 'ApplyFailed', 'boom')),
    );
    const others = [
      aggregationKey(pool, 'Normal', 'ApplyFailed', 'boom'),
      aggregationKey(pool, 'Warning', 'Other', 'boom'),
      aggregationKey(pool, 'Warning', 'ApplyFailed', 'bang'),
      aggregationKey(
        { ...pool, metadata: { ...pool.metadata, uid: 'uid-2' } },
        'Warning',
        'ApplyFailed',
        'boom',
      ),
    ];
    for (const other of others) expect(eventName('edge', other)).not.toBe(eventName('edge', key));
  });

  it('keeps long names within 253 characters and valid at the cut', () => {
    const name = eventName(`${'a'.repeat(235)}-.b${'c'.repeat(30)}`, 'k');
    expect(name.length).toBeLessThanOrEqual(253);
    expect(name).toMatch(/^a+\.[0-9a-f]{16}$/);
  });

  it('increments within the window and starts a new event after it', () => {
    expect(planEventWrite(undefined, 1000, 600_000)).toEqual({ action: 'create' });
    expect(planEventWrite({ count: 3, lastMs: 1000 }, 1000 + 599_999, 600_000)).toEqual({
      action: 'increment',
      count: 4,
    });
    expect(planEventWrite({ count: 3, lastMs: 1000 }, 1000 + 600_000, 600_000)).toEqual({
      action: 'create',
    });
  });

  it('builds an Event as kubectl describe shows it', () => {
    const event = buildEvent({
      object: pool,
      type: 'Warning',
      reason: 'ApplyFailed',
      message: 'x'.repeat(2000),
      name: 'edge.0123456789abcdef',
      component: 'grove-operator',
      host: 'grove-operator-7d9f-abcde',
      now: new Date('2026-01-01T10:00:00.456Z'),
    });
    expect(event).toMatchObject({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: 'edge.0123456789abcdef', namespace: 'prod' },
      involvedObject: {
        apiVersion: 'grove.dev/v1alpha1',
        kind: 'RelayPool',
        name: 'edge',
        namespace: 'prod',
        uid: 'uid-1',
        resourceVersion: '42',
      },
      type: 'Warning',
      reason: 'ApplyFailed',
      source: { component: 'grove-operator', host: 'grove-operator-7d9f-abcde' },
      firstTimestamp: '2026-01-01T10:00:00Z',
      lastTimestamp: '2026-01-01T10:00:00Z',
      count: 1,
      reportingComponent: 'grove-operator',
      reportingInstance: 'grove-operator-7d9f-abcde',
    });
    expect(event.message).toHaveLength(1024);
  });

  it('files events about cluster-scoped objects in "default"', () => {
    const namespace: KubeObject = {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'prod', uid: 'u' },
    };
    const event = buildEvent({
      object: namespace,
      type: 'Normal',
      reason: 'R',
      message: 'm',
      name: 'n',
      component: 'c',
      host: 'h',
      now: new Date(0),
    });
    expect(event.metadata.namespace).toBe('default');
    expect(event.involvedObject.namespace).toBeUndefined();
  });
});

/** Events in memory; create is 409 on an existing name, patch is a shallow merge. */
class FakeEvents implements EventClient {
  readonly events = new Map<string, EventObject>();
  readonly calls: string[] = [];
  failNext: Error | undefined;

  get<T extends KubeObject>(
    _type: ResourceType,
    namespace: string | undefined,
    name: string,
  ): Promise<T | undefined> {
    this.calls.push(`get ${name}`);
    return Promise.resolve(this.events.get(`${namespace ?? ''}/${name}`) as T | undefined);
  }

  create<T extends KubeObject>(_type: ResourceType, object: KubeObject): Promise<T> {
    this.calls.push(`create ${object.metadata.name}`);
    const failure = this.failNext;
    this.failNext = undefined;
    if (failure !== undefined) return Promise.reject(failure);
    const key = `${object.metadata.namespace ?? ''}/${object.metadata.name}`;
    if (this.events.has(key))
      return Promise.reject(new KubeApiError('exists', 409, 'AlreadyExists'));
    this.events.set(key, structuredClone(object) as EventObject);
    return Promise.resolve(object as T);
  }

  patch<T extends KubeObject>(
    _type: ResourceType,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    options: PatchOptions,
  ): Promise<T> {
    this.calls.push(`patch ${name} ${JSON.stringify(patch)} ${options.type}`);
    const key = `${namespace ?? ''}/${name}`;
    const current = this.events.get(key);
    if (current === undefined) return Promise.reject(new KubeApiError('gone', 404, 'NotFound'));
    const merged: EventObject = { ...current, ...(patch as Partial<EventObject>) };
    this.events.set(key, merged);
    return Promise.resolve(merged as KubeObject as T);
  }
}

describe('event recorder › writes', () => {
  const clock = (start: string): { now: () => Date; advance: (ms: number) => void } => {
    let now = Date.parse(start);
    return { now: () => new Date(now), advance: (ms) => (now += ms) };
  };

  it('creates an event, then counts a repeat on the same object', async () => {
    const client = new FakeEvents();
    const time = clock('2026-01-01T10:00:00Z');
    const recorder = new EventRecorder(client, {
      component: 'grove-operator',
      host: 'h',
      now: time.now,
    });
    recorder.record(pool, 'Warning', 'ApplyFailed', 'boom');
    time.advance(5000);
    recorder.record(pool, 'Warning', 'ApplyFailed', 'boom');
    await recorder.flush();
    expect(client.events.size).toBe(1);
    const [event] = [...client.events.values()];
    expect(event).toMatchObject({
      count: 2,
      firstTimestamp: '2026-01-01T10:00:00Z',
      lastTimestamp: '2026-01-01T10:00:05Z',
    });
    expect(client.calls[1]).toMatch(
      /^patch edge\.[0-9a-f]{16} \{"count":2,"lastTimestamp":"2026-01-01T10:00:05Z"\} merge$/,
    );
  });

  it('keeps different messages apart', async () => {
    const client = new FakeEvents();
    const recorder = new EventRecorder(client, { component: 'grove-operator', host: 'h' });
    recorder.record(pool, 'Normal', 'Scaled', 'to 2');
    recorder.record(pool, 'Normal', 'Scaled', 'to 3');
    await recorder.flush();
    expect(client.events.size).toBe(2);
  });

  it('counts on an event an earlier run left behind (create answers 409)', async () => {
    const client = new FakeEvents();
    const earlier = new EventRecorder(client, { component: 'grove-operator', host: 'h' });
    earlier.record(pool, 'Normal', 'Created', 'made it');
    earlier.record(pool, 'Normal', 'Created', 'made it');
    await earlier.flush();
    const restarted = new EventRecorder(client, { component: 'grove-operator', host: 'h' });
    restarted.record(pool, 'Normal', 'Created', 'made it');
    await restarted.flush();
    expect([...client.events.values()][0]?.count).toBe(3);
  });

  it('never throws and logs a failed write', async () => {
    const client = new FakeEvents();
    const logs: string[] = [];
    const recorder = new EventRecorder(client, {
      component: 'grove-operator',
      host: 'h',
      log: loggerOf((level, msg, fields) => logs.push(`${level} ${msg} ${String(fields?.error)}`)),
    });
    client.failNext = new KubeApiError(
      'POST …: 403 Forbidden: cannot create events',
      403,
      'Forbidden',
    );
    expect(() => recorder.record(pool, 'Normal', 'R', 'm')).not.toThrow();
    await recorder.flush();
    expect(logs).toEqual([
      'warn could not write event POST …: 403 Forbidden: cannot create events',
    ]);
    // The next one goes through.
    recorder.record(pool, 'Normal', 'R', 'm');
    await recorder.flush();
    expect(client.events.size).toBe(1);
  });

  it('writes a new event when the counted one expired', async () => {
    const client = new FakeEvents();
    const recorder = new EventRecorder(client, { component: 'grove-operator', host: 'h' });
    recorder.record(pool, 'Normal', 'R', 'm');
    await recorder.flush();
    client.events.clear(); // the API server's event TTL
    recorder.record(pool, 'Normal', 'R', 'm');
    await recorder.flush();
    expect([...client.events.values()][0]?.count).toBe(1);
  });

  it('drops events beyond maxPending instead of queueing without bound', async () => {
    const client = new FakeEvents();
    const logs: string[] = [];
    const recorder = new EventRecorder(client, {
      component: 'grove-operator',
      host: 'h',
      maxPending: 2,
      log: loggerOf((_level, msg) => logs.push(msg)),
    });
    for (let i = 0; i < 5; i += 1) recorder.record(pool, 'Normal', 'R', `m${i}`);
    await recorder.flush();
    expect(client.events.size).toBe(2);
    expect(logs.filter((msg) => msg.startsWith('too many events'))).toHaveLength(3);
  });
});
