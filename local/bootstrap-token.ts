import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** Where the local stack keeps the Manager's bootstrap admin token (mode 0600). */
export function bootstrapTokenFile(dataDir: string): string {
  return path.join(dataDir, 'manager', 'bootstrap-token');
}

/**
 * The bootstrap server-admin token of the local Manager: made once, then reused, so a token
 * pasted into the web UI or a shell keeps working across restarts.
 */
export async function loadOrCreateBootstrapToken(dataDir: string): Promise<string> {
  const file = bootstrapTokenFile(dataDir);
  try {
    const token = (await readFile(file, 'utf8')).trim();
    if (token.length >= 16) return token;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const token = `gat_${randomBytes(32).toString('base64url')}`;
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  return token;
}
