import type { RedisClient } from '../../contracts/redis/connection.js';
import { ledgerApplyScript, type LedgerEntry } from '../../contracts/redis/device-queue-scripts.js';
import { directoryKeys } from '../../contracts/redis/keys.js';
import { runScript } from '../../contracts/redis/script-runner.js';

/** How often ledger entries collected on Redis Cluster are applied. */
const FLUSH_MS = 100;
/** How old a domain's total may be before a send reads it again (Redis Cluster). */
const TOTAL_MAX_AGE_MS = 1000;
/**
 * How long a reservation counts at most: by then a flush took its entries and a total that
 * includes them was read (a safety net for a send whose store failed and recorded nothing).
 */
const RESERVATION_MAX_AGE_MS = 5000;

/**
 * The relay's side of each domain's storage ledger (contracts/redis/lua/includes/ledger.lua):
 * how many bytes the domain holds in Redis, checked against its maxDomainStoredBytes.
 *
 * On a standalone Redis the queue and payload scripts keep the ledger themselves, in the same
 * call as the change, so the total is exact and every reply brings it here. On Redis Cluster
 * the ledger lives in the domain's slot, apart from the devices' and payloads' slots: the
 * scripts return their absolute, versioned entries and this applies them, coalesced, every
 * 100 ms in one call per domain; the total a send is checked against is the last one seen,
 * read again when older than a second, plus what this relay's own sends reserved since (see
 * reserve), so one relay never overshoots the quota by more than its sends in flight. What
 * other relays stored since their last flush is not seen: the slack on a Cluster is what the
 * domain's devices on other relays store within about 1.1 s (the flush and the total's age).
 */
export class DomainStorage {
  /** `covers`: the last flush of this relay the total includes (Redis Cluster). */
  private readonly totals = new Map<string, { bytes: number; at: number; covers: number }>();
  private readonly reading = new Map<string, Promise<number>>();
  private pending = new Map<string, Map<string, LedgerEntry>>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  /** Flushes started (each takes what was recorded before it) and completed. */
  private flushesStarted = 0;
  private flushesDone = 0;
  /** Bytes this relay's sends reserved per domain, until a total includes them. */
  private readonly reserved = new Map<string, Set<Reservation>>();

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

  /**
   * A total a script returned (undefined: it kept no ledger). `covers`: the last of this
   * relay's flushes it includes (Redis Cluster; a standalone Redis's totals include all).
   */
  noteTotal(domain: string, total: number | undefined, covers = this.flushesStarted): void {
    if (total === undefined) return;
    // A read answered after a later flush's total is older news: the reservations that flush
    // covered are no longer counted, so taking it would undercount them.
    if (covers < (this.totals.get(domain)?.covers ?? 0)) return;
    this.totals.set(domain, { bytes: total, at: this.clock(), covers });
    this.onTotal(domain, total);
    const reserved = this.reserved.get(domain);
    if (reserved === undefined) return;
    for (const reservation of reserved) {
      if (reservation.flush <= covers) reserved.delete(reservation);
    }
    if (reserved.size === 0) this.reserved.delete(domain);
  }

  /**
   * The domain's total as last seen, plus what this relay's sends reserved since; on Redis
   * Cluster read again when older than a second (a read in the background once one is known,
   * so a send waits for it at most once).
   */
  async total(domain: string): Promise<number> {
    const known = this.totals.get(domain);
    if (known !== undefined && this.clock() - known.at < TOTAL_MAX_AGE_MS) {
      return known.bytes + this.reservedSince(domain, known.covers);
    }
    const read = this.read(domain);
    if (known !== undefined) {
      read.catch(() => this.onError());
      return known.bytes + this.reservedSince(domain, known.covers);
    }
    const total = await read;
    return total + this.reservedSince(domain, this.totals.get(domain)?.covers ?? 0);
  }

  /**
   * Counts `bytes` a send is about to store against the domain's total until a total that
   * includes them is seen (Redis Cluster; nothing to do on a standalone Redis, where the
   * script checks the quota in the same call). Call `stored()` once the send's ledger
   * entries were recorded (or its store failed).
   */
  reserve(domain: string, bytes: number): { stored(): void } {
    if (this.inScripts) return { stored: () => undefined };
    let reserved = this.reserved.get(domain);
    if (reserved === undefined) {
      reserved = new Set();
      this.reserved.set(domain, reserved);
    }
    // Until stored, no flush includes it.
    const reservation: Reservation = {
      bytes,
      flush: Number.POSITIVE_INFINITY,
      until: this.clock() + RESERVATION_MAX_AGE_MS,
    };
    reserved.add(reservation);
    return {
      // Recorded now: the next flush takes its entries.
      stored: () => {
        reservation.flush = this.flushesStarted + 1;
      },
    };
  }

  private reservedSince(domain: string, covers: number): number {
    const reserved = this.reserved.get(domain);
    if (reserved === undefined) return 0;
    const now = this.clock();
    let bytes = 0;
    for (const reservation of reserved) {
      if (reservation.until < now) reserved.delete(reservation);
      else if (reservation.flush > covers) bytes += reservation.bytes;
    }
    if (reserved.size === 0) this.reserved.delete(domain);
    return bytes;
  }

  private read(domain: string): Promise<number> {
    let reading = this.reading.get(domain);
    if (reading === undefined) {
      // The ledger holds what the flushes completed so far applied.
      const covers = this.flushesDone;
      reading = this.redis
        .hget(directoryKeys(domain).storage, 'total')
        .then((value) => {
          const total = Number(value ?? 0);
          this.noteTotal(domain, total, covers);
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
    // One flush at a time: a total then includes every flush up to its own.
    while (this.flushing !== undefined) await this.flushing;
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    const flush = ++this.flushesStarted;
    this.flushing = (async () => {
      await Promise.all(
        [...batch].map(async ([domain, byMember]) => {
          try {
            const total = await runScript(this.redis, ledgerApplyScript, {
              domain,
              now: this.clock(),
              entries: [...byMember.values()],
            });
            this.noteTotal(domain, total, flush);
          } catch {
            this.onError();
            // Taken by the next flush: so are the reservations this one would have covered.
            this.record(domain, [...byMember.values()]);
            for (const reservation of this.reserved.get(domain) ?? []) {
              if (reservation.flush === flush) reservation.flush = flush + 1;
            }
          }
        }),
      );
      this.flushesDone = flush;
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

/** Bytes a send of this relay stores; `flush`: the flush that takes its ledger entries. */
interface Reservation {
  bytes: number;
  flush: number;
  until: number;
}
