import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runGrove } from '../../test/support/grove-cli.js';
import { waitFor } from '../../test/support/ports.js';
import { S3Server } from '../../test/support/s3-server.js';
import type { BridgeProcess } from '../../test/support/bridge-process.js';
import { ADMIN_TOKEN, BridgeWorld, type MemberDevice } from './bridge-world.js';

/**
 * `grove archive restore` end to end: real Redis, two relays, the Manager, the bridge on a
 * filesystem store and on SeaweedFS's S3; the restorer's device receives the archived messages
 * in order and byte for byte, other members are suspended and receive nothing, all audited.
 */

interface Sent {
  data: Buffer;
}

interface Roles {
  members: { id: string; role: string }[];
}

const stores = ['filesystem', 's3'] as const;

describe.each(stores)('grove archive restore (%s store)', (kind) => {
  let world: BridgeWorld;
  let s3: S3Server | undefined;
  let dir: string;
  let alice: MemberDevice;
  let bob: MemberDevice;
  let bridge: BridgeProcess;
  const sent: Sent[] = [];
  /** How many of `sent` the first sealed segment holds. */
  let firstSegment = 0;

  const storeArgs = (): string[] =>
    kind === 'filesystem'
      ? ['--path', join(dir, 'archive')]
      : [
          '--s3-bucket',
          s3?.bucket ?? '',
          '--s3-prefix',
          'restore',
          '--s3-endpoint',
          s3?.endpoint ?? '',
          '--s3-path-style',
        ];
  const storeEnv = (): Record<string, string> =>
    s3 === undefined
      ? {}
      : { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey };

  async function send(device: MemberDevice, count: number): Promise<void> {
    for (let index = 0; index < count; index++) {
      const data = randomBytes(16 + (index % 100));
      await device.client.send(['workspace:team'], data);
      sent.push({ data });
    }
  }

  /** Waits until the bridge holds nothing unwritten, then seals a segment. */
  async function cycle(): Promise<void> {
    await waitFor(
      async () =>
        (await bridge.status<{ bufferedMessages: number }>()).bufferedMessages === 0 || undefined,
      'buffered messages written',
      10_000,
      50,
    );
    const report = await bridge.cycle<{ outcome: string }>();
    expect(report.outcome).toBe('Succeeded');
  }

  const restore = (args: string[]) =>
    runGrove(
      [
        'archive',
        'restore',
        '--manager',
        world.manager.url,
        '--domain',
        'acme',
        '--workspace',
        'team',
        '--owner',
        'alice',
        ...args,
      ],
      { env: { GROVE_ADMIN_TOKEN: ADMIN_TOKEN }, timeoutMs: 60_000 },
    );

  const restoredIn = (device: MemberDevice, workspace: string) =>
    device.got.filter((message) => message.to.includes(`workspace:${workspace}`));

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'grove-restore-'));
    [world, s3] = await Promise.all([
      BridgeWorld.start({
        members: ['alice', 'bob', 'carol'],
        workspaces: { team: ['alice', 'bob', 'carol'] },
      }),
      kind === 's3' ? S3Server.start({ buckets: ['archive'] }) : Promise.resolve(undefined),
    ]);
    const registered = await world.manager.api('POST', '/v1/admin/domains/acme/bridges/archiver', {
      workspaces: { ids: ['team'] },
    });
    expect(registered.status).toBe(200);
    alice = await world.device('alice', 'alice-laptop');
    bob = await world.device('bob', 'bob-laptop');
    bridge = await world.startBridge(
      [
        '--device-key',
        await world.keyFile('archiver', 'bridge-device'),
        ...storeArgs(),
        '--schedule',
        '0 0 1 1 *',
        '--manager-poll',
        '1',
      ],
      { env: storeEnv() },
    );
    await send(alice, 30);
    await send(bob, 10);
    await cycle();
    firstSegment = sent.length;
    await send(alice, 25);
    await cycle();
    // Not sealed: part of no restore.
    await send(alice, 5);
  }, 180_000);

  afterAll(async () => {
    await world.stop();
    await s3?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('restores up to a segment into a new workspace owned by the restorer, in order, byte for byte', async () => {
    const run = await restore(['--to', 'team-one', '--segment', '1']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const lines = run.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { state: string; delivered: number });
    expect(lines[0]?.state).toBe('pending');
    expect(lines.at(-1)).toMatchObject({
      state: 'succeeded',
      delivered: firstSegment,
      total: firstSegment,
    });

    const got = await waitFor(
      () => {
        const list = restoredIn(alice, 'team-one');
        return list.length >= firstSegment ? list : undefined;
      },
      'the restored messages on the restorer’s device',
      20_000,
      50,
    );
    expect(got.map((message) => message.data.toString('hex'))).toEqual(
      sent.slice(0, firstSegment).map((message) => message.data.toString('hex')),
    );
    expect(new Set(got.map((message) => message.from.identity))).toEqual(new Set(['archiver']));
    // Other members are suspended: nothing reaches them.
    expect(restoredIn(bob, 'team-one')).toEqual([]);
    const roles = await world.manager.api<Roles>(
      'GET',
      '/v1/admin/domains/acme/workspaces/team-one/roles',
    );
    expect(
      Object.fromEntries(roles.body.members.map((member) => [member.id, member.role])),
    ).toEqual({
      alice: 'owner',
      archiver: 'bridge',
      bob: 'suspended',
      carol: 'suspended',
    });
    const audit = await world.manager.api<{
      items: { action: string; outcome: string; details?: Record<string, unknown> }[];
    }>('GET', '/v1/admin/audit?domain=acme&action=workspace.restore.finish');
    expect(audit.body.items[0]).toMatchObject({
      outcome: 'success',
      details: { delivered: firstSegment, source: 'team' },
    });
  });

  it('restores every sealed segment, leaving the open one out', async () => {
    const run = await restore(['--to', 'team-all']);
    expect(run.code).toBe(0);
    const sealed = sent.length - 5;
    const got = await waitFor(
      () => {
        const list = restoredIn(alice, 'team-all');
        return list.length >= sealed ? list : undefined;
      },
      'the restored messages',
      20_000,
      50,
    );
    expect(got.map((message) => message.data.toString('hex'))).toEqual(
      sent.slice(0, sealed).map((message) => message.data.toString('hex')),
    );
    // Re-invited, a suspended member is a member again and receives what is sent from then on.
    const added = await world.manager.api(
      'POST',
      '/v1/admin/domains/acme/workspaces/team-all/members',
      { members: ['bob'] },
    );
    expect(added.status).toBe(200);
    await alice.client.send(['workspace:team-all'], 'welcome back');
    await waitFor(
      () =>
        restoredIn(bob, 'team-all').some((message) => message.data.toString() === 'welcome back') ||
        undefined,
      'bob receiving in the restored workspace',
      10_000,
      50,
    );
  });

  it('fails clearly for a workspace without an archive, and for a taken workspace id', async () => {
    const missing = await runGrove(
      [
        'archive',
        'restore',
        '--manager',
        world.manager.url,
        '--domain',
        'acme',
        '--workspace',
        'nothing',
        '--owner',
        'alice',
        '--to',
        'from-nothing',
      ],
      { env: { GROVE_ADMIN_TOKEN: ADMIN_TOKEN }, timeoutMs: 60_000 },
    );
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('ARCHIVE_NOT_FOUND');
    const taken = await restore(['--to', 'team-one']);
    expect(taken.code).toBe(1);
    expect(taken.stderr).toContain('ALREADY_EXISTS');
  });

  (kind === 'filesystem' ? it : it.skip)(
    'resumes a restore after the bridge is killed mid-way: each message once, in order',
    async () => {
      // More than the relays' send burst (400): the restore then runs at the sustained rate
      // (200/s) for seconds, so the kill lands mid-way however fast the machine is.
      await send(alice, 1200);
      await cycle();
      const all = [...sent];
      const started = await restore(['--to', 'team-crash', '--no-wait']);
      expect(started.code).toBe(0);
      const job = JSON.parse(started.stdout.trim().split('\n')[0] ?? '{}') as { id: string };
      const path = `/v1/admin/domains/acme/restores/${job.id}`;
      await waitFor(
        async () =>
          (await world.manager.api<{ delivered: number }>('GET', path)).body.delivered > 20 ||
          undefined,
        'the restore under way',
        30_000,
        20,
      );
      await bridge.kill9();
      const cut = (await world.manager.api<{ delivered: number; state: string }>('GET', path)).body;
      expect(cut.state).toBe('running');
      bridge = await world.startBridge(
        [
          '--device-key',
          join(world.dir, 'bridge-device.json'),
          ...storeArgs(),
          '--schedule',
          '0 0 1 1 *',
          '--manager-poll',
          '1',
        ],
        { env: storeEnv() },
      );
      const done = await waitFor(
        async () => {
          const answer = await world.manager.api<{ state: string; delivered: number }>('GET', path);
          return answer.body.state === 'succeeded' ? answer.body : undefined;
        },
        'the resumed restore',
        60_000,
        100,
      );
      // The 5 messages left open earlier were sealed with these: every message sent so far.
      expect(done.delivered).toBe(all.length);
      const got = await waitFor(
        () => {
          const list = restoredIn(alice, 'team-crash');
          return list.length >= all.length ? list : undefined;
        },
        'every restored message',
        20_000,
        50,
      );
      // Give a duplicate time to show up, were there one.
      await new Promise((resolve) => setTimeout(resolve, 500));
      const final = restoredIn(alice, 'team-crash');
      expect(final.length).toBe(all.length);
      expect(got.map((message) => message.data.toString('hex'))).toEqual(
        all.map((message) => message.data.toString('hex')),
      );
    },
    120_000,
  );
});
