import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** Where the local stack keeps its Redis password (mode 0600), in Redis's own folder. */
export function redisPasswordFile(redisDir: string): string {
  return path.join(redisDir, 'password');
}

/** The redis.conf fragment redis-server reads first: the password, off its command line. */
export function redisConfFile(redisDir: string): string {
  return path.join(redisDir, 'redis.conf');
}

/**
 * The local Redis password: made once (32 random bytes, base64url), then reused, so the AOF
 * and every client agree across restarts. Delete the file for a new one.
 */
export async function loadOrCreateRedisPassword(redisDir: string): Promise<string> {
  const file = redisPasswordFile(redisDir);
  try {
    const password = (await readFile(file, 'utf8')).trim();
    if (password.length >= 16) {
      await chmod(file, 0o600);
      return password;
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await mkdir(redisDir, { recursive: true, mode: 0o700 });
  const password = randomBytes(32).toString('base64url');
  await writeFile(file, `${password}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return password;
}

/**
 * Writes the redis.conf fragment holding `requirepass` (mode 0600; read by redis-server as its
 * config file, so the password never appears in its argv or `ps`). base64url needs no quoting.
 */
export async function writeRedisConf(redisDir: string, password: string): Promise<string> {
  if (!/^[A-Za-z0-9_-]+$/.test(password)) {
    throw new Error(`${redisPasswordFile(redisDir)} holds characters other than A-Z a-z 0-9 _ -`);
  }
  const file = redisConfFile(redisDir);
  await writeFile(
    file,
    `# Written by grove local at every start from ${path.basename(redisPasswordFile(redisDir))}.\nrequirepass ${password}\n`,
    { mode: 0o600 },
  );
  await chmod(file, 0o600);
  return file;
}

/**
 * Closes Redis's folder to everyone but its owner: the folder and its subfolders 0700, every
 * file 0600. Files written by an older local stack (0644 under the usual umask) are fixed at
 * start; redis-server itself then runs with umask 077 (redis-server has no setting for the mode
 * of the files it creates: it opens them 0644, less the umask).
 */
export async function restrictRedisFiles(redisDir: string): Promise<void> {
  await chmod(redisDir, 0o700);
  for (const entry of await readdir(redisDir, { withFileTypes: true })) {
    const full = path.join(redisDir, entry.name);
    if (entry.isDirectory()) await restrictRedisFiles(full);
    else if (entry.isFile()) await chmod(full, 0o600);
  }
}

/**
 * Runs `start` (a synchronous spawn) with umask 077, which the child inherits: whatever it
 * creates is its owner's alone. The process's own umask is restored at once.
 */
export function withPrivateUmask<T>(start: () => T): T {
  const previous = process.umask(0o077);
  try {
    return start();
  } finally {
    process.umask(previous);
  }
}
