import { describe, expect, it } from '@jest/globals';
import {
  generateActivationCode,
  generateAdminToken,
  hashAdminToken,
  newDeviceId,
  parseActivationCode,
  sha256Hex,
} from './secrets.js';
import { idPattern } from '../../crds/common.js';

/** Deterministic "randomness" for the tests: a counter of bytes. */
function counter(start = 0) {
  let next = start;
  return (bytes: number) => Buffer.from(Array.from({ length: bytes }, () => next++ % 256));
}

describe('activation codes', () => {
  it('look like <domain>.<32 base32 characters> and parse back to the domain, hash and id', () => {
    const code = generateActivationCode('acme', counter());
    expect(code).toMatch(/^acme\.[A-Z2-7]{32}$/);
    const parsed = parseActivationCode(code);
    expect(parsed).toEqual({
      domain: 'acme',
      hash: sha256Hex(code),
      id: sha256Hex(code).slice(0, 8),
    });
  });

  it('forgive surrounding blanks and a lower-case secret, not a different domain', () => {
    const code = generateActivationCode('acme', counter(7));
    const typed = `  ${code.slice(0, 5)}${code.slice(5).toLowerCase()}\n`;
    expect(parseActivationCode(typed)?.hash).toBe(parseActivationCode(code)?.hash);
    expect(parseActivationCode(code.replace('acme', 'acmf'))?.hash).not.toBe(
      parseActivationCode(code)?.hash,
    );
  });

  it.each([
    ['no domain', 'ABCDEFGHIJKLMNOPQRSTUVWX'],
    ['a short secret', 'acme.ABCDEFG'],
    ['characters outside base32', 'acme.ABCDEFGHIJKLMNOPQRSTUVWX1'],
    ['an invalid domain', 'Acme_.ABCDEFGHIJKLMNOPQRSTUVWX'],
    ['a domain with a dot', 'a.b.ABCDEFGHIJKLMNOPQRSTUVWX'],
    ['the empty string', ''],
  ])('refuse %s', (_what, code) => {
    expect(parseActivationCode(code)).toBeUndefined();
  });

  it('differ with different randomness', () => {
    expect(generateActivationCode('acme', counter(0))).not.toBe(
      generateActivationCode('acme', counter(1)),
    );
  });
});

describe('admin tokens', () => {
  it('are gat_ and 32 bytes of base64url, stored as SHA-256 hex', () => {
    const token = generateAdminToken(counter());
    expect(token).toMatch(/^gat_[A-Za-z0-9_-]{43}$/);
    expect(hashAdminToken(token)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashAdminToken(token)).not.toBe(hashAdminToken(`${token}x`));
  });
});

describe('device ids', () => {
  it('are d- and a lower-case ULID that sorts by time and are valid ids', () => {
    const early = newDeviceId(new Date('2026-01-01T00:00:00Z'), counter(200));
    const later = newDeviceId(new Date('2026-01-01T00:00:00.001Z'), counter(0));
    expect(early).toMatch(/^d-[0-9a-hjkmnp-tv-z]{26}$/);
    expect(idPattern.test(early)).toBe(true);
    expect(early < later).toBe(true);
  });

  it('encode the time as a ULID does', () => {
    // ULID spec example: 1469918176385 ms → "01ARYZ6S41".
    expect(newDeviceId(new Date(1469918176385), counter()).slice(2, 12)).toBe('01aryz6s41');
  });
});
