import { describe, expect, it } from '@jest/globals';
import { generateDomainKey } from '../../contracts/auth/device-token.js';
import { parseStoredKeys } from './kube-config-source.js';

describe('kube config source › signing key Secret', () => {
  it('signs with the current key and verifies with current and retired ones', async () => {
    const current = await generateDomainKey('acme-2');
    const old = await generateDomainKey('acme-1');
    const keys = parseStoredKeys(
      JSON.stringify({
        keys: [
          current,
          { kid: old.kid, publicJwk: old.publicJwk, notAfter: '2030-01-01T00:00:00Z' },
        ],
      }),
    );
    expect(keys.current.kid).toBe('acme-2');
    expect(keys.publicJwks.map((k) => k.kid)).toEqual(['acme-2', 'acme-1']);
    expect(keys.publicJwks.every((k) => !('d' in k))).toBe(true);
  });

  it('refuses a file without a current private key', () => {
    expect(() => parseStoredKeys('{"keys":[]}')).toThrow(/no "keys"/);
    expect(() => parseStoredKeys('{"keys":[{"kid":"a","publicJwk":{}}]}')).toThrow(/private/);
  });
});
