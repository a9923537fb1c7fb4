import type { Logger } from '../../contracts/logger.js';
import type { AuditEntry } from '../model.js';

/** One refused attempt by someone without a valid credential: a failed login or enrollment. */
export interface RefusedAttempt {
  action: string;
  domain?: string | undefined;
  /** What makes two attempts "the same" besides action, domain and address: the reason or error code. */
  reason: string;
  /** The client address (the proxy's forwarded one only when the proxy is trusted). */
  address: string;
  /** The route tried, as its pattern (`GET /v1/admin/whoami`): one of a few dozen. */
  route?: string;
  /** A few fixed fields of the first attempt (method, path); never text the caller chose freely. */
  details?: Record<string, string>;
  /** Refused by the rate limit before it was even checked. */
  rateLimited?: boolean;
}

export interface FailureAuditOptions {
  /** Repeats within this long after a first attempt are written as one entry (default 60 s). */
  windowMs?: number;
  /** Distinct (action, domain, route, reason, address) open at once; more fold into address "*". */
  maxOpen?: number;
}

interface OpenWindow {
  attempt: RefusedAttempt;
  repeats: number;
  rateLimited: number;
  firstAt: Date;
  lastAt: Date;
  timer: NodeJS.Timeout;
}

/**
 * Writes refused anonymous attempts to the audit log without letting a flood write one entry
 * per attempt: the first attempt of its kind is written at once (count 1); its repeats within
 * the window are counted in memory and written as one entry when the window closes
 * (`details.count`, `details.rateLimited`, `details.firstAt`), or when the Manager stops. So one
 * client address costs at most two entries a window however fast it tries.
 */
export class FailureAudit {
  private readonly open = new Map<string, OpenWindow>();
  private readonly windowMs: number;
  private readonly maxOpen: number;

  constructor(
    private readonly write: (entry: Omit<AuditEntry, 'id'>) => Promise<unknown>,
    private readonly now: () => Date,
    private readonly log: Logger,
    options: FailureAuditOptions = {},
  ) {
    this.windowMs = options.windowMs ?? 60_000;
    this.maxOpen = options.maxOpen ?? 10_000;
  }

  async record(attempt: RefusedAttempt): Promise<void> {
    let key = keyOf(attempt);
    let window = this.open.get(key);
    if (window === undefined && this.open.size >= this.maxOpen) {
      attempt = { ...attempt, address: '*' };
      key = keyOf(attempt);
      window = this.open.get(key);
    }
    const now = this.now();
    if (window !== undefined) {
      window.repeats++;
      if (attempt.rateLimited === true) window.rateLimited++;
      window.lastAt = now;
      return;
    }
    const timer = setTimeout(() => void this.close(key), this.windowMs);
    timer.unref();
    this.open.set(key, { attempt, repeats: 0, rateLimited: 0, firstAt: now, lastAt: now, timer });
    await this.write(
      entryOf(attempt, now, {
        count: 1,
        ...(attempt.rateLimited === true ? { rateLimited: 1 } : {}),
      }),
    );
  }

  /** Writes the repeats of one window, if any. */
  private async close(key: string): Promise<void> {
    const window = this.open.get(key);
    if (window === undefined) return;
    this.open.delete(key);
    clearTimeout(window.timer);
    if (window.repeats === 0) return;
    try {
      await this.write(
        entryOf(window.attempt, window.lastAt, {
          count: window.repeats,
          rateLimited: window.rateLimited,
          firstAt: window.firstAt.toISOString(),
          repeated: true,
        }),
      );
    } catch (error) {
      this.log.warn('could not write the audit entry of repeated failures', {
        action: window.attempt.action,
        count: window.repeats,
        error: String(error),
      });
    }
  }

  /** Writes every open window's repeats now (the Manager is stopping). */
  async flush(): Promise<void> {
    await Promise.all([...this.open.keys()].map((key) => this.close(key)));
  }
}

function keyOf(attempt: RefusedAttempt): string {
  return JSON.stringify([
    attempt.action,
    attempt.domain ?? '',
    attempt.route ?? '',
    attempt.reason,
    attempt.address,
  ]);
}

function entryOf(
  attempt: RefusedAttempt,
  time: Date,
  counts: Record<string, unknown>,
): Omit<AuditEntry, 'id'> {
  return {
    time: time.toISOString(),
    actor: 'anonymous',
    action: attempt.action,
    outcome: 'failure',
    ...(attempt.domain === undefined ? {} : { domain: attempt.domain }),
    details: { ...attempt.details, reason: attempt.reason, address: attempt.address, ...counts },
  };
}
