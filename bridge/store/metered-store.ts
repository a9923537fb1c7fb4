import type { ArchiveStore, StoredFile } from './archive-store.js';

/** Which kind of archive file a key names, from its folder (see archive-layout.ts). */
export function kindOfKey(key: string): 'chunk' | 'segment' | 'manifest' | 'root' | 'other' {
  if (key.includes('/open/')) return 'chunk';
  if (key.includes('/segments/')) return 'segment';
  if (key.includes('/manifest/')) return 'manifest';
  if (key.endsWith('/root.grove')) return 'root';
  return 'other';
}

/** An ArchiveStore that reports the bytes of each file it creates (for metrics). */
export class MeteredStore implements ArchiveStore {
  constructor(
    private readonly inner: ArchiveStore,
    private readonly onCreated: (kind: ReturnType<typeof kindOfKey>, bytes: number) => void,
  ) {}

  get description(): string {
    return this.inner.description;
  }

  async create(key: string, body: Buffer): Promise<boolean> {
    const created = await this.inner.create(key, body);
    if (created) this.onCreated(kindOfKey(key), body.length);
    return created;
  }

  get(key: string, maxBytes: number): Promise<Buffer | undefined> {
    return this.inner.get(key, maxBytes);
  }

  list(prefix: string): Promise<StoredFile[]> {
    return this.inner.list(prefix);
  }

  folders(prefix: string): Promise<string[]> {
    return this.inner.folders(prefix);
  }

  delete(keys: readonly string[]): Promise<void> {
    return this.inner.delete(keys);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
