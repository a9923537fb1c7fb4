import { describe, expect, it } from '@jest/globals';
import { loggerOf } from '../contracts/logger.js';
import { Informer, type InformerOptions, type ListWatchClient } from './informer.js';
import {
  KubeApiError,
  type ListOptions,
  type ListResult,
  type WatchHandler,
  type WatchOptions,
} from './kube-client.js';
import type { KubeObject, ResourceType } from './kube-object.js';
import { resourceTypes } from './resource-types.js';
import type { WatchEventType } from './watch-stream.js';

interface ListCall {
  kind: 'list';
  options: ListOptions | undefined;
  respond: (items: KubeObject[], resourceVersion: string) => void;
  fail: (error: Error) => void;
}

interface WatchCall {
  kind: 'watch';
  options: WatchOptions;
  emit: (type: WatchEventType, object: KubeObject) => void;
  /** The server ends the stream normally. */
  end: () => void;
  fail: (error: Error) => void;
  aborted: () => boolean;
}

type Call = ListCall | WatchCall;

/** A scripted API server: every list/watch waits until the test answers it. */
class FakeListWatch implements ListWatchClient {
  private readonly calls: Call[] = [];
  private readonly waiting: ((call: Call) => void)[] = [];

  list<T extends KubeObject>(_type: ResourceType, options?: ListOptions): Promise<ListResult<T>> {
    return new Promise((resolve, reject) => {
      // Like the real client: an aborted call rejects.
      options?.signal?.addEventListener(
        'abort',
        () => reject(new KubeApiError('aborted', 0, 'Aborted')),
        {
          once: true,
        },
      );
      this.push({
        kind: 'list',
        options,
        respond: (items, resourceVersion) => {
          resolve({ items: items as T[], resourceVersion });
        },
        fail: reject,
      });
    });
  }

  watch(_type: ResourceType, options: WatchOptions, onEvent: WatchHandler): Promise<void> {
    return new Promise((resolve, reject) => {
      options.signal.addEventListener('abort', () => resolve(), { once: true });
      this.push({
        kind: 'watch',
        options,
        emit: (type, object) => onEvent({ type, object }),
        end: resolve,
        fail: reject,
        aborted: () => options.signal.aborted,
      });
    });
  }

  async next(timeoutMs = 2000): Promise<Call> {
    const queued = this.calls.shift();
    if (queued !== undefined) return queued;
    return new Promise((resolve, reject) => {
      const waiter = (call: Call): void => {
        clearTimeout(timer);
        resolve(call);
      };
      const timer = setTimeout(() => {
        this.waiting.splice(this.waiting.indexOf(waiter), 1);
        reject(new Error('no list/watch call came'));
      }, timeoutMs);
      this.waiting.push(waiter);
    });
  }

  async nextList(): Promise<ListCall> {
    const call = await this.next();
    if (call.kind !== 'list') throw new Error(`expected a list, got a ${call.kind}`);
    return call;
  }

  async nextWatch(): Promise<WatchCall> {
    const call = await this.next();
    if (call.kind !== 'watch') throw new Error(`expected a watch, got a ${call.kind}`);
    return call;
  }

  /** True when no call is pending or comes within `ms`. */
  async quiet(ms = 50): Promise<boolean> {
    try {
      await this.next(ms);
      return false;
    } catch {
      return true;
    }
  }

  private push(call: Call): void {
    const waiter = this.waiting.shift();
    if (waiter !== undefined) waiter(call);
    else this.calls.push(call);
  }
}

function cm(name: string, resourceVersion: string, data: Record<string, string> = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace: 'ns', resourceVersion },
    data,
  };
}

interface Recorded {
  events: string[];
  logs: { level: string; msg: string; fields?: Record<string, unknown> }[];
  delays: number[];
  restarts: string[];
}

function informerWith(options: InformerOptions = {}): {
  fake: FakeListWatch;
  informer: Informer<KubeObject>;
  seen: Recorded;
} {
  const fake = new FakeListWatch();
  const seen: Recorded = { events: [], logs: [], delays: [], restarts: [] };
  const informer = new Informer<KubeObject>(fake, resourceTypes.configMaps, {
    namespace: 'ns',
    random: () => 0,
    watchTimeoutSeconds: 60,
    sleep: (ms) => {
      seen.delays.push(ms);
      return Promise.resolve();
    },
    log: loggerOf((level, msg, fields) =>
      seen.logs.push({ level, msg, ...(fields && { fields }) }),
    ),
    onRestart: (reason) => seen.restarts.push(reason),
    ...options,
  });
  const rv = (object: KubeObject): string => object.metadata.resourceVersion ?? '?';
  informer.onAdd((object) => seen.events.push(`add ${object.metadata.name}@${rv(object)}`));
  informer.onUpdate((object, old) =>
    seen.events.push(`update ${object.metadata.name}@${rv(old)}->${rv(object)}`),
  );
  informer.onDelete((object) => seen.events.push(`delete ${object.metadata.name}@${rv(object)}`));
  return { fake, informer, seen };
}

const gone = (): KubeApiError =>
  new KubeApiError('watch: ERROR event 410 Expired: too old resource version', 410, 'Expired');

describe('informer', () => {
  it('lists, then watches from the list version, applying events to cache and handlers', async () => {
    const { fake, informer, seen } = informerWith();
    informer.start();
    const list = await fake.nextList();
    expect(list.options).toMatchObject({ namespace: 'ns' });
    expect(informer.hasSynced()).toBe(false);
    list.respond([cm('a', '10'), cm('b', '11')], '12');
    await informer.waitForSync();

    const watch = await fake.nextWatch();
    expect(watch.options).toMatchObject({
      resourceVersion: '12',
      namespace: 'ns',
      timeoutSeconds: 60,
    });
    watch.emit('MODIFIED', cm('a', '13', { x: '1' }));
    watch.emit('MODIFIED', cm('a', '13', { x: '1' })); // same version: nothing new
    watch.emit('ADDED', cm('c', '14'));
    watch.emit('DELETED', cm('b', '15'));
    watch.emit('DELETED', cm('never-seen', '16'));
    watch.emit('BOOKMARK', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: '', resourceVersion: '20' },
    });

    expect(seen.events).toEqual([
      'add a@10',
      'add b@11',
      'update a@10->13',
      'add c@14',
      'delete b@15',
    ]);
    expect(informer.get('ns', 'a')?.data).toEqual({ x: '1' });
    expect(informer.get('ns', 'b')).toBeUndefined();
    expect(
      informer
        .list('ns')
        .map((object) => object.metadata.name)
        .sort(),
    ).toEqual(['a', 'c']);
    expect(informer.list('other')).toEqual([]);

    // The server ends the watch (its timeout): watch again from the bookmark, no relist.
    watch.end();
    const again = await fake.nextWatch();
    expect(again.options.resourceVersion).toBe('20');
    expect(seen.delays).toEqual([]);
    expect(seen.restarts).toEqual([]);
    await informer.stop();
    expect(again.aborted()).toBe(true);
  });

  it('relists after a failure and emits delete for objects that vanished meanwhile', async () => {
    const { fake, informer, seen } = informerWith();
    informer.start();
    (await fake.nextList()).respond([cm('a', '1'), cm('b', '2'), cm('c', '3')], '3');
    const watch = await fake.nextWatch();
    watch.fail(new KubeApiError('watch: network error: ECONNRESET', 0, 'NetworkError'));

    // While the watch was down, b was deleted, c changed, d was created.
    (await fake.nextList()).respond([cm('a', '1'), cm('c', '7'), cm('d', '8')], '9');
    expect((await fake.nextWatch()).options.resourceVersion).toBe('9');
    expect(seen.events.slice(3)).toEqual(['delete b@2', 'update c@3->7', 'add d@8']);
    expect(seen.restarts).toEqual(['error']);
    expect(seen.delays).toEqual([500]);
    await informer.stop();
  });

  it('relists at once on 410 Gone, and backs off only when 410 repeats without progress', async () => {
    const { fake, informer, seen } = informerWith();
    informer.start();
    (await fake.nextList()).respond([cm('a', '1')], '5');
    (await fake.nextWatch()).fail(gone());

    (await fake.nextList()).respond([cm('a', '6')], '6');
    expect(seen.delays).toEqual([]);
    expect(seen.restarts).toEqual(['expired']);

    (await fake.nextWatch()).fail(gone());
    (await fake.nextList()).respond([cm('a', '6')], '6');
    expect(seen.delays).toEqual([500]);

    // Progress (an event) makes the next 410 a fresh one: relist at once again.
    const watch = await fake.nextWatch();
    watch.emit('MODIFIED', cm('a', '7'));
    watch.fail(gone());
    (await fake.nextList()).respond([cm('a', '7')], '7');
    expect(seen.delays).toEqual([500]);
    expect(seen.restarts).toEqual(['expired', 'expired', 'expired']);
    expect(seen.events).toEqual(['add a@1', 'update a@1->6', 'update a@6->7']);
    await informer.stop();
  });

  it('never gives up: every error waits a longer jittered backoff, then relists', async () => {
    let clock = 0;
    const { fake, informer, seen } = informerWith({
      backoff: { initialMs: 100, maxMs: 1000 },
      random: () => 0,
      now: () => clock,
    });
    informer.start();
    const errors = [
      new KubeApiError('GET …: network error: ECONNREFUSED', 0, 'NetworkError'),
      new KubeApiError(
        'GET …: 500 InternalError: etcdserver: leader changed',
        500,
        'InternalError',
      ),
      new KubeApiError('GET …: 403 Forbidden: cannot list configmaps', 403, 'Forbidden'),
      new KubeApiError('GET …: 503 ServiceUnavailable', 503, 'ServiceUnavailable'),
      new Error('something unexpected'),
      new KubeApiError('GET …: 429 TooManyRequests', 429, 'TooManyRequests'),
    ];
    for (const error of errors) (await fake.nextList()).fail(error);
    const list = await fake.nextList();
    expect(seen.delays).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(seen.restarts).toHaveLength(6);
    expect(seen.logs.filter((log) => log.level === 'warn')).toHaveLength(6);
    expect(seen.logs[0]?.fields).toMatchObject({
      kind: 'ConfigMap',
      error: expect.stringMatching(/ECONNREFUSED/),
    });
    expect(informer.hasSynced()).toBe(false);

    list.respond([cm('a', '1')], '1');
    await informer.waitForSync();
    // A watch the server ended normally was healthy: the next failure starts from initialMs.
    const healthy = await fake.nextWatch();
    clock += 300_000;
    healthy.end();
    (await fake.nextWatch()).fail(new KubeApiError('network error', 0, 'NetworkError'));
    await fake.nextList();
    expect(seen.delays).toEqual([100, 200, 400, 800, 1000, 1000, 100]);
    await informer.stop();
  });

  it('backs off instead of spinning when watches end at once with nothing in them', async () => {
    let clock = 0;
    const { fake, informer, seen } = informerWith({ now: () => clock });
    informer.start();
    (await fake.nextList()).respond([cm('a', '1')], '1');
    (await fake.nextWatch()).end();
    (await fake.nextList()).respond([cm('a', '1')], '1');
    expect(seen.delays).toEqual([500]);
    expect(seen.logs.at(-1)?.fields).toMatchObject({
      error: expect.stringMatching(/within a second/),
    });
    // A watch the server ends after its timeout is normal: no backoff, no relist.
    const watch = await fake.nextWatch();
    clock += 60_000;
    watch.end();
    expect((await fake.nextWatch()).options.resourceVersion).toBe('1');
    expect(seen.delays).toEqual([500]);
    await informer.stop();
  });

  it('draws backoff delays with jitter', async () => {
    const draws = [0, 1, 0.5];
    const { fake, informer, seen } = informerWith({
      backoff: { initialMs: 1000, maxMs: 1000 },
      random: () => draws.shift() ?? 0,
    });
    informer.start();
    for (let i = 0; i < 3; i += 1) (await fake.nextList()).fail(new Error('down'));
    await fake.nextList();
    expect(seen.delays).toEqual([1000, 500, 750]);
    await informer.stop();
  });

  it('logs a throwing handler and keeps delivering to the others', async () => {
    const { fake, informer, seen } = informerWith();
    informer.onAdd(() => {
      throw new Error('handler bug');
    });
    const late: string[] = [];
    informer.onAdd((object) => late.push(object.metadata.name));
    informer.start();
    (await fake.nextList()).respond([cm('a', '1')], '1');
    const watch = await fake.nextWatch();
    watch.emit('ADDED', cm('b', '2'));
    expect(late).toEqual(['a', 'b']);
    expect(seen.logs.filter((log) => log.level === 'error')).toEqual([
      expect.objectContaining({
        fields: expect.objectContaining({ object: 'ns/a', error: 'handler bug' }),
      }),
      expect.objectContaining({
        fields: expect.objectContaining({ object: 'ns/b', error: 'handler bug' }),
      }),
    ]);
    expect(watch.aborted()).toBe(false);
    await informer.stop();
  });

  it('resyncs periodically: relists and emits update for every object, changed or not', async () => {
    const { fake, informer, seen } = informerWith({ resyncMs: 30 });
    informer.start();
    (await fake.nextList()).respond([cm('a', '1'), cm('b', '2')], '2');
    const watch = await fake.nextWatch();
    const relist = await fake.nextList();
    expect(watch.aborted()).toBe(true);
    relist.respond([cm('a', '1'), cm('b', '3')], '3');
    await fake.nextWatch();
    expect(seen.events).toEqual(['add a@1', 'add b@2', 'update a@1->1', 'update b@2->3']);
    expect(seen.restarts).toEqual([]);
    await informer.stop();
  });

  it('runs one loop however often start() is called, and stop() ends it', async () => {
    const { fake, informer } = informerWith();
    informer.start();
    informer.start();
    const list = await fake.nextList();
    expect(await fake.quiet()).toBe(true);
    list.respond([], '1');
    const watch = await fake.nextWatch();
    informer.start();
    expect(await fake.quiet()).toBe(true);
    await informer.stop();
    expect(watch.aborted()).toBe(true);
    expect(await fake.quiet()).toBe(true);
    // Started again, it lists afresh.
    informer.start();
    (await fake.nextList()).respond([], '2');
    await informer.stop();
  });

  it('rejects waitForSync when stopped before the first list, or when the caller gives up', async () => {
    const { fake, informer } = informerWith();
    informer.start();
    await fake.nextList();
    const giveUp = new AbortController();
    const abandoned = informer.waitForSync(giveUp.signal);
    giveUp.abort(new Error('shutting down'));
    await expect(abandoned).rejects.toThrow('shutting down');
    const waiting = informer.waitForSync();
    await informer.stop();
    await expect(waiting).rejects.toThrow(/stopped before it synced/);
    expect(informer.hasSynced()).toBe(false);
  });
});
