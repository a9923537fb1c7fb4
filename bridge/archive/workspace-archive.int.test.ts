import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Server } from '../../test/support/s3-server.js';
import type { ArchiveStore } from '../store/archive-store.js';
import { FilesystemStore } from '../store/filesystem-store.js';
import { S3Store } from '../store/s3-store.js';
import { ArchiveKeyring } from './archive-keys.js';
import { chunkKey, segmentKey } from './archive-layout.js';
import { ArchiveReader } from './archive-reader.js';
import type { ArchivedMessage } from './archive-record.js';
import { openArchiveRoot } from './archive-root.js';
import { DEFAULT_ARCHIVE_LIMITS, WorkspaceArchive } from './workspace-archive.js';

let s3: S3Server | undefined;
const folder = mkdtempSync(join(tmpdir(), 'grove-ws-archive-'));
const day = 24 * 3600 * 1000;
const t0 = Date.parse('2026-05-01T00:00:00Z');

beforeAll(async () => {
  s3 = await S3Server.start({ buckets: ['archive'] });
}, 120_000);

afterAll(async () => {
  await s3?.stop();
  rmSync(folder, { recursive: true, force: true });
});

function message(index: number, at = t0 + index): ArchivedMessage {
  return {
    id: `m${index.toString().padStart(6, '0')}`,
    from: { identity: 'alice', device: 'a1' },
    to: ['workspace:team'],
    createdAt: at,
    archivedAt: at + 5,
    data: Buffer.from(`payload ${index}`),
  };
}

const stores: [string, (name: string) => ArchiveStore][] = [
  ['filesystem', (name) => new FilesystemStore(join(folder, name))],
  [
    'S3',
    (name) => {
      if (s3 === undefined) throw new Error('no S3 server');
      return new S3Store({
        bucket: s3.bucket,
        prefix: `${name}/`,
        endpoint: s3.endpoint,
        credentials: s3.credentials,
      });
    },
  ],
];

describe.each(stores)('a workspace archive on the %s store', (_kind, makeStore) => {
  const keyring = new ArchiveKeyring('the archive password');
  const open = async (store: ArchiveStore, now: number) => {
    const kdf = await openArchiveRoot(store, keyring, 'acme', new Date(now), true);
    return WorkspaceArchive.load(
      store,
      keyring,
      kdf,
      'acme',
      'team',
      DEFAULT_ARCHIVE_LIMITS,
      new Date(now),
    );
  };

  it('appends chunks, skips messages it has, seals them into a segment listed in the manifest', async () => {
    const store = makeStore('seal');
    const archive = await open(store, t0);
    expect(await archive.append([message(1), message(2)], new Date(t0))).toBe(2);
    expect(await archive.append([message(2), message(3), message(3)], new Date(t0))).toBe(1);
    expect(archive.openChunks).toBe(2);
    const sealed = await archive.seal(new Date(t0 + 1000));
    expect(sealed.segment).toMatchObject({
      number: 1,
      count: 3,
      firstId: 'm000001',
      lastId: 'm000003',
      chunks: { first: 1, last: 2 },
    });
    expect(await store.list('acme/team/open/')).toEqual([]);
    const reader = new ArchiveReader(store, keyring);
    const restored = [];
    for await (const m of reader.messages('acme', 'team', 'latest')) restored.push(m);
    expect(restored).toEqual([message(1), message(2), message(3)]);
    // After a restart, the newest segment's messages are still known: a redelivery is skipped.
    const again = await open(store, t0 + 2000);
    expect(again.has(message(2))).toBe(true);
    expect(await again.append([message(3), message(4)], new Date(t0 + 2000))).toBe(1);
    await store.close();
  });

  it('recovers from a seal that stopped after the segment, and one that stopped after the manifest', async () => {
    const store = makeStore('crash');
    const archive = await open(store, t0);
    await archive.append([message(1)], new Date(t0));
    await archive.append([message(2)], new Date(t0));
    // A seal that stopped before its manifest left a segment file nobody lists.
    await store.create(segmentKey('acme', 'team', 1), Buffer.from('half a seal'));
    const restarted = await open(store, t0 + 10);
    expect(restarted.openMessages).toBe(2);
    expect(await store.get(segmentKey('acme', 'team', 1), 100)).toBeUndefined();
    await restarted.seal(new Date(t0 + 20));
    // A seal that stopped after its manifest left its chunks: they go at the next load.
    await store.create(chunkKey('acme', 'team', 2), Buffer.from('sealed already'));
    const third = await open(store, t0 + 30);
    expect(third.openChunks).toBe(0);
    expect(await store.list('acme/team/open/')).toEqual([]);
    const report = await new ArchiveReader(store, keyring).verifyWorkspace('acme', 'team');
    expect(report).toMatchObject({ segments: 1, messages: 2, problems: [] });
    await store.close();
  });

  it('prunes by count and by age, never the open segment, and finally the whole archive', async () => {
    const store = makeStore('retention');
    let archive = await open(store, t0);
    for (let n = 1; n <= 4; n++) {
      await archive.append([message(n, t0 + n * day)], new Date(t0 + n * day));
      await archive.seal(new Date(t0 + n * day));
    }
    await archive.append([message(5, t0 + 5 * day)], new Date(t0 + 5 * day));
    const byCount = await archive.prune({ keepLast: 2 }, new Date(t0 + 5 * day));
    expect(byCount.pruned.map((p) => [p.number, p.reason])).toEqual([
      [1, 'count'],
      [2, 'count'],
    ]);
    expect((await store.list('acme/team/segments/')).length).toBe(2);
    const byAge = await archive.prune({ keepLast: 2, maxAgeMs: 1.5 * day }, new Date(t0 + 5 * day));
    expect(byAge.pruned.map((p) => [p.number, p.reason])).toEqual([[3, 'age']]);
    expect(archive.openChunks).toBe(1);
    // Nothing left but an open segment: the archive stays.
    archive = await open(store, t0 + 30 * day);
    const openOnly = await archive.prune({ keepLast: 2, maxAgeMs: day }, new Date(t0 + 30 * day));
    expect(openOnly).toMatchObject({
      pruned: [{ number: 4, reason: 'age' }],
      removedArchive: false,
    });
    await archive.seal(new Date(t0 + 30 * day));
    const all = await archive.prune({ keepLast: 2, maxAgeMs: day }, new Date(t0 + 60 * day));
    expect(all.pruned.map((p) => p.number)).toEqual([5]);
    expect(all.removedArchive).toBe(true);
    expect(await store.list('acme/team/')).toEqual([]);
    await store.close();
  });

  it('stops at a wrong password before touching anything', async () => {
    const store = makeStore('password');
    const archive = await open(store, t0);
    await archive.append([message(1)], new Date(t0));
    const before = await store.list('');
    await expect(
      openArchiveRoot(store, new ArchiveKeyring('not it'), 'acme', new Date(), true),
    ).rejects.toMatchObject({
      code: 'ARCHIVE_WRONG_PASSWORD',
    });
    expect(await store.list('')).toEqual(before);
    await store.close();
  });

  it('names a tampered segment in verify, and refuses to restore it', async () => {
    const store = makeStore('tamper');
    const archive = await open(store, t0);
    await archive.append([message(1), message(2)], new Date(t0));
    await archive.seal(new Date(t0));
    const key = segmentKey('acme', 'team', 1);
    const bytes = await store.get(key, 1 << 20);
    if (bytes === undefined) throw new Error('no segment');
    bytes[bytes.length - 20] = (bytes[bytes.length - 20] ?? 0) ^ 0xff;
    await store.delete([key]);
    await store.create(key, bytes);
    const reader = new ArchiveReader(store, keyring);
    const report = await reader.verifyWorkspace('acme', 'team');
    expect(report.problems).toEqual([
      { code: 'ARCHIVE_TAMPERED', message: expect.stringContaining(key) },
    ]);
    const restore = async () => {
      const read: ArchivedMessage[] = [];
      for await (const m of reader.messages('acme', 'team', 'latest')) read.push(m);
      return read;
    };
    await expect(restore()).rejects.toMatchObject({ code: 'ARCHIVE_TAMPERED' });
    expect((await store.list('acme/team/segments/')).length).toBe(1);
    await store.close();
  });
});
