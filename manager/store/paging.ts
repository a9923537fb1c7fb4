import { idPattern } from '../../crds/common.js';
import type { Member } from '../model.js';
import type { ImportResult, MemberInput } from './manager-store.js';

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;

export function pageLimit(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return DEFAULT_LIMIT;
  return Math.min(MAX_LIMIT, Math.max(1, Math.floor(limit)));
}

/** Case-insensitive substring match over id, displayName and email. */
export function memberMatches(member: Member, query: string): boolean {
  const needle = query.toLowerCase();
  return (
    member.id.includes(needle) ||
    member.displayName.toLowerCase().includes(needle) ||
    (member.email?.toLowerCase().includes(needle) ?? false)
  );
}

/** Why a member input cannot be stored, or undefined when it can. */
export function memberInputProblem(input: MemberInput): string | undefined {
  if (typeof input.id !== 'string' || !idPattern.test(input.id)) {
    return 'id must be 1-128 characters of a-z, 0-9, ".", "_", "@", "-", starting with a letter or digit';
  }
  if (
    typeof input.displayName !== 'string' ||
    input.displayName.length < 1 ||
    input.displayName.length > 256
  ) {
    return 'displayName must be 1-256 characters';
  }
  if (input.email !== undefined && (typeof input.email !== 'string' || input.email.length > 320)) {
    return 'email must be at most 320 characters';
  }
  return undefined;
}

export interface ImportPlan {
  /** Rows that may be created (still subject to "already exists"), with their 1-based row. */
  valid: { row: number; input: MemberInput }[];
  errors: ImportResult['errors'];
}

/** Checks each row on its own and against the rows before it (duplicates in the batch). */
export function planImport(rows: readonly MemberInput[]): ImportPlan {
  const seen = new Map<string, number>();
  const plan: ImportPlan = { valid: [], errors: [] };
  rows.forEach((input, index) => {
    const row = index + 1;
    const problem = memberInputProblem(input);
    const id = typeof input.id === 'string' ? input.id : undefined;
    if (problem !== undefined) {
      plan.errors.push({
        row,
        ...(id === undefined ? {} : { id }),
        code: 'VALIDATION_FAILED',
        message: problem,
      });
      return;
    }
    const first = seen.get(input.id);
    if (first !== undefined) {
      plan.errors.push({
        row,
        id: input.id,
        code: 'ALREADY_EXISTS',
        message: `duplicate of row ${first} in this import`,
      });
      return;
    }
    seen.set(input.id, row);
    plan.valid.push({ row, input });
  });
  return plan;
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
