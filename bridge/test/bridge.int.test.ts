import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectRun, spawnGrove } from '../../test/support/grove-cli.js';
import { waitFor } from '../../test/support/ports.js';
import { ArchiveKeyring } from '../archive/archive-keys.js';
import { ArchiveReader } from '../archive/archive-reader.js';
import type { ArchivedMessage } from '../archive/archive-record.js';
import { FilesystemStore } from '../store/filesystem-store.js';
import type { CycleReport } from '../process/archive-cycles.js';
import { BridgeWorld, PASSWORD, type MemberDevice } from './bridge-world.js';

interface Sent {
  id: string;
  data: Buffer;
}

/** Every archived message of a workspace (sealed segments), oldest first. */
async function archived(path: string, workspace: string): Promise<ArchivedMessage[]> {
  const reader = new ArchiveReader(new FilesystemStore(path), new ArchiveKeyring(PASSWORD));
  const messages: ArchivedMessage[] = [];
  for await (const message of reader.messages('acme', workspace, 'latest')) messages.push(message);
  return messages;
}

function expectExactlyOnceInOrder(got: ArchivedMessage[], sent: Sent[]): void {
  expect(got.map((message) => message.id)).toEqual(sent.map((message) => message.id));
  for (const [index, message] of got.entries()) {
    expect(message.data.equals(sent[index]?.data ?? Buffer.alloc(0))).toBe(true);
  }
}

async function sendMany(
  device: MemberDevice,
  to: string,
  count: number,
  onEach?: (index: number) => Promise<void> | void,
): Promise<Sent[]> {
  const sent: Sent[] = [];
  for (let index = 0; index < count; index++) {
    const data = randomBytes(20 + (index % 200));
    const receipt = await device.client.send([to], data);
    sent.push({ id: receipt.id, data });
    await onEach?.(index);
  }
  return sent;
}

describe('grove bridge on a filesystem store', () => {
  let world: BridgeWorld;
  let alice: MemberDevice;
  let keyFile: string;

  beforeAll(async () => {
    world = await BridgeWorld.start({
      members: ['alice', 'bob', 'archiver'],
      workspaces: {
        team: ['alice', 'bob', 'archiver'],
        other: ['alice', 'bob'],
        side: ['alice', 'archiver'],
      },
    });
    alice = await world.device('alice', 'alice-laptop');
    keyFile = await world.keyFile('archiver', 'bridge-device');
  }, 120_000);

  afterAll(() => world.stop());

  const bridgeArgs = (path: string, extra: string[] = []) => [
    '--device-key',
    keyFile,
    '--path',
    path,
    '--schedule',
    '0 0 1 1 *',
    ...extra,
  ];

  it('archives every message sent to its workspaces exactly once, in order, byte for byte, while cycles run', async () => {
    const path = mkdtempSync(join(tmpdir(), 'grove-bridge-fs-'));
    const bridge = await world.startBridge(bridgeArgs(path));
    const cycles: Promise<CycleReport>[] = [];
    const sent = await sendMany(alice, 'workspace:team', 300, (index) => {
      if (index % 100 === 50) cycles.push(bridge.cycle<CycleReport>());
    });
    const elsewhere = await sendMany(alice, 'workspace:other', 5);
    const side = await sendMany(alice, 'workspace:side', 3);
    expect((await Promise.all(cycles)).every((report) => report.outcome === 'Succeeded')).toBe(
      true,
    );
    await waitFor(
      async () => (await bridge.metrics()).includes('grove_bridge_messages_acknowledged_total 303'),
      'the bridge to acknowledge every message',
      20_000,
    );
    const final = await bridge.cycle<CycleReport>();
    expect(final.outcome).toBe('Succeeded');
    expectExactlyOnceInOrder(await archived(path, 'team'), sent);
    expectExactlyOnceInOrder(await archived(path, 'side'), side);
    expect(readdirSync(join(path, 'acme'))).not.toContain('other');
    expect(elsewhere).toHaveLength(5);
    const status = await bridge.status<{ recent: CycleReport[]; nextScheduleTime: string }>();
    expect(status.recent[0]).toMatchObject({ trigger: 'manual', outcome: 'Succeeded' });
    expect(status.nextScheduleTime).toMatch(/-01-01T00:00:00.000Z$/);
    expect(await bridge.terminate()).toBe(0);
  }, 180_000);

  it('loses nothing and doubles nothing when killed with SIGKILL mid-traffic and mid-cycle', async () => {
    const path = mkdtempSync(join(tmpdir(), 'grove-bridge-kill-'));
    let bridge = await world.startBridge(bridgeArgs(path));
    const sent = await sendMany(alice, 'workspace:team', 240, async (index) => {
      if (index % 80 === 40) {
        // A cycle in flight, then the process killed: wherever it was.
        void bridge.cycle().catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, 5 + (index % 30)));
        await bridge.kill9();
        bridge = await world.startBridge(bridgeArgs(path));
      }
    });
    await waitFor(
      async () => (await bridge.status<{ bufferedMessages: number }>()).bufferedMessages === 0,
      'the bridge to write what it holds',
      20_000,
    );
    // Everything sent was acknowledged by the bridge only once it was durable: after a last
    // cycle, the sealed segments hold each message once.
    await waitFor(
      async () => {
        const report = await bridge.cycle<CycleReport>();
        return (
          report.outcome === 'Succeeded' && (await archived(path, 'team')).length >= sent.length
        );
      },
      'a cycle that seals every message',
      30_000,
      500,
    );
    expectExactlyOnceInOrder(await archived(path, 'team'), sent);
  }, 240_000);

  it('keeps the newest segments by count', async () => {
    const path = mkdtempSync(join(tmpdir(), 'grove-bridge-retention-'));
    const bridge = await world.startBridge(bridgeArgs(path, ['--keep-last', '2']));
    for (let round = 0; round < 4; round++) {
      await sendMany(alice, 'workspace:team', 3);
      await waitFor(
        async () => (await bridge.status<{ bufferedMessages: number }>()).bufferedMessages === 0,
        'the bridge to write what it holds',
        10_000,
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
      await bridge.cycle();
    }
    expect(readdirSync(join(path, 'acme', 'team', 'segments'))).toHaveLength(2);
    expect(await archived(path, 'team')).toHaveLength(6);
  }, 120_000);

  it('stops with ARCHIVE_WRONG_PASSWORD on an archive of another password, touching nothing', async () => {
    const path = mkdtempSync(join(tmpdir(), 'grove-bridge-password-'));
    const first = await world.startBridge(bridgeArgs(path));
    await sendMany(alice, 'workspace:team', 3);
    await first.cycle();
    await first.terminate();
    const before = readdirSync(join(path, 'acme', 'team', 'segments'));
    const wrong = join(world.dir, 'wrong-password');
    writeFileSync(wrong, 'not the password');
    const run = await collectRun(
      spawnGrove(['bridge', '--port', '0', '--password-file', wrong, ...bridgeArgs(path)]),
      ['bridge'],
      30_000,
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('ARCHIVE_WRONG_PASSWORD');
    expect(readdirSync(join(path, 'acme', 'team', 'segments'))).toEqual(before);
  }, 90_000);

  it.each([
    [['--schedule', '61 * * * *'], 2, 'SCHEDULE_INVALID'],
    [['--schedule', '0 3 * * *', '--time-zone', 'Mars/Olympus'], 2, 'SCHEDULE_INVALID'],
    [
      ['--schedule', '0 3 * * *', '--password-file', '/nonexistent/secret'],
      1,
      'CREDENTIALS_MISSING',
    ],
  ])(
    'refuses %j with a clear error',
    async (extra, code, errorCode) => {
      const path = mkdtempSync(join(tmpdir(), 'grove-bridge-bad-'));
      const run = await collectRun(
        spawnGrove(['bridge', '--port', '0', '--device-key', keyFile, '--path', path, ...extra]),
        ['bridge'],
        30_000,
      );
      expect(run.code).toBe(code);
      expect(run.stderr).toContain(errorCode);
      expect(readdirSync(path)).toEqual([]);
    },
    60_000,
  );

  it('reports the next cycle in the schedule’s time zone', async () => {
    const path = mkdtempSync(join(tmpdir(), 'grove-bridge-tz-'));
    const bridge = await world.startBridge([
      '--device-key',
      keyFile,
      '--path',
      path,
      '--schedule',
      '30 2 * * *',
      '--time-zone',
      'Asia/Tokyo',
    ]);
    const { nextScheduleTime } = await bridge.status<{ nextScheduleTime: string }>();
    // 02:30 in Tokyo is 17:30 UTC.
    expect(nextScheduleTime).toMatch(/T17:30:00.000Z$/);
    await bridge.terminate();
  }, 60_000);
});
