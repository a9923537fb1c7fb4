import { silentLogger, type Logger } from '../contracts/logger.js';
import { abortableSleep } from './backoff.js';
import type { KubeClient } from './kube-client.js';
import { isKubeApiError } from './kube-client.js';
import type { KubeObject } from './kube-object.js';
import { resourceTypes } from './resource-types.js';

/** The spec of a coordination.k8s.io/v1 Lease, as leader election uses it. */
export interface LeaseRecord {
  holderIdentity: string;
  leaseDurationSeconds: number;
  /** MicroTime: RFC 3339 with 6 fractional digits. */
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions: number;
}

export interface LeaseObject extends KubeObject {
  spec?: Partial<LeaseRecord>;
}

/**
 * When this elector first saw the lease record in its current state, on its own clock. As in
 * client-go, expiry is judged from when *we* saw the record last change, never from the
 * holder's renewTime: the clocks of two machines need not agree.
 */
export interface Observation {
  record: LeaseRecord;
  atMs: number;
}

export type LeaseDecision =
  | { action: 'create'; record: LeaseRecord }
  /** Write `record` (PUT, resourceVersion-checked): acquire or renew. */
  | { action: 'update'; record: LeaseRecord; observed: Observation }
  /** Someone else holds a lease that has not expired. */
  | { action: 'wait'; holder: string; expiresAtMs: number; observed: Observation };

/** "May I take (or keep) this lease now?": client-go's tryAcquireOrRenew, without the I/O. */
export function decideLease(input: {
  current: LeaseRecord | undefined;
  observed: Observation | undefined;
  identity: string;
  nowMs: number;
  /** Timestamp to write, as MicroTime. */
  nowTime: string;
  leaseDurationSeconds: number;
}): LeaseDecision {
  const { current, identity, nowMs, nowTime, leaseDurationSeconds } = input;
  if (current === undefined) {
    return {
      action: 'create',
      record: {
        holderIdentity: identity,
        leaseDurationSeconds,
        acquireTime: nowTime,
        renewTime: nowTime,
        leaseTransitions: 0,
      },
    };
  }
  const observed =
    input.observed !== undefined && sameRecord(input.observed.record, current)
      ? input.observed
      : { record: current, atMs: nowMs };
  const holder = current.holderIdentity;
  const expiresAtMs = observed.atMs + current.leaseDurationSeconds * 1000;
  if (holder !== '' && holder !== identity && expiresAtMs > nowMs) {
    return { action: 'wait', holder, expiresAtMs, observed };
  }
  const renewing = holder === identity;
  return {
    action: 'update',
    observed,
    record: {
      holderIdentity: identity,
      leaseDurationSeconds,
      acquireTime: renewing ? (current.acquireTime ?? nowTime) : nowTime,
      renewTime: nowTime,
      leaseTransitions: renewing ? current.leaseTransitions : current.leaseTransitions + 1,
    },
  };
}

function sameRecord(a: LeaseRecord, b: LeaseRecord): boolean {
  return (
    a.holderIdentity === b.holderIdentity &&
    a.leaseDurationSeconds === b.leaseDurationSeconds &&
    a.acquireTime === b.acquireTime &&
    a.renewTime === b.renewTime &&
    a.leaseTransitions === b.leaseTransitions
  );
}

/** Kubernetes MicroTime: 2024-05-01T12:00:00.123000Z. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** The record in a Lease object, with the defaults the API leaves out. */
export function leaseRecordOf(lease: LeaseObject): LeaseRecord {
  const spec = lease.spec ?? {};
  return {
    holderIdentity: spec.holderIdentity ?? '',
    leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
    ...(spec.acquireTime !== undefined && { acquireTime: spec.acquireTime }),
    ...(spec.renewTime !== undefined && { renewTime: spec.renewTime }),
    leaseTransitions: spec.leaseTransitions ?? 0,
  };
}

export type LeaseClient = Pick<KubeClient, 'get' | 'create' | 'replace'>;

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  /** Unique per process (e.g. pod name + random suffix): two electors must never share one. */
  identity: string;
  /** How long others wait after our last renewal before taking over (default 15 s). */
  leaseDurationMs?: number;
  /** A leader that could not renew for this long steps down (default 10 s). */
  renewDeadlineMs?: number;
  /** Pause between attempts to acquire or renew (default 2 s). */
  retryPeriodMs?: number;
  now?: () => number;
  random?: () => number;
  log?: Logger;
  /** Metrics hook, e.g. leader_election_master_status. */
  onLeaderChange?: (isLeader: boolean) => void;
}

export interface LeaderCallbacks {
  /** We lead now; `signal` aborts when we stop leading. */
  onStartedLeading: (signal: AbortSignal) => void;
  onStoppedLeading: () => void;
  /** The lease holder changed (including to ourselves). */
  onNewLeader?: (identity: string) => void;
}

type Attempt = 'leader' | 'not-leader' | 'failed';

/**
 * Lease-based leader election with controller-runtime's algorithm and defaults. Every write is
 * a resourceVersion-checked create or replace, so two electors can never both win a round.
 */
export class LeaderElector {
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly log: Logger;
  private observed: Observation | undefined;
  /** The lease as we last read or wrote it: its resourceVersion is needed for release. */
  private lastLease: LeaseObject | undefined;
  private leader = false;
  private lastHolder = '';
  private running: { abort: AbortController; done: Promise<void> } | undefined;

  constructor(
    private readonly client: LeaseClient,
    private readonly options: LeaderElectionOptions,
  ) {
    this.leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = options.retryPeriodMs ?? 2_000;
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.log = options.log ?? silentLogger;
    if (options.identity === '') throw new Error('leader election needs a non-empty identity');
    if (!(this.leaseDurationMs > this.renewDeadlineMs)) {
      throw new Error(
        `leaseDuration (${this.leaseDurationMs} ms) must be greater than renewDeadline (${this.renewDeadlineMs} ms)`,
      );
    }
    if (!(this.renewDeadlineMs > this.retryPeriodMs * 1.2)) {
      throw new Error(
        `renewDeadline (${this.renewDeadlineMs} ms) must be greater than 1.2 × retryPeriod (${this.retryPeriodMs} ms)`,
      );
    }
  }

  isLeader(): boolean {
    return this.leader;
  }

  /**
   * Tries to acquire the lease every retry period until it succeeds, then renews it. Resolves
   * when leadership is lost (could not renew within renewDeadline, or someone else took the
   * lease), when `signal` aborts (the lease is left to expire, as if this process died) or
   * after release().
   */
  async run(callbacks: LeaderCallbacks, signal?: AbortSignal): Promise<void> {
    if (this.running !== undefined) throw new Error('LeaderElector.run() is already running');
    const abort = new AbortController();
    const onOuterAbort = (): void => abort.abort();
    if (signal?.aborted === true) return;
    signal?.addEventListener('abort', onOuterAbort, { once: true });
    const done = this.runLoop(callbacks, abort.signal).finally(() => {
      signal?.removeEventListener('abort', onOuterAbort);
      this.running = undefined;
    });
    this.running = { abort, done };
    return done;
  }

  /**
   * Graceful shutdown: stops run() (aborting the leading signal) and, if we held the lease,
   * hands it back with an empty holder so that another replica takes over at once instead of
   * after the lease duration (controller-runtime's ReleaseOnCancel).
   */
  async release(): Promise<void> {
    const running = this.running;
    if (running !== undefined) {
      running.abort.abort();
      await running.done;
    }
    // Whatever the loop's state (it may have been stopped right after winning), if the lease
    // as we last wrote it names us, hand it back; the resourceVersion check below makes sure
    // we never clear a lease someone else holds by now.
    const deadline = this.now() + this.renewDeadlineMs;
    let lease: LeaseObject | undefined = this.lastLease;
    for (let attempt = 0; attempt < 3 && lease !== undefined; attempt += 1) {
      const record = leaseRecordOf(lease);
      if (record.holderIdentity !== this.options.identity) return;
      const nowTime = microTime(this.now());
      try {
        this.lastLease = await this.client.replace<LeaseObject>(
          resourceTypes.leases,
          {
            ...lease,
            spec: {
              ...lease.spec,
              holderIdentity: '',
              leaseDurationSeconds: 1,
              acquireTime: nowTime,
              renewTime: nowTime,
              leaseTransitions: record.leaseTransitions,
            },
          },
          { timeoutMs: Math.max(1, deadline - this.now()) },
        );
        this.log.info('released the leader lease', this.fields());
        return;
      } catch (error) {
        if (!isKubeApiError(error, 409)) {
          this.log.warn(
            'could not release the leader lease',
            this.fields({ error: message(error) }),
          );
          return;
        }
        // Our view was stale (e.g. an aborted renewal went through): read and try again.
        lease = await this.client
          .get<LeaseObject>(resourceTypes.leases, this.options.namespace, this.options.name, {
            timeoutMs: Math.max(1, deadline - this.now()),
          })
          .catch(() => undefined);
      }
    }
  }

  private async runLoop(callbacks: LeaderCallbacks, signal: AbortSignal): Promise<void> {
    // Acquire.
    let renewedAt = 0;
    for (;;) {
      if (aborted(signal)) return;
      const sentAt = this.now();
      const attempt = await this.tryAcquireOrRenew(
        callbacks,
        signal,
        sentAt + this.renewDeadlineMs,
      );
      if (attempt === 'leader') {
        renewedAt = sentAt;
        break;
      }
      await abortableSleep(this.retryPeriodMs * (1 + 0.2 * this.random()), signal);
    }
    if (aborted(signal)) return;

    const leading = new AbortController();
    this.setLeader(true);
    this.log.info('acquired the leader lease', this.fields());
    try {
      callbacks.onStartedLeading(leading.signal);
    } catch (error) {
      this.log.error('onStartedLeading threw', this.fields({ error: message(error) }));
    }

    // Renew. We count as leader only until renewedAt + renewDeadline, where renewedAt is when
    // the last successful write was *sent*: others wait a full lease duration from when they
    // saw that write, which is later, so a partitioned leader steps down before anyone
    // takes over.
    for (;;) {
      await abortableSleep(this.retryPeriodMs, signal);
      if (aborted(signal)) break;
      const deadline = renewedAt + this.renewDeadlineMs;
      const sentAt = this.now();
      if (sentAt >= deadline) {
        this.log.error('could not renew the leader lease in time', this.fields());
        break;
      }
      const attempt = await this.tryAcquireOrRenew(callbacks, signal, deadline);
      if (aborted(signal)) break;
      if (attempt === 'leader') renewedAt = sentAt;
      else if (attempt === 'not-leader') {
        this.log.error('the leader lease was taken by someone else', this.fields());
        break;
      } else if (this.now() >= deadline) {
        this.log.error('could not renew the leader lease in time', this.fields());
        break;
      }
    }
    this.setLeader(false);
    leading.abort(new Error('leadership lost'));
    try {
      callbacks.onStoppedLeading();
    } catch (error) {
      this.log.error('onStoppedLeading threw', this.fields({ error: message(error) }));
    }
  }

  /** One round: read the lease, decide, write. Never throws. */
  private async tryAcquireOrRenew(
    callbacks: LeaderCallbacks,
    signal: AbortSignal,
    deadlineMs: number,
  ): Promise<Attempt> {
    const { namespace, name, identity } = this.options;
    const call = (): { signal: AbortSignal; timeoutMs: number } => ({
      signal,
      timeoutMs: Math.max(1, deadlineMs - this.now()),
    });
    try {
      const lease = await this.client.get<LeaseObject>(
        resourceTypes.leases,
        namespace,
        name,
        call(),
      );
      const nowMs = this.now();
      const decision = decideLease({
        current: lease === undefined ? undefined : leaseRecordOf(lease),
        observed: this.observed,
        identity,
        nowMs,
        nowTime: microTime(nowMs),
        leaseDurationSeconds: Math.max(1, Math.ceil(this.leaseDurationMs / 1000)),
      });
      if (decision.action === 'wait') {
        this.observed = decision.observed;
        this.lastLease = lease;
        this.noteHolder(callbacks, decision.holder);
        return 'not-leader';
      }
      if (decision.action === 'create') {
        try {
          const created = await this.client.create<LeaseObject>(
            resourceTypes.leases,
            {
              apiVersion: 'coordination.k8s.io/v1',
              kind: 'Lease',
              metadata: { name, namespace },
              spec: decision.record,
            },
            call(),
          );
          this.wrote(created, decision.record, callbacks);
          return 'leader';
        } catch (error) {
          if (isKubeApiError(error, 409)) return 'not-leader';
          throw error;
        }
      }
      if (lease === undefined) return 'failed';
      this.observed = decision.observed;
      try {
        const updated = await this.client.replace<LeaseObject>(
          resourceTypes.leases,
          { ...lease, spec: { ...lease.spec, ...decision.record } },
          call(),
        );
        this.wrote(updated, decision.record, callbacks);
        return 'leader';
      } catch (error) {
        // Someone else wrote the lease since we read it: they won this round.
        if (isKubeApiError(error, 409)) return 'not-leader';
        throw error;
      }
    } catch (error) {
      if (!aborted(signal)) {
        this.log.warn('leader lease request failed', this.fields({ error: message(error) }));
      }
      return 'failed';
    }
  }

  private wrote(lease: LeaseObject, record: LeaseRecord, callbacks: LeaderCallbacks): void {
    this.lastLease = lease;
    this.observed = { record: leaseRecordOf(lease), atMs: this.now() };
    this.noteHolder(callbacks, record.holderIdentity);
  }

  private noteHolder(callbacks: LeaderCallbacks, holder: string): void {
    if (holder === this.lastHolder) return;
    this.lastHolder = holder;
    try {
      callbacks.onNewLeader?.(holder);
    } catch (error) {
      this.log.error('onNewLeader threw', this.fields({ error: message(error) }));
    }
  }

  private setLeader(value: boolean): void {
    if (this.leader === value) return;
    this.leader = value;
    this.options.onLeaderChange?.(value);
  }

  private fields(extra: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      lease: `${this.options.namespace}/${this.options.name}`,
      identity: this.options.identity,
      ...extra,
    };
  }
}

function message(error: unknown): string {
  // Duck-typed: errors from node: modules may come from another realm (Jest's VM contexts).
  if (typeof error === 'object' && error !== null && 'message' in error) {
    return String(error.message);
  }
  return String(error);
}

/** A function, so TypeScript does not narrow `signal.aborted` across awaits. */
function aborted(signal: AbortSignal): boolean {
  return signal.aborted;
}
