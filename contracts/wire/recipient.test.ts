import { describe, expect, it } from '@jest/globals';
import { formatRecipient, parseRecipient } from './recipient.js';

describe('parseRecipient', () => {
  it('parses the three kinds of reference', () => {
    expect(parseRecipient('device:b1')).toEqual({ kind: 'device', id: 'b1' });
    expect(parseRecipient('identity:bob')).toEqual({ kind: 'identity', id: 'bob' });
    expect(parseRecipient('workspace:design')).toEqual({ kind: 'workspace', id: 'design' });
  });

  it('refuses references without a kind, with an unknown kind or without an id', () => {
    for (const bad of ['b1', 'group:x', 'device:', ':b1', '']) {
      expect(() => parseRecipient(bad)).toThrow(/must be device:ID, identity:ID or workspace:ID/);
    }
  });

  it('reads back what formatRecipient wrote', () => {
    for (const text of ['device:b1', 'identity:bob', 'workspace:design', 'device:a.b@c-d']) {
      expect(formatRecipient(parseRecipient(text))).toBe(text);
    }
  });
});
