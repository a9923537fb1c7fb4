import type { z } from 'zod';
import { ManagerError } from '../errors.js';
import {
  memberInputSchema,
  memberPatchSchema,
  type Member,
  type MemberInput,
  type MemberPatch,
} from '../model.js';
import type { ImportResult } from './manager-store.js';

/**
 * The store's checks of what members are made from, with the rules of model.ts (the API's
 * request bodies use the same schemas), and the member search. Pure: no Redis.
 */

/** At most this many errors of an import are listed (`errorCount` gives the total). */
export const MAX_LISTED_IMPORT_ERRORS = 1000;
/** An import error's message and id are cut to this many characters. */
export const MAX_IMPORT_ERROR_TEXT = 300;

function cut(text: string, max = MAX_IMPORT_ERROR_TEXT): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/**
 * Each issue as `path: message`, joined by `; `; an issue of the value itself is named
 * `whole`. Bounded: a row with a huge unknown key is not echoed back whole.
 */
export function issuesText(error: z.ZodError, whole: string): string {
  return cut(
    error.issues
      .slice(0, 5)
      .map((issue) => `${cut(issue.path.map(String).join('.'), 64) || whole}: ${issue.message}`)
      .join('; '),
  );
}

/**
 * An import's errors as answered: the first MAX_LISTED_IMPORT_ERRORS (by row), each id and
 * message cut to MAX_IMPORT_ERROR_TEXT characters, and `errorCount` when some were left out;
 * whatever the import held, its answer stays small.
 */
export function boundImportErrors(
  errors: ImportResult['errors'],
): Pick<ImportResult, 'errors' | 'errorCount'> {
  const listed = errors.slice(0, MAX_LISTED_IMPORT_ERRORS).map((error) => ({
    ...error,
    ...(error.id === undefined ? {} : { id: cut(error.id, 128) }),
    message: cut(error.message),
  }));
  return listed.length < errors.length
    ? { errors: listed, errorCount: errors.length }
    : { errors: listed };
}

/** The input as it is stored (names trimmed), or VALIDATION_FAILED. */
export function checkMemberInput(input: unknown): MemberInput {
  const parsed = memberInputSchema.safeParse(input);
  if (!parsed.success)
    throw new ManagerError('VALIDATION_FAILED', issuesText(parsed.error, 'member'));
  return parsed.data;
}

/** The change as it is stored (names trimmed), or VALIDATION_FAILED. */
export function checkMemberPatch(patch: unknown): MemberPatch {
  const parsed = memberPatchSchema.safeParse(patch);
  if (!parsed.success)
    throw new ManagerError('VALIDATION_FAILED', issuesText(parsed.error, 'patch'));
  return parsed.data;
}

export interface ImportPlan {
  /** Rows that may be created (still subject to "already exists"), with their 1-based row. */
  valid: { row: number; input: MemberInput }[];
  errors: ImportResult['errors'];
}

/**
 * Checks each row on its own, like a single create, and against the rows before it
 * (duplicates in the batch). Rows are numbered from 1 (a CSV header is not a row).
 */
export function planMemberImport(rows: readonly unknown[]): ImportPlan {
  const seen = new Map<string, number>();
  const plan: ImportPlan = { valid: [], errors: [] };
  rows.forEach((raw, index) => {
    const row = index + 1;
    const parsed = memberInputSchema.safeParse(raw);
    if (!parsed.success) {
      const id = rawId(raw);
      plan.errors.push({
        row,
        ...(id === undefined ? {} : { id }),
        code: 'VALIDATION_FAILED',
        message: issuesText(parsed.error, 'row'),
      });
      return;
    }
    const input = parsed.data;
    const first = seen.get(input.id);
    if (first !== undefined) {
      plan.errors.push({
        row,
        id: input.id,
        code: 'ALREADY_EXISTS',
        message: `id "${input.id}" is also in row ${first}`,
      });
      return;
    }
    seen.set(input.id, row);
    plan.valid.push({ row, input });
  });
  return plan;
}

/** The id a refused row names, when it names one as text. */
function rawId(raw: unknown): string | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const id = (raw as { id?: unknown }).id;
  return typeof id === 'string' ? id : undefined;
}

/**
 * Case-insensitive substring match over id, displayName and (unless `withEmail` is false)
 * email. A search whose answer leaves a field out must not match on it either, or the answers
 * give the hidden field away a character at a time: the contact search does not see e-mail.
 */
export function memberMatches(member: Member, query: string, withEmail = true): boolean {
  const needle = query.toLowerCase();
  return (
    member.id.includes(needle) ||
    member.displayName.toLowerCase().includes(needle) ||
    (withEmail && (member.email?.toLowerCase().includes(needle) ?? false))
  );
}
