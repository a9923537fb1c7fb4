import {
  SignJWT,
  decodeJwt,
  decodeProtectedHeader,
  errors as joseErrors,
  exportJWK,
  generateKeyPair,
  importJWK,
  jwtVerify,
  type JWK,
} from 'jose';
import { RelayError } from '../errors/relay-errors.js';

/** The audience of every relay token: a token for something else is never accepted here. */
export const RELAY_AUDIENCE = 'grove-relay';

/**
 * How far ahead of the verifier's clock a token's `iat` (issued at) may be: the clocks of the
 * Manager that signed it and of the relay or Manager that checks it may differ by this much.
 * A token issued further in the future is refused (AUTH_EXPIRED, "not yet valid").
 */
export const MAX_CLOCK_SKEW_SECONDS = 60;

export interface DeviceClaims {
  domain: string;
  identity: string;
  device: string;
  /** Seconds since the epoch. */
  expiresAt: number;
}

/** A domain's Ed25519 signing key as JWKs; `kid` names the key in token headers. */
export interface DomainSigningKey {
  kid: string;
  privateJwk: JWK;
  publicJwk: JWK;
}

export async function generateDomainKey(kid: string): Promise<DomainSigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', {
    crv: 'Ed25519',
    extractable: true,
  });
  return {
    kid,
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'EdDSA' },
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'EdDSA' },
  };
}

/** The public half of a domain key as relay configs list it (`relayConfigSchema` domains[].publicKeys). */
export function relayPublicKey(key: DomainSigningKey) {
  return {
    ...key.publicJwk,
    kty: 'OKP' as const,
    crv: 'Ed25519' as const,
    x: String(key.publicJwk.x),
    kid: key.kid,
  };
}

export async function issueDeviceToken(
  key: DomainSigningKey,
  claims: { domain: string; identity: string; device: string },
  ttlSeconds: number,
  nowSeconds = Math.floor(Date.now() / 1000),
): Promise<string> {
  const privateKey = await importJWK(key.privateJwk, 'EdDSA');
  return new SignJWT({ dom: claims.domain, dev: claims.device })
    .setProtectedHeader({ alg: 'EdDSA', kid: key.kid, typ: 'JWT' })
    .setSubject(claims.identity)
    .setAudience(RELAY_AUDIENCE)
    .setIssuedAt(nowSeconds)
    .setExpirationTime(nowSeconds + ttlSeconds)
    .sign(privateKey);
}

type ImportedKey = Awaited<ReturnType<typeof importJWK>>;

type KeyLookup = (domain: string) => readonly JWK[] | undefined;

/**
 * Verifies a device token against the public keys of the domain it names. Every failure
 * is a RelayError with a stable AUTH_* code; the message says what to do.
 */
export class DeviceTokenVerifier {
  private readonly imported = new Map<JWK, Promise<ImportedKey>>();

  constructor(
    private readonly keysOf: KeyLookup,
    private readonly clockSeconds: () => number = () => Math.floor(Date.now() / 1000),
  ) {}

  async verify(token: string): Promise<DeviceClaims> {
    let domain: unknown;
    let kid: string | undefined;
    try {
      domain = decodeJwt(token)['dom'];
      kid = decodeProtectedHeader(token).kid;
    } catch {
      throw new RelayError('AUTH_MALFORMED', 'token is not a JWT: get a new device token');
    }
    if (typeof domain !== 'string' || domain === '') {
      throw new RelayError('AUTH_MALFORMED', 'token has no "dom" (domain) claim');
    }
    const keys = this.keysOf(domain);
    if (keys === undefined || keys.length === 0) {
      throw new RelayError(
        'AUTH_UNKNOWN_DOMAIN',
        `domain "${domain}" is not served by this relay: check the relay URL for your domain`,
      );
    }
    const candidates = keys.filter((key) => kid === undefined || key.kid === kid);
    if (candidates.length === 0) {
      throw new RelayError(
        'AUTH_BAD_SIGNATURE',
        `token signed with unknown key "${kid ?? ''}" of domain "${domain}": get a new device token`,
      );
    }
    let lastError: unknown;
    for (const jwk of candidates) {
      try {
        const { payload } = await jwtVerify(token, await this.importKey(jwk), {
          audience: RELAY_AUDIENCE,
          algorithms: ['EdDSA'],
          currentDate: new Date(this.clockSeconds() * 1000),
          requiredClaims: ['exp', 'sub'],
        });
        if (
          payload.iat !== undefined &&
          payload.iat > this.clockSeconds() + MAX_CLOCK_SKEW_SECONDS
        ) {
          throw new RelayError(
            'AUTH_EXPIRED',
            `token not yet valid: issued more than ${MAX_CLOCK_SKEW_SECONDS} s in the future; check the clocks of the device's Manager and of this server`,
          );
        }
        const device = payload['dev'];
        if (
          typeof device !== 'string' ||
          typeof payload.sub !== 'string' ||
          payload.exp === undefined
        ) {
          throw new RelayError('AUTH_MALFORMED', 'token lacks "sub" (identity) or "dev" (device)');
        }
        return { domain, identity: payload.sub, device, expiresAt: payload.exp };
      } catch (error) {
        if (error instanceof RelayError) throw error;
        if (error instanceof joseErrors.JWTExpired) {
          throw new RelayError('AUTH_EXPIRED', 'token expired: get a fresh device token');
        }
        lastError = error;
      }
    }
    if (lastError instanceof joseErrors.JWSSignatureVerificationFailed) {
      throw new RelayError(
        'AUTH_BAD_SIGNATURE',
        `token signature does not verify with the keys of domain "${domain}"`,
      );
    }
    if (lastError instanceof joseErrors.JWTClaimValidationFailed) {
      const claim = lastError.claim;
      if (claim === 'nbf' || claim === 'iat') {
        throw new RelayError('AUTH_EXPIRED', 'token not yet valid: check the device clock');
      }
      throw new RelayError('AUTH_MALFORMED', `token claim "${claim}" is invalid`);
    }
    throw new RelayError('AUTH_MALFORMED', 'token could not be verified');
  }

  private importKey(jwk: JWK): Promise<ImportedKey> {
    let key = this.imported.get(jwk);
    if (key === undefined) {
      key = importJWK(jwk, 'EdDSA');
      this.imported.set(jwk, key);
    }
    return key;
  }
}
