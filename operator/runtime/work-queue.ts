import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { systemClock, type Clock, type Timer } from './clock.js';
import {
  addCollectHook,
  getOrCreateCollectedGauge,
  getOrCreateCounter,
  getOrCreateGauge,
  getOrCreateHistogram,
} from './metrics.js';
import { defaultControllerRateLimiter, type RateLimiter } from './rate-limiter.js';

export interface WorkQueueOptions {
  /** Names the queue in metrics (labels `name` and `controller`, as controller-runtime). */
  name: string;
  /** Where the workqueue_* metrics go; none when omitted. */
  registry?: Registry;
  clock?: Clock;
  /** Used by addRateLimited; default: controller-runtime's default controller rate limiter. */
  rateLimiter?: RateLimiter;
}

type QueueLabel = 'name' | 'controller';

// client-go's prometheus.ExponentialBuckets(10e-9, 10, 12): 10 ns to 1000 s.
const QUEUE_BUCKETS = Array.from({ length: 12 }, (_, i) => Number((1e-8 * 10 ** i).toPrecision(1)));

interface QueueMetrics {
  depth: Gauge<QueueLabel>;
  adds: Counter<QueueLabel>;
  queueDuration: Histogram<QueueLabel>;
  workDuration: Histogram<QueueLabel>;
  retries: Counter<QueueLabel>;
  unfinished: Gauge<QueueLabel>;
  longestRunning: Gauge<QueueLabel>;
}

function queueMetrics(registry: Registry): QueueMetrics {
  const labelNames = ['name', 'controller'] as const;
  return {
    depth: getOrCreateGauge(registry, {
      name: 'workqueue_depth',
      help: 'Current depth of workqueue',
      labelNames,
    }),
    adds: getOrCreateCounter(registry, {
      name: 'workqueue_adds_total',
      help: 'Total number of adds handled by workqueue',
      labelNames,
    }),
    queueDuration: getOrCreateHistogram(registry, {
      name: 'workqueue_queue_duration_seconds',
      help: 'How long in seconds an item stays in workqueue before being requested',
      labelNames,
      buckets: QUEUE_BUCKETS,
    }),
    workDuration: getOrCreateHistogram(registry, {
      name: 'workqueue_work_duration_seconds',
      help: 'How long in seconds processing an item from workqueue takes.',
      labelNames,
      buckets: QUEUE_BUCKETS,
    }),
    retries: getOrCreateCounter(registry, {
      name: 'workqueue_retries_total',
      help: 'Total number of retries handled by workqueue',
      labelNames,
    }),
    unfinished: getOrCreateCollectedGauge(registry, {
      name: 'workqueue_unfinished_work_seconds',
      help:
        "How many seconds of work has been done that is in progress and hasn't been observed by " +
        'work_duration. Large values indicate stuck threads. One can deduce the number of stuck ' +
        'threads by observing the rate at which this increases.',
      labelNames,
    }),
    longestRunning: getOrCreateCollectedGauge(registry, {
      name: 'workqueue_longest_running_processor_seconds',
      help: 'How many seconds has the longest running processor for workqueue been running.',
      labelNames,
    }),
  };
}

/**
 * client-go's rate-limited delaying work queue, for string keys ("namespace/name").
 *
 * - A key is queued at most once however often it is added (`dirty`).
 * - A key handed out by `get` is `processing` until `done`; adding it meanwhile only marks it
 *   dirty, and `done` queues it again, so one key is never processed twice at once.
 * - After shutdown, adds are ignored and `get` resolves `undefined` (unlike client-go, keys
 *   still queued are not handed out: a stopping controller starts no new reconcile).
 */
export class WorkQueue {
  readonly name: string;
  private readonly clock: Clock;
  private readonly rateLimiter: RateLimiter;
  private readonly queue: string[] = [];
  private head = 0;
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly getters: ((key: string | undefined) => void)[] = [];
  private readonly waiting = new Map<string, { readyAt: number; timer: Timer }>();
  private readonly addTimes = new Map<string, number>();
  private readonly processingStarts = new Map<string, number>();
  private drainWaiters: (() => void)[] = [];
  private shuttingDown = false;
  private readonly metrics: QueueMetrics | undefined;
  private readonly labels: Record<QueueLabel, string>;
  private readonly removeCollectHooks: (() => void)[] = [];

  constructor(options: WorkQueueOptions) {
    this.name = options.name;
    this.clock = options.clock ?? systemClock;
    this.rateLimiter = options.rateLimiter ?? defaultControllerRateLimiter({ clock: this.clock });
    this.labels = { name: options.name, controller: options.name };
    this.metrics = options.registry === undefined ? undefined : queueMetrics(options.registry);
    if (this.metrics !== undefined) {
      const m = this.metrics;
      // Series exist from the start, so dashboards see 0 rather than nothing.
      m.depth.set(this.labels, 0);
      m.adds.inc(this.labels, 0);
      m.retries.inc(this.labels, 0);
      const update = () => this.updateUnfinishedWork(m);
      update();
      this.removeCollectHooks.push(
        addCollectHook(m.unfinished, update),
        addCollectHook(m.longestRunning, update),
      );
    }
  }

  /** Queues `key` unless it is already queued; a key being processed is queued again at `done`. */
  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.metrics?.adds.inc(this.labels);
    this.metrics?.depth.inc(this.labels);
    if (!this.addTimes.has(key)) this.addTimes.set(key, this.clock.now());
    this.dirty.add(key);
    if (this.processing.has(key)) return;
    this.queue.push(key);
    this.handOut();
  }

  /**
   * Adds `key` after `ms` milliseconds. While a key waits, a later deadline is ignored and an
   * earlier one replaces it. Counted in workqueue_retries_total, as in client-go.
   */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    this.metrics?.retries.inc(this.labels);
    if (!(ms > 0)) {
      this.add(key);
      return;
    }
    const readyAt = this.clock.now() + ms;
    const existing = this.waiting.get(key);
    if (existing !== undefined) {
      if (existing.readyAt <= readyAt) return;
      existing.timer.cancel();
    }
    const timer = this.clock.setTimeout(() => {
      this.waiting.delete(key);
      this.add(key);
    }, ms);
    this.waiting.set(key, { readyAt, timer });
  }

  /** Adds `key` after the rate limiter's delay for it (one more retry). */
  addRateLimited(key: string): void {
    this.addAfter(key, this.rateLimiter.when(key));
  }

  /** Resets the rate limiter's backoff for `key`. */
  forget(key: string): void {
    this.rateLimiter.forget(key);
  }

  numRequeues(key: string): number {
    return this.rateLimiter.retries(key);
  }

  /** The next key to process; waits for one. `undefined` once the queue is shut down. */
  get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.take();
    if (key !== undefined) return Promise.resolve(key);
    return new Promise((resolve) => this.getters.push(resolve));
  }

  /** Marks the processing of `key` finished; queues it again if it was added meanwhile. */
  done(key: string): void {
    // Ignoring a stray done keeps a misuse from queueing a key twice.
    if (!this.processing.has(key)) return;
    const started = this.processingStarts.get(key);
    if (started !== undefined) {
      this.metrics?.workDuration.observe(this.labels, (this.clock.now() - started) / 1000);
      this.processingStarts.delete(key);
    }
    this.processing.delete(key);
    if (this.dirty.has(key)) {
      this.queue.push(key);
      this.handOut();
    } else if (this.processing.size === 0) {
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const resolve of waiters) resolve();
    }
    this.releaseMetricsIfFinished();
  }

  /** Keys queued and not being processed. */
  len(): number {
    return this.queue.length - this.head;
  }

  isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /** Ignores further adds, drops pending addAfter timers, and releases waiting `get`s. */
  shutDown(): void {
    if (!this.shuttingDown) {
      this.shuttingDown = true;
      for (const { timer } of this.waiting.values()) timer.cancel();
      this.waiting.clear();
      for (const resolve of this.getters.splice(0)) resolve(undefined);
      this.releaseMetricsIfFinished();
    }
  }

  /** Shuts down, then waits until every key handed out has been marked done. */
  shutDownWithDrain(): Promise<void> {
    this.shutDown();
    if (this.processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  // A finished queue reports no unfinished work and stops being collected, so a discarded
  // queue is not kept alive by the registry's gauges.
  private releaseMetricsIfFinished(): void {
    if (!this.shuttingDown || this.processing.size > 0 || this.metrics === undefined) return;
    this.updateUnfinishedWork(this.metrics);
    for (const remove of this.removeCollectHooks.splice(0)) remove();
  }

  private handOut(): void {
    while (this.getters.length > 0) {
      const key = this.take();
      if (key === undefined) return;
      this.getters.shift()?.(key);
    }
  }

  private take(): string | undefined {
    if (this.head >= this.queue.length) return undefined;
    const key = this.queue[this.head];
    if (key === undefined) return undefined;
    this.head++;
    // Compact now and then instead of shift()ing, which is O(n) per call.
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    const now = this.clock.now();
    this.metrics?.depth.dec(this.labels);
    const added = this.addTimes.get(key);
    if (added !== undefined) {
      this.metrics?.queueDuration.observe(this.labels, (now - added) / 1000);
      this.addTimes.delete(key);
    }
    this.processingStarts.set(key, now);
    this.processing.add(key);
    this.dirty.delete(key);
    return key;
  }

  private updateUnfinishedWork(m: QueueMetrics): void {
    const now = this.clock.now();
    let total = 0;
    let longest = 0;
    for (const started of this.processingStarts.values()) {
      const seconds = (now - started) / 1000;
      total += seconds;
      longest = Math.max(longest, seconds);
    }
    m.unfinished.set(this.labels, total);
    m.longestRunning.set(this.labels, longest);
  }
}
