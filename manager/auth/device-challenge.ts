import { createPublicKey, verify } from 'node:crypto';
import { ManagerError } from '../errors.js';
import {
  tokenChallengeText,
  type TokenChallengeFields,
} from '../../contracts/auth/token-challenge.js';

/** How far a challenge's timestamp may be from the Manager's clock, either way. */
export const CHALLENGE_WINDOW_SECONDS = 300;

export interface TokenChallenge extends TokenChallengeFields {
  /** Ed25519 signature of challengeMessage(...), base64url. */
  signature: string;
}

/** The exact bytes a device signs to get a fresh relay token (docs/manager-api.md). */
export function challengeMessage(c: TokenChallengeFields): Buffer {
  return Buffer.from(tokenChallengeText(c), 'utf8');
}

/**
 * Checks the timestamp window and the signature with the device's public key (base64url raw
 * 32 bytes). Throws SIGNATURE_STALE or SIGNATURE_INVALID. The nonce is checked by the caller,
 * after this, so that nobody without the key can burn a device's nonces.
 */
export function verifyChallenge(challenge: TokenChallenge, publicKey: string, now: Date): void {
  const time = Date.parse(challenge.timestamp);
  if (Number.isNaN(time)) {
    throw new ManagerError('VALIDATION_FAILED', 'timestamp must be an RFC 3339 date-time');
  }
  const skew = Math.abs(now.getTime() - time) / 1000;
  if (skew > CHALLENGE_WINDOW_SECONDS) {
    throw new ManagerError(
      'SIGNATURE_STALE',
      `timestamp is ${Math.round(skew)} s away from the Manager's clock (at most ${CHALLENGE_WINDOW_SECONDS} s): check the device clock and sign a new challenge`,
    );
  }
  let valid = false;
  try {
    const key = createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: publicKey },
      format: 'jwk',
    });
    valid = verify(
      null,
      challengeMessage(challenge),
      key,
      Buffer.from(challenge.signature, 'base64url'),
    );
  } catch {
    valid = false;
  }
  if (!valid) {
    throw new ManagerError(
      'SIGNATURE_INVALID',
      'signature does not verify with the key this device enrolled with',
    );
  }
}
