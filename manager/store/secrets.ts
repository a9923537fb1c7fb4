import { createHash, randomBytes } from 'node:crypto';
import { dnsLabelPattern } from '../../crds/common.js';

/** Injected randomness: `bytes` cryptographically random bytes. */
export type RandomSource = (bytes: number) => Buffer;

export const defaultRandom: RandomSource = (bytes) => randomBytes(bytes);

const RFC4648 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz';

function base32(bytes: Uint8Array, alphabet: string): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet.charAt((buffer >>> (bits - 5)) & 31);
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += alphabet.charAt((buffer << (5 - bits)) & 31);
  return out;
}

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

/** 20 random bytes: 32 base32 characters, 160 bits. */
const CODE_SECRET_BYTES = 20;
const codePattern = new RegExp(`^(${dnsLabelPattern.source.slice(1, -1)})\\.([A-Za-z2-7]{20,64})$`);

/** Activation codes look like `<domain>.<secret>`; the secret is upper-case RFC 4648 base32. */
export function generateActivationCode(domain: string, random: RandomSource): string {
  return `${domain}.${base32(random(CODE_SECRET_BYTES), RFC4648)}`;
}

export interface ParsedCode {
  domain: string;
  /** SHA-256 hex of the normalized code: what the store keeps. */
  hash: string;
  /** First 8 hex characters of the hash: the code's id in lists and the audit log. */
  id: string;
}

/**
 * Parses a code as a user typed it (surrounding blanks and a lower-case secret are
 * forgiven); undefined when it cannot be a code.
 */
export function parseActivationCode(code: string): ParsedCode | undefined {
  const match = codePattern.exec(code.trim());
  const domain = match?.[1];
  const secret = match?.[3];
  if (domain === undefined || secret === undefined || domain.length > 63) return undefined;
  const hash = sha256Hex(`${domain}.${secret.toUpperCase()}`);
  return { domain, hash, id: codeIdOf(hash) };
}

export function codeIdOf(hash: string): string {
  return hash.slice(0, 8);
}

export const ADMIN_TOKEN_PREFIX = 'gat_';

/** `gat_` and 32 random bytes in base64url. */
export function generateAdminToken(random: RandomSource): string {
  return ADMIN_TOKEN_PREFIX + random(32).toString('base64url');
}

export function hashAdminToken(token: string): string {
  return sha256Hex(token);
}

/**
 * `d-` and a ULID in lower case: 10 characters of millisecond time, 16 of randomness, so
 * device ids sort by enrollment time.
 */
export function newDeviceId(now: Date, random: RandomSource): string {
  let time = now.getTime();
  let timePart = '';
  for (let i = 0; i < 10; i++) {
    timePart = CROCKFORD.charAt(time % 32) + timePart;
    time = Math.floor(time / 32);
  }
  return `d-${timePart}${base32(random(10), CROCKFORD)}`;
}
