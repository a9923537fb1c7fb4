import { createHmac, hkdfSync, randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { ArchiveError } from './archive-errors.js';

/**
 * Password-based keys of an archive. One master key per archive root and password: scrypt over
 * the password with the root's salt (its parameters stored in every file header, so one file
 * alone is enough to open). Each file then has a key of its own, HKDF of the master key with
 * the file's random salt, so no two files share a key and a nonce can never repeat.
 */

/** scrypt cost of new archives: 32 MiB and about 0.1 s per derivation (OWASP's minimum is N=2^17/r=8/p=1 for passwords; archives derive once per process). */
export const DEFAULT_KDF = { N: 2 ** 15, r: 8, p: 1 } as const;

// Bounds on what a header may ask for: a crafted file must not make a reader spend gigabytes.
const MAX_N = 2 ** 20;
const MAX_R = 16;
const MAX_P = 4;

export const kdfSchema = z.strictObject({
  algorithm: z.literal('scrypt'),
  N: z
    .int()
    .min(2 ** 10)
    .max(MAX_N)
    .refine((n) => (n & (n - 1)) === 0, 'must be a power of two'),
  r: z.int().min(1).max(MAX_R),
  p: z.int().min(1).max(MAX_P),
  /** base64 of 16 random bytes, chosen when the archive root was created. */
  salt: z.base64().length(24),
  /** base64 of the first 16 bytes of HMAC-SHA256(master key, "grove-archive-v1 key check"). */
  keyCheck: z.base64().length(24),
});
export type KdfParams = z.infer<typeof kdfSchema>;

const KEY_CHECK_LABEL = 'grove-archive-v1 key check';
const FILE_KEY_LABEL = 'grove-archive-v1 file key';

function scryptKey(password: string, params: Omit<KdfParams, 'keyCheck'>): Buffer {
  const { N, r, p } = params;
  return scryptSync(password.normalize('NFC'), Buffer.from(params.salt, 'base64'), 32, {
    N,
    r,
    p,
    // scrypt needs 128·N·r bytes; Node refuses by default past 32 MiB.
    maxmem: 128 * N * r * p + 16 * 1024 * 1024,
  });
}

function keyCheckOf(master: Buffer): Buffer {
  return createHmac('sha256', master).update(KEY_CHECK_LABEL).digest().subarray(0, 16);
}

/**
 * The master key of one password, derived once per KDF salt and kept for the process: a
 * bridge with thousands of workspaces pays for scrypt once, not per file.
 */
export class ArchiveKeyring {
  private readonly masters = new Map<string, Buffer>();

  constructor(private readonly password: string) {
    if (password.length === 0) {
      throw new ArchiveError('ARCHIVE_WRONG_PASSWORD', 'the archive password is empty');
    }
  }

  /** New KDF parameters (a fresh salt) for a new archive root, with their key check. */
  newKdf(cost: { N: number; r: number; p: number } = DEFAULT_KDF): KdfParams {
    const base = {
      algorithm: 'scrypt' as const,
      ...cost,
      salt: randomBytes(16).toString('base64'),
    };
    const master = scryptKey(this.password, base);
    const kdf: KdfParams = { ...base, keyCheck: keyCheckOf(master).toString('base64') };
    this.masters.set(kdf.salt, master);
    return kdf;
  }

  /** The master key for these parameters; ARCHIVE_WRONG_PASSWORD when the key check differs. */
  master(kdf: KdfParams, where: string): Buffer {
    const cached = this.masters.get(kdf.salt);
    const master = cached ?? scryptKey(this.password, kdf);
    if (!timingSafeEqual(keyCheckOf(master), Buffer.from(kdf.keyCheck, 'base64'))) {
      throw new ArchiveError(
        'ARCHIVE_WRONG_PASSWORD',
        `${where}: the password does not open this archive (its key check differs)`,
      );
    }
    if (cached === undefined) this.masters.set(kdf.salt, master);
    return master;
  }

  /** The key of one file: HKDF-SHA256 of the master key with the file's own salt. */
  fileKey(kdf: KdfParams, fileSalt: Buffer, where: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.master(kdf, where), fileSalt, FILE_KEY_LABEL, 32));
  }
}
