import { describe, expect, it } from '@jest/globals';
import { ManagerError } from '../errors.js';
import type { Member } from '../model.js';
import {
  checkMemberInput,
  checkMemberPatch,
  memberMatches,
  planMemberImport,
} from './member-rules.js';

const alice: Member = {
  id: 'alice',
  domain: 'acme',
  displayName: 'Alice Liddell',
  email: 'Alice@Example.org',
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
};

const ID_RULE =
  'must be 1-128 characters of a-z, 0-9, ".", "_", "@", "-", starting with a letter or digit';

function refusal(check: () => unknown): { code: string; message: string } | undefined {
  try {
    check();
    return undefined;
  } catch (error) {
    if (error instanceof ManagerError) return { code: error.code, message: error.message };
    throw error;
  }
}

describe('member search', () => {
  it.each([
    ['the id', 'lic', true],
    ['the display name, in any case', 'LIDDELL', true],
    ['the email, in any case', 'example.ORG', true],
    ['nothing', 'bob', false],
  ])('matches a substring of %s', (_what, query, expected) => {
    expect(memberMatches(alice, query)).toBe(expected);
  });

  it('leaves the e-mail out when asked (the contact search, which never shows it)', () => {
    expect(memberMatches(alice, 'example.ORG', false)).toBe(false);
    expect(memberMatches(alice, 'LIDDELL', false)).toBe(true);
  });
});

describe('import planning', () => {
  it('reports invalid rows and duplicates in the batch with 1-based rows, keeps the rest', () => {
    const plan = planMemberImport([
      { id: 'alice', displayName: 'Alice' },
      { id: 'Bad Id', displayName: 'Bad' },
      { id: 'bob', displayName: '' },
      { id: 'alice', displayName: 'Alice again' },
      { id: 'carol', displayName: 'Carol', email: 'c@example.org' },
    ]);
    expect(plan.valid.map((v) => [v.row, v.input.id])).toEqual([
      [1, 'alice'],
      [5, 'carol'],
    ]);
    expect(plan.errors.map((e) => [e.row, e.id, e.code])).toEqual([
      [2, 'Bad Id', 'VALIDATION_FAILED'],
      [3, 'bob', 'VALIDATION_FAILED'],
      [4, 'alice', 'ALREADY_EXISTS'],
    ]);
    expect(plan.errors[2]?.message).toContain('row 1');
  });

  it('says what is wrong with each row as the API always has: field, then rule', () => {
    const plan = planMemberImport([
      { id: 'Bad Id', displayName: 'Bad' },
      { id: 'x1', displayName: 'X', email: 'not-an-email' },
      { id: 'x2', displayName: 'X', extra: true },
      null,
      {},
      { id: 'x3', displayName: 'X' },
      { id: 'x3', displayName: 'Again' },
    ]);
    expect(plan.errors).toEqual([
      { row: 1, id: 'Bad Id', code: 'VALIDATION_FAILED', message: `id: ${ID_RULE}` },
      { row: 2, id: 'x1', code: 'VALIDATION_FAILED', message: 'email: must be an e-mail address' },
      { row: 3, id: 'x2', code: 'VALIDATION_FAILED', message: 'row: Unrecognized key: "extra"' },
      {
        row: 4,
        code: 'VALIDATION_FAILED',
        message: 'row: Invalid input: expected object, received null',
      },
      {
        row: 5,
        code: 'VALIDATION_FAILED',
        message:
          'id: Invalid input: expected string, received undefined; ' +
          'displayName: Invalid input: expected string, received undefined',
      },
      { row: 7, id: 'x3', code: 'ALREADY_EXISTS', message: 'id "x3" is also in row 6' },
    ]);
  });

  it('keeps rows as they will be stored: names and addresses trimmed', () => {
    const plan = planMemberImport([
      { id: 'dora', displayName: '  Dora  ', email: ' dora@example.org ' },
    ]);
    expect(plan.errors).toEqual([]);
    expect(plan.valid).toEqual([
      { row: 1, input: { id: 'dora', displayName: 'Dora', email: 'dora@example.org' } },
    ]);
  });
});

describe('single members', () => {
  it('checks a create with the rules of an import row', () => {
    expect(checkMemberInput({ id: 'erin', displayName: ' Erin ' })).toEqual({
      id: 'erin',
      displayName: 'Erin',
    });
    expect(refusal(() => checkMemberInput({ id: 'Al ice', displayName: 'A' }))).toEqual({
      code: 'VALIDATION_FAILED',
      message: `id: ${ID_RULE}`,
    });
  });

  it('checks a change: either field, a null e-mail clears it', () => {
    expect(checkMemberPatch({ email: null })).toEqual({ email: null });
    expect(checkMemberPatch({ displayName: ' Rob ' })).toEqual({ displayName: 'Rob' });
    expect(refusal(() => checkMemberPatch({ displayName: '' }))?.code).toBe('VALIDATION_FAILED');
    expect(refusal(() => checkMemberPatch({ email: 'x'.repeat(321) }))?.code).toBe(
      'VALIDATION_FAILED',
    );
  });
});
