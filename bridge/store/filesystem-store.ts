import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readdir, stat, unlink } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ArchiveError } from '../archive/archive-errors.js';
import { checkKey, checkPrefix, type ArchiveStore, type StoredFile } from './archive-store.js';

const errno = (error: unknown): string | undefined => (error as NodeJS.ErrnoException).code;

/**
 * Archive files in a folder (a PersistentVolumeClaim in a cluster). A file is written to a
 * temporary name in its folder, fsynced, then linked to its name (link(2) fails when the name
 * exists: create-if-absent in one step, never a half file under the name) and the folder is
 * fsynced, so the new name survives a power cut too.
 */
export class FilesystemStore implements ArchiveStore {
  readonly root: string;
  readonly description: string;

  constructor(root: string) {
    this.root = resolve(root);
    this.description = pathToFileURL(this.root).href;
  }

  private path(key: string): string {
    checkKey(key);
    return join(this.root, ...key.split('/'));
  }

  private failure(action: string, key: string, error: unknown): ArchiveError {
    return new ArchiveError(
      'ARCHIVE_STORE_UNAVAILABLE',
      `${this.description}: cannot ${action} ${key}: ${(error as Error).message}`,
      { cause: error },
    );
  }

  async create(key: string, body: Buffer): Promise<boolean> {
    const path = this.path(key);
    const folder = dirname(path);
    const temp = join(folder, `.tmp-${randomBytes(8).toString('hex')}`);
    try {
      await mkdir(folder, { recursive: true });
      const file = await open(temp, 'wx', 0o600);
      try {
        await file.writeFile(body);
        await file.sync();
      } finally {
        await file.close();
      }
      try {
        await link(temp, path);
      } catch (error) {
        if (errno(error) === 'EEXIST') return false;
        throw error;
      }
      await syncFolder(folder);
      return true;
    } catch (error) {
      throw this.failure('write', key, error);
    } finally {
      await unlink(temp).catch(() => undefined);
    }
  }

  async get(key: string, maxBytes: number): Promise<Buffer | undefined> {
    const path = this.path(key);
    try {
      const file = await open(path, 'r');
      try {
        const { size } = await file.stat();
        if (size > maxBytes) {
          throw new ArchiveError(
            'ARCHIVE_TOO_LARGE',
            `${this.description}: ${key} is ${size} bytes, over the bound of ${maxBytes}`,
          );
        }
        return await file.readFile();
      } finally {
        await file.close();
      }
    } catch (error) {
      if (errno(error) === 'ENOENT') return undefined;
      if (error instanceof ArchiveError) throw error;
      throw this.failure('read', key, error);
    }
  }

  async list(prefix: string): Promise<StoredFile[]> {
    checkPrefix(prefix);
    const start = prefix === '' ? this.root : join(this.root, ...prefix.slice(0, -1).split('/'));
    const files: StoredFile[] = [];
    const walk = async (folder: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(folder, { withFileTypes: true });
      } catch (error) {
        if (errno(error) === 'ENOENT') return;
        throw this.failure('list', prefix, error);
      }
      for (const entry of entries) {
        const path = join(folder, entry.name);
        if (entry.isDirectory()) await walk(path);
        else if (entry.isFile() && !entry.name.startsWith('.tmp-')) {
          const size = await stat(path).then(
            (s) => s.size,
            () => undefined,
          );
          if (size !== undefined)
            files.push({ key: relative(this.root, path).split(sep).join('/'), size });
        }
      }
    };
    await walk(start);
    return files.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async folders(prefix: string): Promise<string[]> {
    checkPrefix(prefix);
    const folder = prefix === '' ? this.root : join(this.root, ...prefix.slice(0, -1).split('/'));
    try {
      const entries = await readdir(folder, { withFileTypes: true });
      return entries
        .filter((entry) => entry.isDirectory())
        .map((entry) => entry.name)
        .sort();
    } catch (error) {
      if (errno(error) === 'ENOENT') return [];
      throw this.failure('list', prefix, error);
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    const folders = new Set<string>();
    for (const key of keys) {
      const path = this.path(key);
      try {
        await unlink(path);
        folders.add(dirname(path));
      } catch (error) {
        if (errno(error) !== 'ENOENT') throw this.failure('delete', key, error);
      }
    }
    for (const folder of folders) await syncFolder(folder).catch(() => undefined);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** fsync of a folder: makes a link or unlink in it durable. */
async function syncFolder(folder: string): Promise<void> {
  const handle = await open(folder, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
