import { describe, expect, it } from '@jest/globals';
import { auditStreamKey } from '../../contracts/redis/keys.js';
import type { Member } from '../model.js';
import {
  compareStreamIds,
  decodeAuditCursor,
  encodeAuditCursor,
  memberMatches,
  pageLimit,
  planImport,
} from './paging.js';

const alice: Member = {
  id: 'alice',
  domain: 'acme',
  displayName: 'Alice Liddell',
  email: 'Alice@Example.org',
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
};

describe('member search', () => {
  it.each([
    ['the id', 'lic', true],
    ['the display name, in any case', 'LIDDELL', true],
    ['the email, in any case', 'example.ORG', true],
    ['nothing', 'bob', false],
  ])('matches a substring of %s', (_what, query, expected) => {
    expect(memberMatches(alice, query)).toBe(expected);
  });
});

describe('import planning', () => {
  it('reports invalid rows and duplicates in the batch with 1-based rows, keeps the rest', () => {
    const plan = planImport([
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
});

describe('paging helpers', () => {
  it('clamps limits to 1..1000 with a default of 100', () => {
    expect(pageLimit(undefined)).toBe(100);
    expect(pageLimit(0)).toBe(1);
    expect(pageLimit(5000)).toBe(1000);
    expect(pageLimit(25)).toBe(25);
  });

  it('orders stream ids numerically, not as strings', () => {
    expect(compareStreamIds('9-0', '10-0')).toBeLessThan(0);
    expect(compareStreamIds('10-2', '10-10')).toBeLessThan(0);
    expect(compareStreamIds('10-1', '10-1')).toBe(0);
  });

  it('round-trips audit cursors and refuses foreign ones', () => {
    const cursor = { id: '1700000000000-3', stream: auditStreamKey('acme') };
    expect(decodeAuditCursor(encodeAuditCursor(cursor))).toEqual(cursor);
    expect(decodeAuditCursor('not-a-cursor')).toBeUndefined();
    expect(decodeAuditCursor(Buffer.from('["x","s"]').toString('base64url'))).toBeUndefined();
  });
});
