import { describe, it, expect } from '@jest/globals';
import { matchesSelector } from './selector.js';

const labels = { tier: 'gold', region: 'eu' };

describe('label selector matching', () => {
  it('matches nothing when the selector is omitted', () => {
    expect(matchesSelector(undefined, labels)).toBe(false);
    expect(matchesSelector(undefined, {})).toBe(false);
  });

  it('matches everything when the selector is empty', () => {
    expect(matchesSelector({}, labels)).toBe(true);
    expect(matchesSelector({}, undefined)).toBe(true);
    expect(matchesSelector({ matchLabels: {}, matchExpressions: [] }, {})).toBe(true);
  });

  it('requires every matchLabels entry to be present with the same value', () => {
    expect(matchesSelector({ matchLabels: { tier: 'gold' } }, labels)).toBe(true);
    expect(matchesSelector({ matchLabels: { tier: 'gold', region: 'eu' } }, labels)).toBe(true);
    expect(matchesSelector({ matchLabels: { tier: 'silver' } }, labels)).toBe(false);
    expect(matchesSelector({ matchLabels: { zone: 'a' } }, labels)).toBe(false);
    expect(matchesSelector({ matchLabels: { tier: 'gold' } }, undefined)).toBe(false);
  });

  it('matches In when the label has one of the values', () => {
    const sel = {
      matchExpressions: [{ key: 'tier', operator: 'In' as const, values: ['gold', 'silver'] }],
    };
    expect(matchesSelector(sel, labels)).toBe(true);
    expect(matchesSelector(sel, { tier: 'bronze' })).toBe(false);
    expect(matchesSelector(sel, {})).toBe(false);
  });

  it('matches NotIn when the label is absent or has none of the values', () => {
    const sel = {
      matchExpressions: [{ key: 'tier', operator: 'NotIn' as const, values: ['gold'] }],
    };
    expect(matchesSelector(sel, labels)).toBe(false);
    expect(matchesSelector(sel, { tier: 'silver' })).toBe(true);
    expect(matchesSelector(sel, {})).toBe(true);
  });

  it('matches Exists and DoesNotExist on the presence of the key whatever its value', () => {
    const exists = { matchExpressions: [{ key: 'region', operator: 'Exists' as const }] };
    const absent = { matchExpressions: [{ key: 'region', operator: 'DoesNotExist' as const }] };
    expect(matchesSelector(exists, labels)).toBe(true);
    expect(matchesSelector(exists, { region: '' })).toBe(true);
    expect(matchesSelector(exists, {})).toBe(false);
    expect(matchesSelector(absent, labels)).toBe(false);
    expect(matchesSelector(absent, {})).toBe(true);
  });

  it('ANDs matchLabels and every expression', () => {
    const sel = {
      matchLabels: { tier: 'gold' },
      matchExpressions: [
        { key: 'region', operator: 'In' as const, values: ['eu', 'us'] },
        { key: 'legacy', operator: 'DoesNotExist' as const },
      ],
    };
    expect(matchesSelector(sel, labels)).toBe(true);
    expect(matchesSelector(sel, { ...labels, legacy: 'true' })).toBe(false);
    expect(matchesSelector(sel, { ...labels, tier: 'silver' })).toBe(false);
    expect(matchesSelector(sel, { tier: 'gold', region: 'apac' })).toBe(false);
  });

  it('does not treat inherited object properties as labels', () => {
    const sel = { matchExpressions: [{ key: 'toString', operator: 'Exists' as const }] };
    expect(matchesSelector(sel, {})).toBe(false);
  });
});
