import { auditStreamKey, globalKeys } from '../../contracts/redis/keys.js';
import type { RedisClient } from '../../contracts/redis/connection.js';
import { appendAuditScript } from '../../contracts/redis/manager-scripts.js';
import { runScript } from '../../contracts/redis/script-runner.js';
import type { AuditEntry } from '../model.js';
import type { AuditLog, AuditQuery, Page } from './manager-store.js';
import {
  compareStreamIds,
  decodeAuditCursor,
  encodeAuditCursor,
  pageLimit,
  type AuditCursor,
} from './paging.js';
import { checkDomain, fail } from './store-checks.js';

/** Audit streams are capped (XADD MAXLEN ~): about this many newest entries per stream are kept. */
export const AUDIT_MAX_LEN = 1_000_000;
/** Default cap of the failure streams (entries with outcome failure), which are kept apart. */
export const AUDIT_MAX_FAILURES = 100_000;
/** Entries read per XREVRANGE while merging audit streams. */
const AUDIT_CHUNK = 200;

/** Reads one audit stream newest first, in chunks, from a position, keeping matching entries. */
class AuditReader {
  private buffer: AuditEntry[] = [];
  private exhausted = false;

  constructor(
    private readonly redis: RedisClient,
    readonly stream: string,
    private end: string,
    private readonly start: string,
    private readonly keep: (entry: AuditEntry) => boolean,
  ) {}

  async peek(): Promise<AuditEntry | undefined> {
    while (this.buffer.length === 0 && !this.exhausted) {
      const rows = await this.redis.xrevrange(
        this.stream,
        this.end,
        this.start,
        'COUNT',
        AUDIT_CHUNK,
      );
      if (rows.length < AUDIT_CHUNK) this.exhausted = true;
      const last = rows.at(-1);
      if (last !== undefined) this.end = `(${last[0]}`;
      for (const [id, fields] of rows) {
        const json = fields[fields.indexOf('e') + 1];
        if (json === undefined) continue;
        const entry = { ...(JSON.parse(json) as Omit<AuditEntry, 'id'>), id };
        if (this.keep(entry)) this.buffer.push(entry);
      }
    }
    return this.buffer[0];
  }

  pop(): void {
    this.buffer.shift();
  }
}

/** The filter of a query beyond its domains: actor, action, time window. */
function entryFilter(query: AuditQuery): (entry: AuditEntry) => boolean {
  const since = query.since?.getTime();
  const until = query.until?.getTime();
  return (entry) => {
    if (query.actor !== undefined && entry.actor !== query.actor) return false;
    if (query.action !== undefined && entry.action !== query.action) return false;
    const time = Date.parse(entry.time);
    if (since !== undefined && time < since) return false;
    if (until !== undefined && time > until) return false;
    return true;
  };
}

/**
 * The audit log: one stream per domain and one for entries without a domain (tokens, failed
 * logins), each beside a stream of its failures (outcome failure: refused logins, enrollments,
 * changes), capped apart (`maxFailures`), so however many failures arrive they never trim away
 * successful changes. Read merged newest first; the set of domains with a stream is kept beside
 * them.
 */
export class RedisAuditLog implements AuditLog {
  constructor(
    private readonly redis: RedisClient,
    private readonly maxFailures = AUDIT_MAX_FAILURES,
  ) {}

  async appendAudit(entry: Omit<AuditEntry, 'id'>): Promise<AuditEntry> {
    if (entry.domain !== undefined) {
      checkDomain(entry.domain);
      // Registered first: a query over all domains must find every stream that has entries.
      await this.redis.sadd(globalKeys.auditDomains, entry.domain);
    }
    const time = Date.parse(entry.time);
    if (Number.isNaN(time)) fail('VALIDATION_FAILED', 'audit entry time must be an ISO time');
    const stored = { ...entry };
    const failures = entry.outcome === 'failure';
    const id = await runScript(this.redis, appendAuditScript, {
      domain: entry.domain,
      failures,
      maxLen: failures ? this.maxFailures : AUDIT_MAX_LEN,
      timeMs: Math.max(0, time),
      record: JSON.stringify(stored),
    });
    return { ...stored, id };
  }

  /** The streams a query reads, in name order (the tie-break of equal ids). */
  private async streamsOf(query: AuditQuery): Promise<string[]> {
    let streams: string[];
    const both = (domain: string | undefined) => [
      auditStreamKey(domain),
      auditStreamKey(domain, true),
    ];
    if (query.domains === undefined) {
      const domains = await this.redis.smembers(globalKeys.auditDomains);
      streams = [...both(undefined), ...domains.flatMap(both)];
    } else {
      query.domains.forEach(checkDomain);
      streams = [...new Set(query.domains)].flatMap(both);
    }
    return streams.sort();
  }

  async queryAudit(query: AuditQuery): Promise<Page<AuditEntry>> {
    const limit = pageLimit(query.limit);
    let cursor: AuditCursor | undefined;
    if (query.cursor !== undefined) {
      cursor = decodeAuditCursor(query.cursor);
      if (cursor === undefined) fail('VALIDATION_FAILED', 'invalid cursor');
    }
    const streams = await this.streamsOf(query);
    const since = query.since?.getTime();
    const until = query.until?.getTime();
    const keep = entryFilter(query);
    // Newest first across streams: by id descending, ties by stream name ascending. After a
    // cursor, a stream ordered before or at the cursor's continues below its id, a stream
    // ordered after it at its id.
    const start = since === undefined ? '-' : String(Math.max(0, since));
    const readers = streams.map((stream) => {
      let end = until === undefined ? '+' : String(Math.max(0, until));
      if (cursor !== undefined) end = stream > cursor.stream ? cursor.id : `(${cursor.id}`;
      return new AuditReader(this.redis, stream, end, start, keep);
    });
    const items: AuditEntry[] = [];
    let lastStream = '';
    for (;;) {
      const heads = await Promise.all(readers.map((reader) => reader.peek()));
      let best = -1;
      heads.forEach((head, i) => {
        if (head === undefined) return;
        const current = best < 0 ? undefined : heads[best];
        if (current === undefined || compareStreamIds(head.id, current.id) > 0) best = i;
      });
      const reader = readers[best];
      const head = heads[best];
      if (reader === undefined || head === undefined) return { items };
      if (items.length === limit) {
        const last = items.at(-1);
        return last === undefined
          ? { items }
          : { items, next: encodeAuditCursor({ id: last.id, stream: lastStream }) };
      }
      items.push(head);
      lastStream = reader.stream;
      reader.pop();
    }
  }
}
