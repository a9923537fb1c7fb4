import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runGrove } from '../../test/support/grove-cli.js';
import { S3Server } from '../../test/support/s3-server.js';
import { ArchiveKeyring } from '../archive/archive-keys.js';
import { segmentKey } from '../archive/archive-layout.js';
import type { ArchivedMessage } from '../archive/archive-record.js';
import { openArchiveRoot } from '../archive/archive-root.js';
import { DEFAULT_ARCHIVE_LIMITS, WorkspaceArchive } from '../archive/workspace-archive.js';
import type { ArchiveStore } from '../store/archive-store.js';
import { FilesystemStore } from '../store/filesystem-store.js';
import { S3Store } from '../store/s3-store.js';

const PASSWORD = 'cli test password';
let s3: S3Server | undefined;
const dir = mkdtempSync(join(tmpdir(), 'grove-archive-cli-'));
const passwordFile = join(dir, 'password');
const wrongFile = join(dir, 'wrong');
writeFileSync(passwordFile, `${PASSWORD}\n`);
writeFileSync(wrongFile, 'nope');

const t0 = Date.parse('2026-04-01T00:00:00Z');
function message(index: number, data: Buffer): ArchivedMessage {
  return {
    id: `m${index.toString().padStart(4, '0')}`,
    from: { identity: 'alice', device: 'a1' },
    to: ['workspace:team'],
    createdAt: t0 + index * 60_000,
    archivedAt: t0 + index * 60_000 + 10,
    data,
  };
}

/** Three sealed segments of 2 messages each (one binary), written the way the bridge does. */
async function fill(store: ArchiveStore): Promise<ArchivedMessage[]> {
  const keyring = new ArchiveKeyring(PASSWORD);
  const kdf = await openArchiveRoot(store, keyring, 'acme', new Date(t0), true);
  const archive = await WorkspaceArchive.load(
    store,
    keyring,
    kdf,
    'acme',
    'team',
    DEFAULT_ARCHIVE_LIMITS,
    new Date(t0),
  );
  const all: ArchivedMessage[] = [];
  for (let segment = 0; segment < 3; segment++) {
    const pair = [
      message(segment * 2 + 1, Buffer.from(`text ${segment}`)),
      message(segment * 2 + 2, randomBytes(40)),
    ];
    all.push(...pair);
    await archive.append(pair, new Date(t0));
    await archive.seal(new Date(t0 + segment));
  }
  await store.close();
  return all;
}

beforeAll(async () => {
  s3 = await S3Server.start({ buckets: ['archive'] });
}, 120_000);

afterAll(async () => {
  await s3?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);

describe.each(['filesystem', 'S3'])('grove archive on a %s store', (kind) => {
  let storeArgs: string[];
  let env: Record<string, string>;
  let store: () => ArchiveStore;
  let written: ArchivedMessage[];

  beforeAll(async () => {
    if (kind === 'filesystem') {
      const path = join(dir, 'fs');
      storeArgs = ['--path', path];
      env = {};
      store = () => new FilesystemStore(path);
    } else {
      if (s3 === undefined) throw new Error('no S3 server');
      const server = s3;
      storeArgs = [
        '--s3-bucket',
        server.bucket,
        '--s3-prefix',
        'cli',
        '--s3-endpoint',
        server.endpoint,
      ];
      env = {
        AWS_ACCESS_KEY_ID: server.accessKeyId,
        AWS_SECRET_ACCESS_KEY: server.secretAccessKey,
      };
      store = () =>
        new S3Store({
          bucket: server.bucket,
          prefix: 'cli/',
          endpoint: server.endpoint,
          credentials: server.credentials,
        });
    }
    written = await fill(store());
  }, 60_000);

  const grove = (args: string[]) => runGrove(['archive', ...args, ...storeArgs], { env });

  it('lists each workspace with its segments, ranges, sizes and SHA-256', async () => {
    const run = await grove(['list', '--password-file', passwordFile]);
    expect(run.code).toBe(0);
    const [team] = jsonLines(run.stdout);
    expect(team).toMatchObject({ domain: 'acme', workspace: 'team', messages: 6 });
    const segments = team?.segments as {
      number: number;
      firstId: string;
      lastId: string;
      sha256: string;
    }[];
    expect(segments.map((s) => [s.number, s.firstId, s.lastId])).toEqual([
      [1, 'm0001', 'm0002'],
      [2, 'm0003', 'm0004'],
      [3, 'm0005', 'm0006'],
    ]);
    expect(segments[0]?.sha256).toMatch(/^[0-9a-f]{64}$/);
  }, 60_000);

  it('exports messages byte for byte, to a segment or a point in time', async () => {
    const run = await grove(['export', '--password-file', passwordFile, '--workspace', 'team']);
    expect(run.code).toBe(0);
    const lines = jsonLines(run.stdout);
    expect(lines.map((line) => line.id)).toEqual(written.map((m) => m.id));
    lines.forEach((line, index) => {
      const data = Buffer.from(line.data as string, line.encoding === 'base64' ? 'base64' : 'utf8');
      expect(data.equals(written[index]?.data ?? Buffer.alloc(0))).toBe(true);
    });
    const toSegment = await grove([
      'export',
      '--password-file',
      passwordFile,
      '--workspace',
      'team',
      '--segment',
      '2',
    ]);
    expect(jsonLines(toSegment.stdout).map((line) => line.id)).toEqual([
      'm0001',
      'm0002',
      'm0003',
      'm0004',
    ]);
    const until = new Date(t0 + 3 * 60_000).toISOString();
    const toTime = await grove([
      'export',
      '--password-file',
      passwordFile,
      '--workspace',
      'team',
      '--until',
      until,
    ]);
    expect(jsonLines(toTime.stdout).map((line) => line.id)).toEqual(['m0001', 'm0002', 'm0003']);
  }, 60_000);

  it('verifies a sound archive, and says ARCHIVE_WRONG_PASSWORD for another password', async () => {
    const ok = await grove(['verify', '--password-file', passwordFile]);
    expect(ok.code).toBe(0);
    expect(jsonLines(ok.stdout).at(-1)).toEqual({
      ok: true,
      domain: 'acme',
      workspaces: 1,
      messages: 6,
    });
    const wrong = await grove(['verify', '--password-file', wrongFile]);
    expect(wrong.code).toBe(1);
    expect(JSON.parse(wrong.stderr)).toMatchObject({ error: { code: 'ARCHIVE_WRONG_PASSWORD' } });
  }, 60_000);

  it('names a tampered segment (exit 1, ARCHIVE_TAMPERED) and deletes nothing', async () => {
    const target = store();
    const key = segmentKey('acme', 'team', 2);
    const bytes = await target.get(key, 1 << 20);
    if (bytes === undefined) throw new Error('no segment 2');
    const changed = Buffer.from(bytes);
    changed[changed.length - 5] = (changed[changed.length - 5] ?? 0) ^ 0x10;
    await target.delete([key]);
    await target.create(key, changed);
    const before = await target.list('');
    const run = await grove(['verify', '--password-file', passwordFile]);
    expect(run.code).toBe(1);
    const refusal = JSON.parse(run.stderr) as { error: { code: string; message: string } };
    expect(refusal.error.code).toBe('ARCHIVE_TAMPERED');
    expect(refusal.error.message).toContain(key);
    const exported = await grove([
      'export',
      '--password-file',
      passwordFile,
      '--workspace',
      'team',
    ]);
    expect(exported.code).toBe(1);
    expect(await target.list('')).toEqual(before);
    await target.delete([key]);
    await target.create(key, bytes);
    await target.close();
  }, 60_000);
});
