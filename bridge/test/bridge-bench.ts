/**
 * Measures the Data Bridge on this machine (real Redis, two relays, the Manager, `grove bridge`
 * on a folder and on SeaweedFS's S3): archive throughput (a backlog of N messages drained into
 * the store), bytes of archive per message, restore throughput, and what the bridge costs the
 * relays (relay CPU and Redis calls for the same traffic with and without the bridge as a
 * member). Prints one JSON object.
 *
 *   node --import tsx bridge/test/bridge-bench.ts [--messages N] [--payload BYTES]
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { waitFor } from '../../test/support/ports.js';
import { S3Server } from '../../test/support/s3-server.js';
import type { BridgeProcess } from '../../test/support/bridge-process.js';
import { BridgeWorld, type MemberDevice } from './bridge-world.js';

const { values } = parseArgs({
  options: { messages: { type: 'string' }, payload: { type: 'string' } },
});
const N = Number(values.messages ?? '3000');
const PAYLOAD = Number(values.payload ?? '200');
const IN_FLIGHT = 16;
/** Under the relays' default per-device send rate (200/s, DEFAULT_RELAY_LIMITS). */
const MAX_SENDS_PER_SECOND = 180;

function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  const fields =
    readFileSync(`/proc/${String(pid)}/stat`, 'utf8')
      .split(') ')[1]
      ?.split(' ') ?? [];
  // utime and stime are fields 14 and 15 of the line (11 and 12 after the name).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function redisCalls(port: number): number {
  const text = execFileSync('redis-cli', ['-p', String(port), 'INFO', 'stats'], {
    encoding: 'utf8',
  });
  return Number(/total_commands_processed:(\d+)/.exec(text)?.[1] ?? 0);
}

async function sendMany(device: MemberDevice, to: string, count: number): Promise<number> {
  const started = performance.now();
  let next = 0;
  // Each send takes the next free slot: no catch-up burst after the event loop stalls.
  let slot = started;
  const worker = async () => {
    while (next < count) {
      next++;
      slot = Math.max(performance.now(), slot + 1000 / MAX_SENDS_PER_SECOND);
      const wait = slot - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      await device.client.send([`workspace:${to}`], randomBytes(PAYLOAD));
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return (performance.now() - started) / 1000;
}

async function metric(bridge: BridgeProcess, name: string): Promise<number> {
  const text = await bridge.metrics();
  let total = 0;
  for (const line of text.split('\n'))
    if (line.startsWith(name)) total += Number(line.split(' ').at(-1));
  return total;
}

const phase = (what: string) => process.stderr.write(`${new Date().toISOString()} ${what}\n`);

async function run(kind: 'filesystem' | 's3') {
  phase(`${kind}: start`);
  const s3 = kind === 's3' ? await S3Server.start({ buckets: ['archive'] }) : undefined;
  const world = await BridgeWorld.start({
    members: ['alice', 'bob'],
    workspaces: { plain: ['alice', 'bob'], team: ['alice', 'bob'] },
  });
  try {
    await world.manager.api('POST', '/v1/admin/domains/acme/bridges/archiver', {
      workspaces: { ids: ['team'] },
    });
    const alice = await world.device('alice', 'alice');
    const bob = await world.device('bob', 'bob');
    const redisPort = Number(new URL(world.redis.url).port);
    const relayCpu = () =>
      world.relays.reduce((sum, relay) => sum + cpuSeconds(relay.process.pid), 0);
    const bobGot = async (workspace: string, count: number) =>
      waitFor(
        () =>
          bob.got.filter((m) => m.to.includes(`workspace:${workspace}`)).length >= count ||
          undefined,
        'bob receiving',
        300_000,
        20,
      );

    // Without the bridge: the same traffic to a workspace it is not a member of.
    let cpu0 = relayCpu();
    let calls0 = redisCalls(redisPort);
    phase(`${kind}: without bridge`);
    const plainSeconds = await sendMany(alice, 'plain', N);
    await bobGot('plain', N);
    const without = {
      sendSeconds: plainSeconds,
      relayCpuSeconds: relayCpu() - cpu0,
      redisCalls: redisCalls(redisPort) - calls0,
    };

    // With the bridge as a member: first as a backlog (bridge stopped), then drained.
    const storeArgs =
      s3 === undefined
        ? ['--path', join(world.dir, 'archive')]
        : [
            '--s3-bucket',
            s3.bucket,
            '--s3-prefix',
            'bench',
            '--s3-endpoint',
            s3.endpoint,
            '--s3-path-style',
          ];
    const env: Record<string, string> =
      s3 === undefined
        ? {}
        : { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey };
    const keyFile = await world.keyFile('archiver', 'bridge');
    const bridgeArgs = [
      '--device-key',
      keyFile,
      ...storeArgs,
      '--schedule',
      '0 0 1 1 *',
      '--manager-poll',
      '1',
    ];
    // The bridge joins, then stops, so the next messages queue for it.
    let bridge = await world.startBridge(bridgeArgs, { env });
    await bridge.terminate();
    cpu0 = relayCpu();
    calls0 = redisCalls(redisPort);
    phase(`${kind}: with bridge, sending`);
    const teamSeconds = await sendMany(alice, 'team', N);
    await bobGot('team', N);
    const withBridgeSend = {
      sendSeconds: teamSeconds,
      relayCpuSeconds: relayCpu() - cpu0,
      redisCalls: redisCalls(redisPort) - calls0,
    };
    cpu0 = relayCpu();
    calls0 = redisCalls(redisPort);
    phase(`${kind}: drain`);
    const startStarted = performance.now();
    bridge = await world.startBridge(bridgeArgs, { env });
    // From the bridge's readiness (connected to a relay): its process start is not archiving.
    const drainStarted = performance.now();
    const archivedAtReady = await metric(bridge, 'grove_bridge_messages_acknowledged_total');
    await waitFor(
      async () =>
        (await metric(bridge, 'grove_bridge_messages_acknowledged_total')) >= N || undefined,
      'the backlog archived',
      600_000,
      50,
    );
    const drainSeconds = (performance.now() - drainStarted) / 1000;
    const startSeconds = (drainStarted - startStarted) / 1000;
    const drain = {
      relayCpuSeconds: relayCpu() - cpu0,
      redisCalls: redisCalls(redisPort) - calls0,
    };
    const cycleStarted = performance.now();
    const report = await bridge.cycle<{ bytesSealed: number; messagesSealed: number }>();
    const cycleSeconds = (performance.now() - cycleStarted) / 1000;
    const chunkBytes = await metric(bridge, 'grove_bridge_archive_bytes_written_total');

    // Restore all N into a new workspace; alice's device receives them.
    phase(`${kind}: restore`);
    const restoreStarted = performance.now();
    const job = await world.manager.api<{ id: string }>('POST', '/v1/admin/domains/acme/restores', {
      sourceWorkspace: 'team',
      newWorkspace: 'restored',
      owner: 'alice',
    });
    await waitFor(
      async () =>
        (
          await world.manager.api<{ state: string }>(
            'GET',
            `/v1/admin/domains/acme/restores/${job.body.id}`,
          )
        ).body.state === 'succeeded' || undefined,
      'the restore',
      600_000,
      50,
    );
    await waitFor(
      () => alice.got.filter((m) => m.to.includes('workspace:restored')).length >= N || undefined,
      'alice receiving the restore',
      60_000,
      20,
    );
    const restoreSeconds = (performance.now() - restoreStarted) / 1000;
    await bridge.terminate();
    const perK = (value: number) => Math.round((value / N) * 1000 * 1000) / 1000;
    return {
      store: kind,
      messages: N,
      payloadBytes: PAYLOAD,
      archive: {
        bridgeStartSeconds: round(startSeconds),
        acknowledgedAtReady: archivedAtReady,
        backlogDrainSeconds: round(drainSeconds),
        messagesPerSecond: Math.round((N - archivedAtReady) / drainSeconds),
        cycleSeconds: round(cycleSeconds),
        sealedBytes: report.bytesSealed,
        sealedBytesPerMessage: round(report.bytesSealed / report.messagesSealed),
        bytesWrittenIncludingChunks: chunkBytes,
      },
      restore: {
        seconds: round(restoreSeconds),
        messagesPerSecond: Math.round(N / restoreSeconds),
      },
      relays: {
        withoutBridge: {
          ...without,
          relayCpuSecondsPer1000: perK(without.relayCpuSeconds),
          redisCallsPerMessage: round(without.redisCalls / N),
        },
        withBridgeSending: {
          ...withBridgeSend,
          relayCpuSecondsPer1000: perK(withBridgeSend.relayCpuSeconds),
          redisCallsPerMessage: round(withBridgeSend.redisCalls / N),
        },
        bridgeDrain: {
          ...drain,
          relayCpuSecondsPer1000: perK(drain.relayCpuSeconds),
          redisCallsPerMessage: round(drain.redisCalls / N),
        },
      },
    };
  } finally {
    await world.stop();
    await s3?.stop();
  }
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

const results = [await run('filesystem'), await run('s3')];
console.log(JSON.stringify(results, null, 2));
process.exit(0);
