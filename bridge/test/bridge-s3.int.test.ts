import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { S3Server } from '../../test/support/s3-server.js';
import { waitFor } from '../../test/support/ports.js';
import { ArchiveKeyring } from '../archive/archive-keys.js';
import { ArchiveReader } from '../archive/archive-reader.js';
import type { ArchivedMessage } from '../archive/archive-record.js';
import type { CycleReport } from '../process/archive-cycles.js';
import { S3Store } from '../store/s3-store.js';
import { BridgeWorld, PASSWORD, type MemberDevice } from './bridge-world.js';

interface Sent {
  id: string;
  data: Buffer;
}

describe('grove bridge on an S3 store', () => {
  let world: BridgeWorld;
  let s3: S3Server;
  let alice: MemberDevice;
  let keyFile: string;

  beforeAll(async () => {
    [world, s3] = await Promise.all([
      BridgeWorld.start({
        members: ['alice', 'archiver'],
        workspaces: { team: ['alice', 'archiver'] },
      }),
      S3Server.start({ buckets: ['archive'] }),
    ]);
    alice = await world.device('alice', 'alice-laptop');
    keyFile = await world.keyFile('archiver', 'bridge-device');
  }, 180_000);

  afterAll(async () => {
    await world.stop();
    await s3.stop();
  });

  const args = (prefix: string) => [
    '--device-key',
    keyFile,
    '--s3-bucket',
    s3.bucket,
    '--s3-prefix',
    prefix,
    '--s3-endpoint',
    s3.endpoint,
    '--schedule',
    '0 0 1 1 *',
  ];
  const env = () => ({
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
  });

  async function archived(prefix: string): Promise<ArchivedMessage[]> {
    const store = new S3Store({
      bucket: s3.bucket,
      prefix: `${prefix}/`,
      endpoint: s3.endpoint,
      credentials: s3.credentials,
    });
    const reader = new ArchiveReader(store, new ArchiveKeyring(PASSWORD));
    const messages: ArchivedMessage[] = [];
    try {
      for await (const message of reader.messages('acme', 'team', 'latest')) messages.push(message);
    } finally {
      await store.close();
    }
    return messages;
  }

  function expectExactlyOnceInOrder(got: ArchivedMessage[], sent: Sent[]): void {
    expect(got.map((message) => message.id)).toEqual(sent.map((message) => message.id));
    got.forEach((message, index) =>
      expect(message.data.equals(sent[index]?.data ?? Buffer.alloc(0))).toBe(true),
    );
  }

  async function send(
    count: number,
    size: number,
    onEach?: (index: number) => Promise<void>,
  ): Promise<Sent[]> {
    const sent: Sent[] = [];
    for (let index = 0; index < count; index++) {
      const data = randomBytes(size);
      sent.push({ id: (await alice.client.send(['workspace:team'], data)).id, data });
      await onEach?.(index);
    }
    return sent;
  }

  it('archives into S3 exactly once, in order, through kill -9 mid-upload', async () => {
    let bridge = await world.startBridge(args('kill'), { env: env() });
    // 48 KiB payloads: each chunk upload takes a while, so the kills land in the middle of some.
    const sent = await send(120, 48 * 1024, async (index) => {
      if (index % 40 === 20) {
        await new Promise((resolve) => setTimeout(resolve, 3 + (index % 17)));
        await bridge.kill9();
        bridge = await world.startBridge(args('kill'), { env: env() });
      }
    });
    await waitFor(
      async () => {
        const report = await bridge.cycle<CycleReport>();
        return report.outcome === 'Succeeded' && (await archived('kill')).length >= sent.length;
      },
      'a cycle that seals every message',
      60_000,
      500,
    );
    expectExactlyOnceInOrder(await archived('kill'), sent);
  }, 240_000);

  it('holds everything while the S3 server is down, reports the failed cycle, then catches up', async () => {
    const bridge = await world.startBridge(args('outage'), { env: env() });
    const before = await send(10, 100);
    await waitFor(
      async () => (await bridge.status<{ bufferedMessages: number }>()).bufferedMessages === 0,
      'the first messages to be written',
      20_000,
    );
    await s3.kill();
    let restarted = false;
    try {
      const during = await send(10, 100);
      const report = await bridge.cycle<CycleReport>();
      expect(report.outcome).toBe('Failed');
      expect(report.errors[0]).toMatchObject({ code: 'ARCHIVE_STORE_UNAVAILABLE' });
      const ready = await bridge.ready();
      expect(ready.status).toBe(503);
      expect(String(ready.body.reason)).toContain('archive writes fail');
      expect((await bridge.status<{ recent: CycleReport[] }>()).recent[0]?.outcome).toBe('Failed');
      await s3.restart();
      restarted = true;
      await waitFor(
        async () => (await bridge.cycle<CycleReport>()).outcome === 'Succeeded',
        'a cycle to succeed after the outage',
        90_000,
        1000,
      );
      expect((await bridge.ready()).status).toBe(200);
      expectExactlyOnceInOrder(await archived('outage'), [...before, ...during]);
    } finally {
      if (!restarted) await s3.restart();
    }
  }, 240_000);
});
