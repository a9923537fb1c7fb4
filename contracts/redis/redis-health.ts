import type { Logger } from '../logger.js';
import type { RedisClient } from './connection.js';

/** What the health tracker says, for a gauge or a readiness answer. */
export interface RedisHealthState {
  /** Every watched connection is ready. */
  up: boolean;
  /** When the current outage began (epoch ms), or undefined while up. */
  downSince: number | undefined;
  /** The last connection error seen during the current outage, e.g. "connect ECONNREFUSED …". */
  lastError: string | undefined;
}

export interface RedisHealthOptions {
  /** Where Redis is, for the log (never with a password). */
  target: string;
  now?: () => number;
  /** Called on every change of `up`, e.g. to set a gauge. */
  onChange?: (up: boolean) => void;
}

/** `redis://user:secret@host` → `redis://user:***@host`; seed lists are kept as they are. */
export function redactRedisUrl(url: string): string {
  return url.replace(/^(rediss?:\/\/[^:@/]*:)[^@/]*@/, '$1***@');
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as NodeJS.ErrnoException).code;
  return code !== undefined && !error.message.includes(code)
    ? `${code}: ${error.message}`
    : error.message;
}

/**
 * Watches a process's Redis connections and logs each outage exactly twice: once when the first
 * connection is lost (with the connection error), once when every connection is ready again
 * (with how long Redis was unavailable). A process that cannot reach Redis when it starts logs
 * that once too, and how long it waited once connected. ioredis reconnects by itself; this only
 * tells the operator what happens, instead of the silence of a swallowed 'error' event.
 */
export class RedisHealth {
  private readonly clients = new Map<RedisClient, { role: string; ready: boolean }>();
  private readonly now: () => number;
  private readonly startedAt: number;
  private everUp = false;
  private downSince: number | undefined;
  private lastError: string | undefined;
  private reported = false;
  /** The last `up` given to onChange. */
  private notified: boolean | undefined;

  constructor(
    private readonly log: Logger,
    private readonly options: RedisHealthOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
  }

  /** Tracks one connection (`role`: "commands", "subscriber", …). */
  watch(client: RedisClient, role: string): void {
    const entry = { role, ready: client.status === 'ready' };
    this.clients.set(client, entry);
    client.on('ready', () => {
      entry.ready = true;
      this.update();
    });
    const lost = () => {
      if (!entry.ready) return;
      entry.ready = false;
      this.update(role);
    };
    client.on('close', lost);
    client.on('end', lost);
    client.on('error', (error: unknown) => {
      this.lastError = describe(error);
      // Not ready when it fails: a Redis that never answered is an outage from the start.
      if (!this.everUp && !this.reported) this.update(role);
    });
    this.update();
  }

  get state(): RedisHealthState {
    return { up: this.isUp(), downSince: this.downSince, lastError: this.lastError };
  }

  private isUp(): boolean {
    return this.clients.size > 0 && [...this.clients.values()].every((entry) => entry.ready);
  }

  private update(lostRole?: string): void {
    const up = this.isUp();
    if (up !== this.notified) {
      this.notified = up;
      this.options.onChange?.(up);
    }
    const now = this.now();
    if (up) {
      if (!this.everUp) {
        this.everUp = true;
        if (this.reported) {
          this.log.info('connected to Redis', {
            redis: this.options.target,
            waitedMs: now - this.startedAt,
          });
        }
      } else if (this.downSince !== undefined) {
        this.log.info('Redis is available again', {
          redis: this.options.target,
          downMs: now - this.downSince,
        });
      }
      this.downSince = undefined;
      this.lastError = undefined;
      this.reported = false;
      return;
    }
    if (lostRole === undefined || this.reported) return;
    // The first loss of this outage: log it once, whatever the other connections do next.
    this.reported = true;
    if (!this.everUp) {
      this.log.warn('cannot reach Redis yet; retrying', {
        redis: this.options.target,
        error: this.lastError ?? 'not connected',
      });
      return;
    }
    this.downSince = now;
    this.log.warn(
      'lost the connection to Redis; requests fail with STORAGE_UNAVAILABLE until it is back',
      {
        redis: this.options.target,
        connection: lostRole,
        error: this.lastError ?? 'connection closed',
      },
    );
  }
}
