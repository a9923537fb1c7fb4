import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import {
  silentLogger,
  type LogFields,
  type Logger,
  type LogLevel,
} from '../../contracts/logger.js';
import { systemClock, type Clock } from './clock.js';
import { getOrCreateCounter, getOrCreateGauge, getOrCreateHistogram } from './metrics.js';
import {
  GROVE_RATE_LIMITER_OPTIONS,
  defaultControllerRateLimiter,
  type RateLimiter,
  type RateLimiterOptions,
} from './rate-limiter.js';
import { WorkQueue } from './work-queue.js';

/**
 * What a reconcile asks for besides "done": `requeueAfterMs` re-runs the key after that
 * delay (backoff forgotten); `requeue` re-runs it after the rate limiter's backoff.
 */
export type ReconcileResult = { requeueAfterMs?: number; requeue?: boolean } | undefined;

export interface ControllerOptions {
  /** Names the controller in logs and metrics (label `controller`, queue label `name`). */
  name: string;
  /**
   * Brings the object named `key` ("namespace/name") to its desired state. Never runs twice
   * at once for one key. `signal` aborts on reconcileTimeoutMs and when stop's grace ends.
   */
  reconcile: (key: string, signal: AbortSignal) => Promise<ReconcileResult>;
  /** Default 1. */
  maxConcurrentReconciles?: number;
  /**
   * Backoff of failing keys: options for the default controller rate limiter (its missing
   * fields default to Grove's 200 ms base and 5 min cap) or a limiter of your own.
   */
  rateLimiter?: RateLimiterOptions | RateLimiter;
  registry: Registry;
  clock?: Clock;
  /** Every entry carries the field `controller` (the name). */
  log?: Logger;
  /** Aborts the reconcile's signal after this long; the key stays busy until it settles. */
  reconcileTimeoutMs?: number;
  /** How long stop() lets reconciles run before aborting their signal. Default 30 s. */
  stopGraceMs?: number;
}

export class ControllerOptionsError extends Error {
  override readonly name = 'ControllerOptionsError';
}

export class ControllerStateError extends Error {
  override readonly name = 'ControllerStateError';
}

/** The abort reason when a reconcile exceeds reconcileTimeoutMs. */
export class ReconcileTimeoutError extends Error {
  override readonly name = 'ReconcileTimeoutError';
}

/** The abort reason when stop's grace period ends before a reconcile did. */
export class ControllerStoppedError extends Error {
  override readonly name = 'ControllerStoppedError';
}

/** The `result` label of controller_runtime_reconcile_total: how a reconcile ended. */
type ResultLabel = 'success' | 'error' | 'requeue' | 'requeue_after';
const RESULT_LABELS: readonly ResultLabel[] = ['success', 'error', 'requeue', 'requeue_after'];

// controller-runtime's buckets for controller_runtime_reconcile_time_seconds.
const RECONCILE_TIME_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9,
  1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
];

interface ControllerMetrics {
  reconcileTotal: Counter<'controller' | 'result'>;
  reconcileErrors: Counter<'controller'>;
  reconcileTime: Histogram<'controller'>;
  maxConcurrentReconciles: Gauge<'controller'>;
  activeWorkers: Gauge<'controller'>;
}

function controllerMetrics(registry: Registry): ControllerMetrics {
  return {
    reconcileTotal: getOrCreateCounter(registry, {
      name: 'controller_runtime_reconcile_total',
      help: 'Total number of reconciliations per controller',
      labelNames: ['controller', 'result'] as const,
    }),
    reconcileErrors: getOrCreateCounter(registry, {
      name: 'controller_runtime_reconcile_errors_total',
      help: 'Total number of reconciliation errors per controller',
      labelNames: ['controller'] as const,
    }),
    reconcileTime: getOrCreateHistogram(registry, {
      name: 'controller_runtime_reconcile_time_seconds',
      help: 'Length of time per reconciliation per controller',
      labelNames: ['controller'] as const,
      buckets: RECONCILE_TIME_BUCKETS,
    }),
    maxConcurrentReconciles: getOrCreateGauge(registry, {
      name: 'controller_runtime_max_concurrent_reconciles',
      help: 'Maximum number of concurrent reconciles per controller',
      labelNames: ['controller'] as const,
    }),
    activeWorkers: getOrCreateGauge(registry, {
      name: 'controller_runtime_active_workers',
      help: 'Number of currently used workers per controller',
      labelNames: ['controller'] as const,
    }),
  };
}

function isRateLimiter(value: RateLimiterOptions | RateLimiter): value is RateLimiter {
  return typeof (value as Partial<RateLimiter>).when === 'function';
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * controller-runtime's controller loop: N workers take keys from a rate-limited work queue
 * and reconcile them; failures retry with per-key exponential backoff, successes forget it.
 */
export class Controller {
  readonly name: string;
  readonly queue: WorkQueue;
  private readonly reconcile: ControllerOptions['reconcile'];
  private readonly workerCount: number;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly reconcileTimeoutMs: number | undefined;
  private readonly stopGraceMs: number;
  private readonly metrics: ControllerMetrics;
  private readonly labels: { controller: string };
  private readonly inFlight = new Set<AbortController>();
  private workers: Promise<void>[] = [];
  private started = false;
  private stopping: Promise<void> | undefined;

  constructor(options: ControllerOptions) {
    const workers = options.maxConcurrentReconciles ?? 1;
    if (!Number.isInteger(workers) || workers < 1) {
      throw new ControllerOptionsError(
        `controller ${options.name}: maxConcurrentReconciles must be an integer ≥ 1, got ${workers}`,
      );
    }
    for (const [field, value] of [
      ['reconcileTimeoutMs', options.reconcileTimeoutMs],
      ['stopGraceMs', options.stopGraceMs],
    ] as const) {
      if (value !== undefined && !(value >= 0)) {
        throw new ControllerOptionsError(
          `controller ${options.name}: ${field} must be ≥ 0, got ${value}`,
        );
      }
    }
    this.name = options.name;
    this.reconcile = options.reconcile;
    this.workerCount = workers;
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? silentLogger;
    this.reconcileTimeoutMs = options.reconcileTimeoutMs;
    this.stopGraceMs = options.stopGraceMs ?? 30_000;
    const limiter = options.rateLimiter ?? {};
    this.queue = new WorkQueue({
      name: options.name,
      registry: options.registry,
      clock: this.clock,
      rateLimiter: isRateLimiter(limiter)
        ? limiter
        : defaultControllerRateLimiter({
            ...GROVE_RATE_LIMITER_OPTIONS,
            clock: this.clock,
            ...limiter,
          }),
    });
    this.labels = { controller: options.name };
    this.metrics = controllerMetrics(options.registry);
    // Series exist from the start (as controller-runtime's initMetrics), at 0.
    for (const result of RESULT_LABELS)
      this.metrics.reconcileTotal.inc({ ...this.labels, result }, 0);
    this.metrics.reconcileErrors.inc(this.labels, 0);
    this.metrics.activeWorkers.set(this.labels, 0);
    this.metrics.maxConcurrentReconciles.set(this.labels, workers);
  }

  /** Queues `key` for reconcile (de-duplicated). Usable before start. */
  enqueue(key: string): void {
    this.queue.add(key);
  }

  /** Queues `key` after `ms` milliseconds. */
  enqueueAfter(key: string, ms: number): void {
    this.queue.addAfter(key, ms);
  }

  /** Starts maxConcurrentReconciles workers. Call once, after the caches have synced. */
  start(): void {
    if (this.started || this.stopping !== undefined) {
      throw new ControllerStateError(`controller ${this.name}: start called twice or after stop`);
    }
    this.started = true;
    this.safeLog('info', 'Starting workers', { workerCount: this.workerCount });
    for (let i = 0; i < this.workerCount; i++) {
      // Stored and awaited by stop; the catch keeps a broken worker from being an unhandled
      // rejection in between.
      this.workers.push(
        this.runWorker().catch((error: unknown) => {
          this.safeLog('error', 'Worker stopped by an unexpected error', {
            error: errorMessage(error),
          });
        }),
      );
    }
  }

  /**
   * Stops handing out keys (queued and delayed keys are dropped), then waits for running
   * reconciles; after stopGraceMs their signal is aborted, and stop still waits for them
   * to settle, so no reconcile outlives it.
   */
  stop(): Promise<void> {
    this.stopping ??= this.shutDown();
    return this.stopping;
  }

  private async shutDown(): Promise<void> {
    this.queue.shutDown();
    const grace = this.clock.setTimeout(() => {
      for (const abort of this.inFlight) {
        abort.abort(
          new ControllerStoppedError(
            `controller ${this.name} stopped: reconcile aborted after a ${this.stopGraceMs} ms grace`,
          ),
        );
      }
    }, this.stopGraceMs);
    try {
      await Promise.all(this.workers);
      await this.queue.shutDownWithDrain();
    } finally {
      grace.cancel();
      this.workers = [];
    }
    this.safeLog('info', 'All workers finished', {});
  }

  private async runWorker(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      try {
        await this.reconcileHandler(key);
      } finally {
        this.queue.done(key);
      }
    }
  }

  private async reconcileHandler(key: string): Promise<void> {
    const abort = new AbortController();
    this.inFlight.add(abort);
    const timeoutMs = this.reconcileTimeoutMs;
    const timeout =
      timeoutMs === undefined
        ? undefined
        : this.clock.setTimeout(() => {
            abort.abort(
              new ReconcileTimeoutError(`reconcile of ${key} timed out after ${timeoutMs} ms`),
            );
          }, timeoutMs);
    this.metrics.activeWorkers.inc(this.labels);
    const started = this.clock.now();
    let result: ReconcileResult;
    let failure: { error: unknown } | undefined;
    try {
      // A reconcile that throws synchronously counts like one that rejects.
      result = await Promise.resolve().then(() => this.reconcile(key, abort.signal));
    } catch (error) {
      failure = { error };
    } finally {
      timeout?.cancel();
      this.inFlight.delete(abort);
      this.metrics.activeWorkers.dec(this.labels);
      this.metrics.reconcileTime.observe(this.labels, (this.clock.now() - started) / 1000);
    }

    let outcome: ResultLabel;
    if (failure !== undefined) {
      outcome = 'error';
      this.queue.addRateLimited(key);
      this.metrics.reconcileErrors.inc(this.labels);
      this.safeLog('error', 'Reconciler error', {
        key,
        error: errorMessage(failure.error),
        retries: this.queue.numRequeues(key),
      });
    } else if (result?.requeueAfterMs !== undefined && result.requeueAfterMs > 0) {
      outcome = 'requeue_after';
      this.queue.forget(key);
      this.queue.addAfter(key, result.requeueAfterMs);
    } else if (result?.requeue === true) {
      outcome = 'requeue';
      this.queue.addRateLimited(key);
    } else {
      outcome = 'success';
      this.queue.forget(key);
    }
    this.metrics.reconcileTotal.inc({ ...this.labels, result: outcome });
  }

  // A throwing log sink must not kill a worker (its promise has no handler until stop).
  private safeLog(level: LogLevel, msg: string, fields: LogFields): void {
    try {
      this.log[level](msg, { controller: this.name, ...fields });
    } catch {
      // Nothing sensible to do: logging is best effort.
    }
  }
}
