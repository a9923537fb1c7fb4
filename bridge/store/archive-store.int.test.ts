import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Server } from '../../test/support/s3-server.js';
import { ArchiveError } from '../archive/archive-errors.js';
import type { ArchiveStore } from './archive-store.js';
import { FilesystemStore } from './filesystem-store.js';
import { S3Store } from './s3-store.js';

let s3: S3Server | undefined;
const folder = mkdtempSync(join(tmpdir(), 'grove-store-'));

beforeAll(async () => {
  s3 = await S3Server.start({ buckets: ['archive'] });
}, 120_000);

afterAll(async () => {
  await s3?.stop();
  rmSync(folder, { recursive: true, force: true });
});

function s3Store(prefix: string): S3Store {
  if (s3 === undefined) throw new Error('no S3 server');
  return new S3Store({
    bucket: s3.bucket,
    prefix,
    endpoint: s3.endpoint,
    credentials: s3.credentials,
    requestTimeoutMs: 5_000,
    maxAttempts: 1,
  });
}

const stores: [string, () => ArchiveStore][] = [
  ['filesystem', () => new FilesystemStore(join(folder, 'contract'))],
  ['S3', () => s3Store('contract/')],
];

describe.each(stores)('%s archive store', (_name, make) => {
  let store: ArchiveStore;
  beforeAll(() => {
    store = make();
  });
  afterAll(() => store.close());

  it('creates a file once: a second create of the name changes nothing', async () => {
    expect(await store.create('d/w/open/000000000001.grove', Buffer.from('first'))).toBe(true);
    expect(await store.create('d/w/open/000000000001.grove', Buffer.from('second'))).toBe(false);
    expect((await store.get('d/w/open/000000000001.grove', 100))?.toString()).toBe('first');
  });

  it('reads absent files as undefined and bounds what it reads', async () => {
    expect(await store.get('d/w/none.grove', 100)).toBeUndefined();
    await store.create('d/w/big.grove', Buffer.alloc(1000));
    await expect(store.get('d/w/big.grove', 999)).rejects.toMatchObject({
      code: 'ARCHIVE_TOO_LARGE',
    });
  });

  it('lists files with sizes in key order, and folders', async () => {
    await store.create('d/w/segments/000000000002.grove', Buffer.from('22'));
    await store.create('d/w/segments/000000000001.grove', Buffer.from('1'));
    await store.create('d/x/manifest/000000000001.grove', Buffer.from('m'));
    expect(await store.list('d/w/segments/')).toEqual([
      { key: 'd/w/segments/000000000001.grove', size: 1 },
      { key: 'd/w/segments/000000000002.grove', size: 2 },
    ]);
    expect(await store.folders('d/')).toEqual(['w', 'x']);
    expect(await store.list('nothing/')).toEqual([]);
  });

  it('deletes files, absent ones included', async () => {
    await store.delete(['d/w/segments/000000000001.grove', 'd/w/never.grove']);
    expect((await store.list('d/w/segments/')).map((file) => file.key)).toEqual([
      'd/w/segments/000000000002.grove',
    ]);
  });

  it('refuses keys that leave the root', async () => {
    await expect(store.create('../escape', Buffer.from('x'))).rejects.toThrow(
      /invalid archive key/,
    );
    await expect(store.get('/etc/passwd', 10)).rejects.toThrow(/invalid archive key/);
  });
});

describe('filesystem store', () => {
  it('leaves no temporary file behind', async () => {
    const store = new FilesystemStore(join(folder, 'temp'));
    await store.create('a/b.grove', Buffer.from('x'));
    await store.create('a/b.grove', Buffer.from('y'));
    expect(readdirSync(join(folder, 'temp', 'a'))).toEqual(['b.grove']);
  });
});

describe('S3 store', () => {
  it('says ARCHIVE_STORE_UNAVAILABLE, naming the store, while the server is down', async () => {
    const server = s3;
    if (server === undefined) throw new Error('no S3 server');
    const store = s3Store('down/');
    await server.kill();
    try {
      const failure = await store
        .create('k.grove', Buffer.from('x'))
        .catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(ArchiveError);
      expect(failure).toMatchObject({ code: 'ARCHIVE_STORE_UNAVAILABLE' });
      expect((failure as Error).message).toContain('s3://archive/down/');
    } finally {
      await server.restart();
      await store.close();
    }
    const again = s3Store('down/');
    expect(await again.create('k.grove', Buffer.from('x'))).toBe(true);
    await again.close();
  }, 90_000);
});
