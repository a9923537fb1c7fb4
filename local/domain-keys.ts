import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { generateDomainKey, type DomainSigningKey } from '../contracts/auth/device-token.js';

/** Where the local stack keeps a domain's signing keys (the operator keeps them in a Secret). */
export function domainKeyFile(dataDir: string, domain: string): string {
  return path.join(dataDir, 'keys', `${domain}.json`);
}

/**
 * Reads the domain's signing keys, creating the first one when there is none. The file is
 * written exclusively with mode 0600: when two processes race, both end up with the key
 * the winner wrote.
 */
export async function loadOrCreateDomainKeys(
  dataDir: string,
  domain: string,
): Promise<DomainSigningKey[]> {
  const file = domainKeyFile(dataDir, domain);
  try {
    return parseKeys(await readFile(file, 'utf8'), file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const key = await generateDomainKey(`${domain}-1`);
  try {
    await writeFile(file, `${JSON.stringify([key], null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    return [key];
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return parseKeys(await readFile(file, 'utf8'), file);
  }
}

function parseKeys(text: string, file: string): DomainSigningKey[] {
  const value = JSON.parse(text) as unknown;
  if (!Array.isArray(value) || value.length === 0) {
    throw new Error(
      `${file}: expected a JSON array of signing keys; delete the file to create a new key`,
    );
  }
  return value as DomainSigningKey[];
}
