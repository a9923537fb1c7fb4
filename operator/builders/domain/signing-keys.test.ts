import { describe, expect, it } from '@jest/globals';
import type { DomainSigningKey } from '../../../contracts/auth/device-token.js';
import {
  nextKeyExpiry,
  nextKeyId,
  nextSigningKeys,
  parseStoredSigningKeys,
  publishedKeys,
  signingKeyAction,
  type StoredSigningKeys,
} from './signing-keys.js';

const key = (kid: string): DomainSigningKey => ({
  kid,
  privateJwk: { kty: 'OKP', crv: 'Ed25519', x: `x-${kid}`, d: `d-${kid}`, kid },
  publicJwk: { kty: 'OKP', crv: 'Ed25519', x: `x-${kid}`, kid },
});
const now = new Date('2026-03-01T12:00:00.000Z');
const grace = { now, gracePeriodSeconds: 3600, rotateRequest: undefined };

describe('domain signing keys', () => {
  it('creates the first key when the domain has none', () => {
    expect(signingKeyAction(undefined, undefined, now)).toBe('create');
    const created = nextSigningKeys(undefined, 'create', { ...grace, newKey: key('acme-1') });
    expect(created.keys.map((k) => k.kid)).toEqual(['acme-1']);
    expect(publishedKeys(created)).toEqual([{ kid: 'acme-1', x: 'x-acme-1' }]);
  });

  it('rotates once per new annotation value and keeps the old public key for the grace period', () => {
    const stored: StoredSigningKeys = { keys: [key('acme-1')] };
    expect(signingKeyAction(stored, 'r1', now)).toBe('rotate');
    expect(nextKeyId('acme', stored)).toBe('acme-2');
    const rotated = nextSigningKeys(stored, 'rotate', {
      ...grace,
      rotateRequest: 'r1',
      newKey: key('acme-2'),
    });
    expect(rotated.rotationHandled).toBe('r1');
    expect(signingKeyAction(rotated, 'r1', now)).toBe('none');
    expect(publishedKeys(rotated)).toEqual([
      { kid: 'acme-2', x: 'x-acme-2' },
      { kid: 'acme-1', x: 'x-acme-1', notAfter: '2026-03-01T13:00:00.000Z' },
    ]);
    // The retired key keeps only its public half.
    expect(JSON.stringify(rotated.keys[1])).not.toContain('d-acme-1');
    expect(nextKeyExpiry(rotated)?.toISOString()).toBe('2026-03-01T13:00:00.000Z');
  });

  it('unpublishes a retired key once its grace period is over', () => {
    const stored: StoredSigningKeys = {
      keys: [
        key('acme-3'),
        { kid: 'acme-2', publicJwk: key('acme-2').publicJwk, notAfter: '2026-03-01T13:00:00.000Z' },
        { kid: 'acme-1', publicJwk: key('acme-1').publicJwk, notAfter: '2026-03-01T11:00:00.000Z' },
      ],
      rotationHandled: 'r2',
    };
    expect(signingKeyAction(stored, 'r2', now)).toBe('prune');
    const pruned = nextSigningKeys(stored, 'prune', grace);
    expect(pruned.keys.map((k) => k.kid)).toEqual(['acme-3', 'acme-2']);
    expect(signingKeyAction(pruned, 'r2', now)).toBe('none');
    expect(nextKeyId('acme', pruned)).toBe('acme-4');
  });

  it('refuses a Secret edited into something that is not a key set, saying how to recover', () => {
    expect(() => parseStoredSigningKeys('nope', 'ns/acme-signing-key')).toThrow(/not JSON/);
    expect(() => parseStoredSigningKeys('{"keys":[]}', 'ns/acme-signing-key')).toThrow(
      /delete the Secret/,
    );
    const text = JSON.stringify({ keys: [key('acme-1')] });
    expect(parseStoredSigningKeys(text, 'x').keys[0].kid).toBe('acme-1');
  });
});
