import { ArchiveError } from './archive-errors.js';
import { decodeArchiveFile, encodeArchiveFile, readFileHeader } from './archive-file.js';
import type { ArchiveKeyring, KdfParams } from './archive-keys.js';
import { rootKey } from './archive-layout.js';
import type { ArchiveStore } from '../store/archive-store.js';

const MAX_ROOT_BYTES = 64 * 1024;

/**
 * The root file of a domain's archives: it fixes the KDF salt and parameters (and so the
 * password) every file of the domain is written with. The first bridge to archive a domain
 * creates it; a bridge started with another password stops at once with
 * ARCHIVE_WRONG_PASSWORD, before it writes or deletes anything.
 */
export async function openArchiveRoot(
  store: ArchiveStore,
  keyring: ArchiveKeyring,
  domain: string,
  now: Date,
  createIfMissing: boolean,
): Promise<KdfParams> {
  const key = rootKey(domain);
  const identity = { kind: 'root' as const, domain, workspace: '', number: 0 };
  for (let attempt = 0; attempt < 2; attempt++) {
    const existing = await store.get(key, MAX_ROOT_BYTES);
    if (existing !== undefined) {
      const where = `${store.description} ${key}`;
      const { kdf } = readFileHeader(existing, where);
      keyring.master(kdf, where);
      decodeArchiveFile(existing, keyring, identity, MAX_ROOT_BYTES);
      return kdf;
    }
    if (!createIfMissing) {
      throw new ArchiveError(
        'ARCHIVE_NOT_FOUND',
        `${store.description}: no archive of domain ${domain} (${key} is missing)`,
      );
    }
    const kdf = keyring.newKdf();
    const content = Buffer.from(
      JSON.stringify({
        format: 'grove-archive-root',
        version: 1,
        domain,
        createdAt: now.toISOString(),
      }),
    );
    // Another bridge may create it first: then its parameters are read back.
    if (await store.create(key, encodeArchiveFile(identity, content, { keyring, kdf, now })))
      return kdf;
  }
  throw new ArchiveError(
    'ARCHIVE_CONFLICT',
    `${store.description}: ${key} changes while it is read`,
  );
}
