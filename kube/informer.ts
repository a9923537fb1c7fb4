import { silentLogger, type Logger } from '../contracts/logger.js';
import { abortableSleep, Backoff, defaultBackoff } from './backoff.js';
import type { KubeClient } from './kube-client.js';
import { isKubeApiError } from './kube-client.js';
import { objectKey, type KubeObject, type ResourceType } from './kube-object.js';
import type { WatchEvent } from './watch-stream.js';

/** What an informer needs from the client: a fake with these two methods drives unit tests. */
export type ListWatchClient = Pick<KubeClient, 'list' | 'watch'>;

export interface InformerOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /**
   * Period of a full relist (default 10 min). It emits 'update' for every cached object even
   * when unchanged, like controller-runtime's resync, and 'delete' for anything a watch missed.
   */
  resyncMs?: number;
  /** Jittered exponential delay before relisting after an error (default 500 ms .. 30 s). */
  backoff?: { initialMs: number; maxMs: number };
  /** A watch that ran this long before failing counts as healthy: the backoff starts over. */
  healthyWatchMs?: number;
  random?: () => number;
  now?: () => number;
  /** How to wait out a backoff (tests inject one that records the delay). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Server-side watch timeout; default a random 5–10 min per watch, as client-go does. */
  watchTimeoutSeconds?: number;
  /** No byte for this long means a dead connection (default: watch timeout + 30 s). */
  watchIdleTimeoutMs?: number;
  log?: Logger;
  /** Called on every restart after an error ('expired' for 410 Gone, 'error' otherwise). */
  onRestart?: (reason: 'expired' | 'error') => void;
}

type AddHandler<T> = (obj: T) => void;
type UpdateHandler<T> = (obj: T, old: T) => void;
type DeleteHandler<T> = (obj: T) => void;

/**
 * A cache of one resource type kept current by LIST + WATCH, with add/update/delete handlers.
 * Unlike client-node's informer it never gives up: after any failure it relists (at once on
 * 410 Gone, after a jittered backoff otherwise), and relists periodically.
 *
 * Cached objects are shared with handlers and callers of get/list: never mutate them.
 */
export class Informer<T extends KubeObject> {
  private readonly cache = new Map<string, T>();
  private readonly addHandlers: AddHandler<T>[] = [];
  private readonly updateHandlers: UpdateHandler<T>[] = [];
  private readonly deleteHandlers: DeleteHandler<T>[] = [];
  private readonly backoff: Backoff;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly random: () => number;
  private synced = false;
  private syncWaiters: { resolve: () => void; reject: (error: Error) => void }[] = [];
  private resourceVersion = '';
  private loop: Promise<void> | undefined;
  private abort: AbortController | undefined;
  private stopping = false;
  /** Events delivered by the current watch: a 410 after progress is not "410 in a row". */
  private watchEvents = 0;

  constructor(
    private readonly client: ListWatchClient,
    readonly type: ResourceType,
    private readonly options: InformerOptions = {},
  ) {
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
    this.backoff = new Backoff(options.backoff ?? defaultBackoff, this.random);
    this.log = options.log ?? silentLogger;
  }

  onAdd(handler: AddHandler<T>): void {
    this.addHandlers.push(handler);
  }

  onUpdate(handler: UpdateHandler<T>): void {
    this.updateHandlers.push(handler);
  }

  onDelete(handler: DeleteHandler<T>): void {
    this.deleteHandlers.push(handler);
  }

  /** Starts the list/watch loop; a no-op when it already runs. */
  start(): void {
    if (this.stopping) throw new Error(`informer for ${this.type.kind} is stopping: await stop()`);
    if (this.loop !== undefined) return;
    const abort = new AbortController();
    this.abort = abort;
    this.loop = this.run(abort.signal);
  }

  /** Stops the loop and waits for it to end; waiters of waitForSync reject. */
  async stop(): Promise<void> {
    const loop = this.loop;
    if (loop === undefined) return;
    this.stopping = true;
    this.abort?.abort(new Error('informer stopped'));
    try {
      await loop;
    } finally {
      this.loop = undefined;
      this.abort = undefined;
      this.stopping = false;
      const waiters = this.syncWaiters;
      this.syncWaiters = [];
      for (const waiter of waiters) {
        waiter.reject(new Error(`informer for ${this.type.kind} stopped before it synced`));
      }
    }
  }

  /** True once the first LIST has filled the cache. */
  hasSynced(): boolean {
    return this.synced;
  }

  waitForSync(signal?: AbortSignal): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve, reject) => {
      if (signal?.aborted === true) {
        reject(abortError(signal));
        return;
      }
      const waiter = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (error: Error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      const onAbort = (): void => {
        this.syncWaiters = this.syncWaiters.filter((other) => other !== waiter);
        reject(abortError(signal));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.syncWaiters.push(waiter);
    });
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.cache.get(objectKey({ namespace, name }));
  }

  /** Cached objects, of one namespace when given. */
  list(namespace?: string): T[] {
    const all = [...this.cache.values()];
    return namespace === undefined
      ? all
      : all.filter((object) => object.metadata.namespace === namespace);
  }

  /** The resourceVersion the next watch would start from (for tests and debugging). */
  get lastResourceVersion(): string {
    return this.resourceVersion;
  }

  // -------------------------------------------------------------------------------------

  private async run(signal: AbortSignal): Promise<void> {
    let needList = true;
    let resync = false;
    let goneInARow = 0;
    let lastListAt = 0;
    const resyncMs = this.options.resyncMs ?? 10 * 60_000;
    while (!aborted(signal)) {
      let watchStartedAt: number | undefined;
      this.watchEvents = 0;
      try {
        if (needList) {
          const result = await this.client.list<T>(this.type, {
            ...this.selectors(),
            signal,
          });
          if (aborted(signal)) break;
          this.replace(result.items, resync);
          this.resourceVersion = result.resourceVersion;
          lastListAt = this.now();
          needList = false;
          resync = false;
          this.markSynced();
        }
        watchStartedAt = this.now();
        const outcome = await this.watchUntil(lastListAt + resyncMs, signal);
        if (aborted(signal)) break;
        goneInARow = 0;
        if (outcome.resyncDue) {
          needList = true;
          resync = true;
        } else if (this.watchEvents === 0 && this.now() - watchStartedAt < 1000) {
          // Like client-go: a watch that ends at once with nothing in it is not a healthy
          // timeout (a proxy cutting streams, a server shutting down): back off and relist,
          // rather than spin.
          throw new Error('watch closed by the server within a second, with no events');
        } else {
          // The server ended the watch (its timeout): healthy; watch again from where we are.
          this.backoff.reset();
        }
      } catch (error) {
        if (aborted(signal)) break;
        needList = true;
        const message = errorText(error);
        if (
          watchStartedAt !== undefined &&
          this.now() - watchStartedAt >= (this.options.healthyWatchMs ?? 60_000)
        ) {
          this.backoff.reset();
        }
        if (isKubeApiError(error, 410)) {
          goneInARow = this.watchEvents > 0 ? 1 : goneInARow + 1;
          this.options.onRestart?.('expired');
          // The first 410 relists at once; a second one in a row (the fresh list's version
          // expired again at once) backs off so that a confused server is not hammered.
          if (goneInARow === 1) {
            this.log.info('watch expired; relisting', this.fields({ error: message }));
            continue;
          }
        }
        if (!isKubeApiError(error, 410)) this.options.onRestart?.('error');
        const delayMs = this.backoff.next();
        this.log.warn(
          'list/watch failed; relisting after backoff',
          this.fields({ error: message, delayMs, failures: this.backoff.consecutiveFailures }),
        );
        await (this.options.sleep ?? abortableSleep)(delayMs, signal);
      }
    }
  }

  /** One watch; resolves when the server ends it or when the resync is due. */
  private async watchUntil(resyncAt: number, signal: AbortSignal): Promise<{ resyncDue: boolean }> {
    const watchAbort = new AbortController();
    const onStop = (): void => watchAbort.abort();
    signal.addEventListener('abort', onStop, { once: true });
    if (signal.aborted) watchAbort.abort();
    let resyncDue = false;
    const timer = setTimeout(
      () => {
        resyncDue = true;
        watchAbort.abort();
      },
      Math.max(0, resyncAt - this.now()),
    );
    const timeoutSeconds =
      this.options.watchTimeoutSeconds ?? Math.floor(300 * (1 + this.random()));
    try {
      await this.client.watch(
        this.type,
        {
          ...this.selectors(),
          resourceVersion: this.resourceVersion,
          timeoutSeconds,
          ...(this.options.watchIdleTimeoutMs !== undefined && {
            idleTimeoutMs: this.options.watchIdleTimeoutMs,
          }),
          signal: watchAbort.signal,
        },
        (event) => this.onWatchEvent(event),
      );
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onStop);
    }
    return { resyncDue };
  }

  private selectors(): { namespace?: string; labelSelector?: string; fieldSelector?: string } {
    const { namespace, labelSelector, fieldSelector } = this.options;
    return {
      ...(namespace !== undefined && { namespace }),
      ...(labelSelector !== undefined && { labelSelector }),
      ...(fieldSelector !== undefined && { fieldSelector }),
    };
  }

  private onWatchEvent(event: WatchEvent): void {
    this.watchEvents += 1;
    const object = event.object as T;
    const version = object.metadata.resourceVersion;
    if (event.type === 'BOOKMARK') {
      if (version !== undefined && version !== '') this.resourceVersion = version;
      return;
    }
    const key = objectKey(object.metadata);
    const old = this.cache.get(key);
    if (event.type === 'DELETED') {
      this.cache.delete(key);
      if (old !== undefined) this.emitDelete(object);
    } else if (old === undefined) {
      this.cache.set(key, object);
      this.emitAdd(object);
    } else if (old.metadata.resourceVersion !== version) {
      this.cache.set(key, object);
      this.emitUpdate(object, old);
    }
    if (version !== undefined && version !== '') this.resourceVersion = version;
  }

  /** Replaces the cache with a fresh list and emits the differences. */
  private replace(items: T[], resync: boolean): void {
    const fresh = new Map(items.map((item) => [objectKey(item.metadata), item]));
    for (const [key, old] of this.cache) {
      if (!fresh.has(key)) {
        this.cache.delete(key);
        this.emitDelete(old);
      }
    }
    for (const [key, item] of fresh) {
      const old = this.cache.get(key);
      this.cache.set(key, item);
      if (old === undefined) this.emitAdd(item);
      else if (resync || old.metadata.resourceVersion !== item.metadata.resourceVersion) {
        this.emitUpdate(item, old);
      }
    }
  }

  private markSynced(): void {
    if (this.synced) return;
    this.synced = true;
    const waiters = this.syncWaiters;
    this.syncWaiters = [];
    for (const waiter of waiters) waiter.resolve();
  }

  private emitAdd(object: T): void {
    for (const handler of this.addHandlers) this.safely('add', object, () => handler(object));
  }

  private emitUpdate(object: T, old: T): void {
    for (const handler of this.updateHandlers) {
      this.safely('update', object, () => handler(object, old));
    }
  }

  private emitDelete(object: T): void {
    for (const handler of this.deleteHandlers) this.safely('delete', object, () => handler(object));
  }

  private safely(what: string, object: T, call: () => void): void {
    try {
      call();
    } catch (error) {
      this.log.error(
        `informer ${what} handler threw`,
        this.fields({
          object: objectKey(object.metadata),
          error: errorText(error),
        }),
      );
    }
  }

  private fields(extra: Record<string, unknown>): Record<string, unknown> {
    return {
      kind: this.type.kind,
      ...(this.options.namespace !== undefined && { namespace: this.options.namespace }),
      ...(this.options.labelSelector !== undefined && {
        labelSelector: this.options.labelSelector,
      }),
      ...extra,
    };
  }
}

/** A function, so TypeScript does not narrow `signal.aborted` across awaits. */
function aborted(signal: AbortSignal): boolean {
  return signal.aborted;
}

function abortError(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason : new Error('waitForSync aborted', { cause: reason });
}

/** Duck-typed: errors from node: modules may come from another realm (Jest's VM contexts). */
function errorText(error: unknown): string {
  if (typeof error === 'object' && error !== null && 'message' in error) {
    return String(error.message);
  }
  return String(error);
}
