import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { ManagerError } from '../errors.js';
import type { AdminTokenInfo } from '../model.js';
import { challengeMessage, verifyChallenge } from './device-challenge.js';
import { allowed } from './roles.js';

function device() {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const x = publicKey.export({ format: 'jwk' }).x ?? '';
  return { privateKey, x };
}

const at = new Date('2030-01-01T12:00:00Z');

function signed(privateKey: ReturnType<typeof device>['privateKey'], timestamp: string) {
  const c = { domain: 'acme', deviceId: 'd-1', timestamp, nonce: 'abcdefghijklmnop' };
  return { ...c, signature: sign(null, challengeMessage(c), privateKey).toString('base64url') };
}

function codeOf(fn: () => void): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof ManagerError ? error.code : 'other';
  }
  return undefined;
}

describe('device challenge', () => {
  it('signs exactly the documented string', () => {
    expect(
      challengeMessage({ domain: 'a', deviceId: 'd', timestamp: 't', nonce: 'n' }).toString(),
    ).toBe('grove-token-v1\na\nd\nt\nn');
  });

  it('accepts a fresh signature within ±300 s and refuses a stale one', () => {
    const { privateKey, x } = device();
    expect(codeOf(() => verifyChallenge(signed(privateKey, '2030-01-01T12:05:00Z'), x, at))).toBe(
      undefined,
    );
    expect(codeOf(() => verifyChallenge(signed(privateKey, '2030-01-01T11:55:00Z'), x, at))).toBe(
      undefined,
    );
    expect(codeOf(() => verifyChallenge(signed(privateKey, '2030-01-01T12:05:01Z'), x, at))).toBe(
      'SIGNATURE_STALE',
    );
  });

  it('refuses another key, a changed field and a garbage key', () => {
    const { privateKey, x } = device();
    const other = device();
    const good = signed(privateKey, at.toISOString());
    expect(codeOf(() => verifyChallenge(good, other.x, at))).toBe('SIGNATURE_INVALID');
    expect(codeOf(() => verifyChallenge({ ...good, deviceId: 'd-2' }, x, at))).toBe(
      'SIGNATURE_INVALID',
    );
    expect(codeOf(() => verifyChallenge(good, 'not-a-key', at))).toBe('SIGNATURE_INVALID');
  });
});

describe('roles', () => {
  const token = (role: AdminTokenInfo['role'], domains: string[]): AdminTokenInfo => ({
    name: 't',
    role,
    domains,
    createdAt: at.toISOString(),
  });
  const read = (domain: string) => ({ kind: 'domain' as const, domain, write: false });
  const write = (domain: string) => ({ kind: 'domain' as const, domain, write: true });

  it('lets a server-admin do everything', () => {
    const admin = token('server-admin', []);
    expect(allowed(admin, write('any'))).toBe(true);
    expect(allowed(admin, { kind: 'tokens' })).toBe(true);
  });

  it('keeps a domain-admin to its domains and away from tokens', () => {
    const admin = token('domain-admin', ['acme']);
    expect(allowed(admin, write('acme'))).toBe(true);
    expect(allowed(admin, read('globex'))).toBe(false);
    expect(allowed(admin, { kind: 'tokens' })).toBe(false);
    expect(allowed(admin, { kind: 'server', write: false })).toBe(true);
  });

  it('lets an auditor only read, its domains or all when it lists none', () => {
    expect(allowed(token('auditor', ['acme']), read('acme'))).toBe(true);
    expect(allowed(token('auditor', ['acme']), read('globex'))).toBe(false);
    expect(allowed(token('auditor', []), read('globex'))).toBe(true);
    expect(allowed(token('auditor', []), write('globex'))).toBe(false);
    expect(allowed(token('auditor', []), { kind: 'tokens' })).toBe(false);
  });
});
