/**
 * Where archive files live: a folder (a PVC) or an S3 bucket and prefix. Every archive file
 * is written once and never changed (new manifests are new numbered files), so the interface
 * is create-if-absent, read, list and delete: a crash leaves a file either whole or absent,
 * and two writers of the same file cannot both succeed.
 *
 * Keys are `/`-separated relative paths (`acme/team/segments/000000000001.grove`). Every
 * failure of the medium is an ArchiveError ARCHIVE_STORE_UNAVAILABLE naming the store.
 */
export interface ArchiveStore {
  /** `file:///data/archive` or `s3://bucket/prefix (endpoint)`: for messages and logs. */
  readonly description: string;
  /**
   * Writes `body` under `key` durably (fsync / a completed PUT) unless the key exists.
   * Resolves true when written, false when the key already existed (nothing changed).
   */
  create(key: string, body: Buffer): Promise<boolean>;
  /** The file's bytes, or undefined when absent; ARCHIVE_TOO_LARGE past `maxBytes`. */
  get(key: string, maxBytes: number): Promise<Buffer | undefined>;
  /** Every file under `prefix` (a folder, ending in `/`) and below, with its size, sorted by key. */
  list(prefix: string): Promise<StoredFile[]>;
  /** The names of the folders directly under `prefix` (ending in `/`), sorted. */
  folders(prefix: string): Promise<string[]>;
  /** Removes the files; absent ones are fine. */
  delete(keys: readonly string[]): Promise<void>;
  /** Releases connections. */
  close(): Promise<void>;
}

export interface StoredFile {
  key: string;
  size: number;
}

/** Refuses keys that could leave the store's root or are not plain relative paths. */
export function checkKey(key: string): void {
  if (
    key === '' ||
    key.startsWith('/') ||
    key.includes('\\') ||
    key.split('/').some((part) => part === '' || part === '.' || part === '..')
  ) {
    throw new Error(`invalid archive key "${key}"`);
  }
}

export function checkPrefix(prefix: string): void {
  if (prefix === '') return;
  if (!prefix.endsWith('/')) throw new Error(`invalid archive prefix "${prefix}": must end in /`);
  checkKey(prefix.slice(0, -1));
}
