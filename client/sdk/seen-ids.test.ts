import { describe, expect, it } from '@jest/globals';
import { SeenIds } from './seen-ids.js';

describe('SeenIds', () => {
  it('reports an id as new once, then as seen', () => {
    const seen = new SeenIds();
    expect(seen.add('m1')).toBe(true);
    expect(seen.add('m1')).toBe(false);
    expect(seen.add('m2')).toBe(true);
    expect(seen.has('m1')).toBe(true);
    expect(seen.has('m3')).toBe(false);
  });

  it('forgets the oldest id first once over capacity', () => {
    const seen = new SeenIds(3);
    for (const id of ['a', 'b', 'c', 'd']) seen.add(id);
    expect(seen.has('a')).toBe(false);
    expect(['b', 'c', 'd'].map((id) => seen.has(id))).toEqual([true, true, true]);
    expect(seen.add('a')).toBe(true);
    expect(seen.has('b')).toBe(false);
  });

  it('does not refresh the age of an id seen again', () => {
    const seen = new SeenIds(2);
    seen.add('a');
    seen.add('b');
    seen.add('a');
    seen.add('c');
    expect(seen.has('a')).toBe(false);
    expect(seen.has('b')).toBe(true);
  });

  it('accepts an id again once deleted (a handler that failed)', () => {
    const seen = new SeenIds();
    seen.add('m1');
    seen.delete('m1');
    expect(seen.has('m1')).toBe(false);
    expect(seen.add('m1')).toBe(true);
  });
});
