import { describe, expect, it } from '@jest/globals';
import { quantityValue, redisMaxMemoryBytes } from './quantity.js';

describe('quantities', () => {
  it('reads binary, decimal and exponent forms', () => {
    expect(quantityValue('512Mi')).toBe(512 * 2 ** 20);
    expect(quantityValue('1.5Gi')).toBe(1.5 * 2 ** 30);
    expect(quantityValue('1G')).toBe(1e9);
    expect(quantityValue('2e9')).toBe(2e9);
    expect(quantityValue('100m')).toBeCloseTo(0.1);
    expect(quantityValue('42')).toBe(42);
  });

  it('refuses what is not a quantity', () => {
    expect(quantityValue('lots')).toBeUndefined();
    expect(quantityValue('1Xi')).toBeUndefined();
    expect(quantityValue('')).toBeUndefined();
  });

  it('gives Redis 80 % of its memory limit, and nothing without a limit', () => {
    expect(redisMaxMemoryBytes('1Gi')).toBe(Math.floor(2 ** 30 * 0.8));
    expect(redisMaxMemoryBytes(undefined)).toBeUndefined();
  });
});
