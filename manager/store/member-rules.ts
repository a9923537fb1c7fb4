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

/** Each issue as `path: message`, joined by `; `; an issue of the value itself is named `whole`. */
export function issuesText(error: z.ZodError, whole: string): string {
  return error.issues
    .map((issue) => `${issue.path.map(String).join('.') || whole}: ${issue.message}`)
    .join('; ');
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

/** Case-insensitive substring match over id, displayName and email. */
export function memberMatches(member: Member, query: string): boolean {
  const needle = query.toLowerCase();
  return (
    member.id.includes(needle) ||
    member.displayName.toLowerCase().includes(needle) ||
    (member.email?.toLowerCase().includes(needle) ?? false)
  );
}
