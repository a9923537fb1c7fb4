import { decodeJwt } from 'jose';
import { DeviceTokenVerifier, type DeviceClaims } from '../../contracts/auth/device-token.js';
import type { ConfigSource } from '../config-source/config-source.js';
import { ManagerError } from '../errors.js';

/**
 * Verifies a relay token (the bearer of /v1/policy and /v1/contacts) with the public keys of
 * the domain it names, as a relay would. Throws UNAUTHENTICATED with the reason.
 */
export async function verifyRelayToken(
  config: ConfigSource,
  authorization: string | undefined,
  nowSeconds: number,
): Promise<DeviceClaims> {
  const token = bearer(authorization);
  if (token === undefined) {
    throw new ManagerError('UNAUTHENTICATED', 'send "Authorization: Bearer <relay token>"');
  }
  let domain: unknown;
  try {
    domain = decodeJwt(token)['dom'];
  } catch {
    throw new ManagerError('UNAUTHENTICATED', 'the bearer token is not a relay token (JWT)');
  }
  const keys = typeof domain === 'string' ? await config.signingKeys(domain) : undefined;
  if (keys === undefined) {
    throw new ManagerError('UNAUTHENTICATED', 'the relay token names an unknown domain');
  }
  try {
    return await new DeviceTokenVerifier(
      () => keys.publicJwks,
      () => nowSeconds,
    ).verify(token);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new ManagerError('UNAUTHENTICATED', message);
  }
}

export function bearer(authorization: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  return match?.[1];
}
