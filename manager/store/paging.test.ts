import { describe, expect, it } from '@jest/globals';
import { auditStreamKey } from '../../contracts/redis/keys.js';
import { compareStreamIds, decodeAuditCursor, encodeAuditCursor, pageLimit } from './paging.js';

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
