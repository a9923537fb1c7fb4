/** Page sizes, and the order and cursor of the audit log's merged streams. */

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;

export function pageLimit(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return DEFAULT_LIMIT;
  return Math.min(MAX_LIMIT, Math.max(1, Math.floor(limit)));
}

/** A Redis stream id `MS-SEQ` as two numbers, for ordering entries of several streams. */
export function parseStreamId(id: string): [number, number] {
  const dash = id.indexOf('-');
  return dash < 0 ? [Number(id), 0] : [Number(id.slice(0, dash)), Number(id.slice(dash + 1))];
}

export function compareStreamIds(a: string, b: string): number {
  const [am, as] = parseStreamId(a);
  const [bm, bs] = parseStreamId(b);
  return am === bm ? as - bs : am - bm;
}

/** Where an audit page ended: the last entry's id and the stream it came from (ties across streams). */
export interface AuditCursor {
  id: string;
  stream: string;
}

export function encodeAuditCursor(cursor: AuditCursor): string {
  return Buffer.from(JSON.stringify([cursor.id, cursor.stream]), 'utf8').toString('base64url');
}

export function decodeAuditCursor(cursor: string): AuditCursor | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      Array.isArray(value) &&
      value.length === 2 &&
      typeof value[0] === 'string' &&
      /^\d+-\d+$/.test(value[0]) &&
      typeof value[1] === 'string'
    ) {
      return { id: value[0], stream: value[1] };
    }
  } catch {
    // fall through: not a cursor of ours
  }
  return undefined;
}
