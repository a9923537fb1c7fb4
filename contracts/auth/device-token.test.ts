import { describe, expect, it } from '@jest/globals';
import { SignJWT, importJWK, type JWK } from 'jose';
import { RelayError } from '../errors/relay-errors.js';
import {
  DeviceTokenVerifier,
  MAX_CLOCK_SKEW_SECONDS,
  RELAY_AUDIENCE,
  generateDomainKey,
  issueDeviceToken,
  type DomainSigningKey,
} from './device-token.js';

const NOW = 1_700_000_000;
const claims = { domain: 'acme', identity: 'alice', device: 'a1' };

async function setup() {
  const acme = await generateDomainKey('acme-1');
  const other = await generateDomainKey('other-1');
  const keys = new Map<string, JWK[]>([
    ['acme', [acme.publicJwk]],
    ['other', [other.publicJwk]],
  ]);
  let now = NOW;
  const verifier = new DeviceTokenVerifier(
    (domain) => keys.get(domain),
    () => now,
  );
  return {
    acme,
    other,
    keys,
    verifier,
    setNow: (seconds: number) => {
      now = seconds;
    },
  };
}

/** The RelayError code a verification fails with. */
async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof RelayError) return error.code;
    throw error;
  }
  throw new Error('expected verification to fail');
}

async function sign(
  key: DomainSigningKey,
  payload: Record<string, unknown>,
  build?: (jwt: SignJWT) => SignJWT,
) {
  let jwt = new SignJWT(payload).setProtectedHeader({ alg: 'EdDSA', kid: key.kid });
  if (build !== undefined) jwt = build(jwt);
  return jwt.sign(await importJWK(key.privateJwk, 'EdDSA'));
}

describe('device tokens', () => {
  it('verifies an issued token and returns its claims', async () => {
    const { acme, verifier } = await setup();
    const token = await issueDeviceToken(acme, claims, 600, NOW);
    await expect(verifier.verify(token)).resolves.toEqual({ ...claims, expiresAt: NOW + 600 });
  });

  it('accepts a token until the second it expires', async () => {
    const { acme, verifier, setNow } = await setup();
    const token = await issueDeviceToken(acme, claims, 60, NOW);
    setNow(NOW + 59);
    await expect(verifier.verify(token)).resolves.toMatchObject(claims);
    setNow(NOW + 60);
    expect(await codeOf(verifier.verify(token))).toBe('AUTH_EXPIRED');
  });

  it('refuses an expired token with AUTH_EXPIRED', async () => {
    const { acme, verifier } = await setup();
    const token = await issueDeviceToken(acme, claims, 60, NOW - 3600);
    expect(await codeOf(verifier.verify(token))).toBe('AUTH_EXPIRED');
  });

  it('refuses a token that is not yet valid with AUTH_EXPIRED', async () => {
    const { acme, verifier } = await setup();
    const token = await sign(acme, { dom: 'acme', dev: 'a1' }, (jwt) =>
      jwt
        .setSubject('alice')
        .setAudience(RELAY_AUDIENCE)
        .setNotBefore(NOW + 600)
        .setExpirationTime(NOW + 1200),
    );
    expect(await codeOf(verifier.verify(token))).toBe('AUTH_EXPIRED');
  });

  it('refuses a token issued beyond the clock skew in the future with AUTH_EXPIRED', async () => {
    const { acme, verifier } = await setup();
    const within = await issueDeviceToken(acme, claims, 600, NOW + MAX_CLOCK_SKEW_SECONDS);
    await expect(verifier.verify(within)).resolves.toMatchObject(claims);
    const beyond = await issueDeviceToken(acme, claims, 600, NOW + MAX_CLOCK_SKEW_SECONDS + 1);
    expect(await codeOf(verifier.verify(beyond))).toBe('AUTH_EXPIRED');
    const farAhead = await issueDeviceToken(acme, claims, 3600, NOW + 3600);
    expect(await codeOf(verifier.verify(farAhead))).toBe('AUTH_EXPIRED');
  });

  it('refuses text that is not a JWT with AUTH_MALFORMED', async () => {
    const { verifier } = await setup();
    for (const token of ['', 'garbage', 'a.b.c', 'eyJhbGciOiJFZERTQSJ9.e30']) {
      expect(await codeOf(verifier.verify(token))).toBe('AUTH_MALFORMED');
    }
  });

  it('refuses a token without a domain claim with AUTH_MALFORMED', async () => {
    const { acme, verifier } = await setup();
    const token = await sign(acme, { dev: 'a1' }, (jwt) =>
      jwt
        .setSubject('alice')
        .setAudience(RELAY_AUDIENCE)
        .setExpirationTime(NOW + 60),
    );
    expect(await codeOf(verifier.verify(token))).toBe('AUTH_MALFORMED');
  });

  it('refuses a token without a device or identity with AUTH_MALFORMED', async () => {
    const { acme, verifier } = await setup();
    const noDevice = await sign(acme, { dom: 'acme' }, (jwt) =>
      jwt
        .setSubject('alice')
        .setAudience(RELAY_AUDIENCE)
        .setExpirationTime(NOW + 60),
    );
    const noIdentity = await sign(acme, { dom: 'acme', dev: 'a1' }, (jwt) =>
      jwt.setAudience(RELAY_AUDIENCE).setExpirationTime(NOW + 60),
    );
    const noExpiry = await sign(acme, { dom: 'acme', dev: 'a1' }, (jwt) =>
      jwt.setSubject('alice').setAudience(RELAY_AUDIENCE),
    );
    for (const token of [noDevice, noIdentity, noExpiry]) {
      expect(await codeOf(verifier.verify(token))).toBe('AUTH_MALFORMED');
    }
  });

  it('refuses a token for another audience with AUTH_MALFORMED', async () => {
    const { acme, verifier } = await setup();
    const token = await sign(acme, { dom: 'acme', dev: 'a1' }, (jwt) =>
      jwt
        .setSubject('alice')
        .setAudience('grove-manager')
        .setExpirationTime(NOW + 60),
    );
    expect(await codeOf(verifier.verify(token))).toBe('AUTH_MALFORMED');
  });

  it('refuses a domain it does not serve with AUTH_UNKNOWN_DOMAIN', async () => {
    const { acme, verifier } = await setup();
    const token = await issueDeviceToken(acme, { ...claims, domain: 'elsewhere' }, 60, NOW);
    expect(await codeOf(verifier.verify(token))).toBe('AUTH_UNKNOWN_DOMAIN');
  });

  it("refuses a token signed with another domain's key with AUTH_BAD_SIGNATURE", async () => {
    const { other, verifier } = await setup();
    const token = await issueDeviceToken(other, claims, 60, NOW);
    expect(await codeOf(verifier.verify(token))).toBe('AUTH_BAD_SIGNATURE');
  });

  it('refuses a token whose key id matches but whose signature does not, with AUTH_BAD_SIGNATURE', async () => {
    const { verifier } = await setup();
    const impostor = await generateDomainKey('acme-1');
    const token = await issueDeviceToken(impostor, claims, 60, NOW);
    expect(await codeOf(verifier.verify(token))).toBe('AUTH_BAD_SIGNATURE');
  });

  it('refuses a token whose payload was altered after signing, with AUTH_BAD_SIGNATURE', async () => {
    const { acme, verifier } = await setup();
    const [header, , signature] = (await issueDeviceToken(acme, claims, 60, NOW)).split('.');
    const forged = Buffer.from(
      JSON.stringify({ dom: 'acme', dev: 'b1', sub: 'bob', aud: RELAY_AUDIENCE, exp: NOW + 60 }),
    ).toString('base64url');
    const token = `${header ?? ''}.${forged}.${signature ?? ''}`;
    expect(await codeOf(verifier.verify(token))).toBe('AUTH_BAD_SIGNATURE');
  });

  it('accepts tokens of every key of a domain during a key rotation', async () => {
    const { acme, keys, verifier } = await setup();
    const next = await generateDomainKey('acme-2');
    keys.set('acme', [acme.publicJwk, next.publicJwk]);
    const token = await issueDeviceToken(next, claims, 60, NOW);
    await expect(verifier.verify(token)).resolves.toMatchObject(claims);
  });
});
