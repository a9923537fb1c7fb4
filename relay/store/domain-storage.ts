import type { RedisClient } from '../../contracts/redis/connection.js';
import { ledgerApplyScript, type LedgerEntry } from '../../contracts/redis/device-queue-scripts.js';
import { directoryKeys } from '../../contracts/redis/keys.js';
import { runScript } from '../../contracts/redis/script-runner.js';

/** How often ledger entries collected on Redis Cluster are applied. */
const FLUSH_MS = 100;
/** How old a domain's total may be before a send reads it again (Redis Cluster). */
const TOTAL_MAX_AGE_MS = 1000;

/**
 * The relay's side of each domain's storage ledger (contracts/redis/lua/includes/ledger.lua):
 * how many bytes the domain holds in Redis, checked against its maxDomainStoredBytes.
 *
 * On a standalone Redis the queue and payload scripts keep the ledger themselves, in the same
 * call as the change, so the total is exact and every reply brings it here. On Redis Cluster
 * the ledger lives in the domain's slot, apart from the devices' and payloads' slots: the
 * scripts return their absolute, versioned entries and this applies them, coalesced, every
 * 100 ms in one call per domain; the total a send is checked against is the last one seen,
 * read again when older than a second.
 */
export class DomainStorage {
  private readonly totals = new Map<string, { bytes: number; at: number }>();
  private readonly reading = new Map<string, Promise<number>>();
  private pending = new Map<string, Map<string, LedgerEntry>>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly redis: RedisClient,
    private readonly clock: () => number,
    /** Told each total seen (the relay's gauge). */
    private readonly onTotal: (domain: string, bytes: number) => void = () => undefined,
    /** Told of each failed ledger call (the relay's Redis error count). */
    private readonly onError: () => void = () => undefined,
  ) {}

  /** The queue scripts keep the ledger in the same call (a standalone Redis). */
  get inScripts(): boolean {
    return !this.redis.isCluster;
  }

  /** A total a script returned (undefined: it kept no ledger). */
  noteTotal(domain: string, total: number | undefined): void {
    if (total === undefined) return;
    this.totals.set(domain, { bytes: total, at: this.clock() });
    this.onTotal(domain, total);
  }

  /**
   * The domain's total as last seen; on Redis Cluster read again when older than a second (a
   * read in the background once one is known, so a send waits for it at most once).
   */
  async total(domain: string): Promise<number> {
    const known = this.totals.get(domain);
    if (known !== undefined && this.clock() - known.at < TOTAL_MAX_AGE_MS) return known.bytes;
    const read = this.read(domain);
    if (known !== undefined) {
      read.catch(() => this.onError());
      return known.bytes;
    }
    return read;
  }

  private read(domain: string): Promise<number> {
    let reading = this.reading.get(domain);
    if (reading === undefined) {
      reading = this.redis
        .hget(directoryKeys(domain).storage, 'total')
        .then((value) => {
          const total = Number(value ?? 0);
          this.noteTotal(domain, total);
          return total;
        })
        .finally(() => this.reading.delete(domain));
      this.reading.set(domain, reading);
    }
    return reading;
  }

  /** Ledger entries a script returned (Redis Cluster): applied within FLUSH_MS. */
  record(domain: string, entries: readonly LedgerEntry[]): void {
    if (this.inScripts || entries.length === 0) return;
    let byMember = this.pending.get(domain);
    if (byMember === undefined) {
      byMember = new Map();
      this.pending.set(domain, byMember);
    }
    for (const entry of entries) {
      const known = byMember.get(entry.member);
      if (known === undefined || known.version <= entry.version) byMember.set(entry.member, entry);
    }
    if (this.timer === undefined) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, FLUSH_MS);
      this.timer.unref();
    }
  }

  /** Applies what was recorded; entries whose call failed are kept for the next flush. */
  async flush(): Promise<void> {
    if (this.flushing !== undefined) await this.flushing;
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    this.flushing = (async () => {
      await Promise.all(
        [...batch].map(async ([domain, byMember]) => {
          try {
            const total = await runScript(this.redis, ledgerApplyScript, {
              domain,
              now: this.clock(),
              entries: [...byMember.values()],
            });
            this.noteTotal(domain, total);
          } catch {
            this.onError();
            this.record(domain, [...byMember.values()]);
          }
        }),
      );
    })();
    try {
      await this.flushing;
    } finally {
      this.flushing = undefined;
    }
  }

  /** Applies what is pending now (a drain) and stops the timer. */
  async stop(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush().catch(() => undefined);
  }
}
