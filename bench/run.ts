/**
 * `npm run bench`: Grove against Mosquitto, Centrifugo and NATS JetStream on this machine, in one run. Starts its own
 * redis-server (AOF, appendfsync always, then everysec), relay processes and a mosquitto
 * broker, runs the workloads, prints one JSON object and writes bench/results/latest.json.
 *
 *   --quick            scaled-down counts (about a minute)
 *   --only=LIST        comma-separated subset of oneToOne,fanOut,backlog,idle, or the scale
 *                      workloads idle20k,connectStorm (run only when named; fsync always)
 *   --fsync=MODE       always | everysec | both (default both; everysec skips `idle`)
 *   --profile          relays run with --cpu-prof; profiles go to bench/results/profiles/
 *   --no-mosquitto     no Mosquitto
 *   --peers=LIST       peers of equal durability: centrifugo,nats (default both), or none;
 *                      built and cached by scripts/bench-peers.sh
 *   --relay-v8-flags=S the relays' V8 flags, space-separated, instead of the image's
 *                      (RELAY_V8_FLAGS; "" for V8's defaults): an experiment, not what ships
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { RELAY_V8_FLAGS } from '../contracts/relay-v8-flags.js';
import { GroveStack, BENCH_LIMITS, RELAY_OVERRIDES, type Fsync } from './lib/grove-stack.js';
import { MosquittoBroker } from './lib/mosquitto.js';
import { CentrifugoPeer, NatsPeer, peerBinaries, type PeerName } from './lib/peers.js';
import { ratio, round } from './lib/util.js';
import {
  groveBacklog,
  groveFanOut,
  groveIdleMemory,
  groveOneToOne,
  groveSeed,
} from './workloads/grove.js';
import {
  mosquittoBacklog,
  mosquittoFanOut,
  mosquittoIdleMemory,
  mosquittoOneToOne,
} from './workloads/mosquitto.js';
import { FULL, QUICK } from './workloads/params.js';
import {
  fdsNeeded,
  groveConnectStorm,
  groveIdle20k,
  raiseFdLimit,
  SCALE_FULL,
  SCALE_QUICK,
  SCALE_WORKLOADS,
  scaleSeed,
  type ScaleWorkload,
} from './workloads/scale.js';
import {
  centrifugoFanOut,
  centrifugoIdleMemory,
  centrifugoOneToOne,
  natsBacklog,
  natsFanOut,
  natsIdleMemory,
  natsOneToOne,
} from './workloads/peers.js';

const WORKLOADS = ['oneToOne', 'fanOut', 'backlog', 'idle'] as const;
type Workload = (typeof WORKLOADS)[number];
/** The whole run is bounded: past this, whatever was measured is written and the run ends. */
const HARD_LIMIT_MS = 15 * 60 * 1000;

const here = fileURLToPath(new URL('.', import.meta.url));
const resultsDir = join(here, 'results');

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    fsync: { type: 'string', default: 'both' },
    profile: { type: 'boolean', default: false },
    'no-mosquitto': { type: 'boolean', default: false },
    peers: { type: 'string', default: 'centrifugo,nats' },
    'relay-v8-flags': { type: 'string' },
  },
});
/** The relays' V8 flags when not the image's (an experiment: measuring another semi-space). */
const relayV8Flags = values['relay-v8-flags']?.split(' ').filter((flag) => flag !== '');
const params = values.quick ? QUICK : FULL;
const scaleParams = values.quick ? SCALE_QUICK : SCALE_FULL;
const names = values.only?.split(',') ?? [...WORKLOADS];
for (const name of names) {
  if (![...WORKLOADS, ...SCALE_WORKLOADS].includes(name as Workload | ScaleWorkload))
    throw new Error(`unknown workload "${name}"`);
}
const selected = new Set<Workload>(
  names.filter((name): name is Workload => (WORKLOADS as readonly string[]).includes(name)),
);
const selectedScale = SCALE_WORKLOADS.filter((name) => names.includes(name));
const fsyncModes: Fsync[] =
  values.fsync === 'both'
    ? ['always', 'everysec']
    : values.fsync === 'everysec'
      ? ['everysec']
      : ['always'];
const withMosquitto = !values['no-mosquitto'] && selected.size > 0;
const PEERS = { centrifugo: 'centrifugo', nats: 'nats-server' } as const satisfies Record<
  string,
  PeerName
>;
const peerNames: PeerName[] =
  values.peers === 'none' || selected.size === 0
    ? []
    : values.peers.split(',').map((name) => {
        const binary = (PEERS as Record<string, PeerName | undefined>)[name];
        if (binary === undefined) throw new Error(`unknown peer "${name}" (centrifugo, nats)`);
        return binary;
      });
const profileDir = values.profile ? join(resultsDir, 'profiles') : undefined;

/** Pids of the servers this run started, killed if the run is cut short. */
const childPids = new Set<number>();

const log = (message: string) =>
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);

function machine() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const redis = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout;
  return {
    nproc: availableParallelism(),
    memoryBytes: totalmem(),
    cpuModel: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? 'unknown',
    kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
    node: process.version,
    redis: /v=(\S+)/.exec(redis)?.[1] ?? 'unknown',
    mosquitto: MosquittoBroker.version(),
  };
}

/** Which code was measured: the commit, and relay/SDK files that differ from it. */
function codeVersion() {
  const git = (...args: string[]) =>
    spawnSync('git', args, { encoding: 'utf8', cwd: join(here, '..') });
  const commit = git('rev-parse', 'HEAD');
  if (commit.status !== 0)
    return { commit: process.env.GROVE_BENCH_COMMIT ?? 'unknown', modified: [] };
  const status = git(
    'status',
    '--porcelain',
    '--',
    'relay',
    'client',
    'crds',
    'test/support',
    'bin',
  );
  return {
    commit: commit.stdout.trim(),
    modified: status.stdout
      .split('\n')
      .filter((line) => line.trim() !== '' && !line.includes('.test.ts'))
      .map((line) => line.slice(3)),
  };
}

type Result = Record<string, unknown>;

/**
 * Runs `task` on a broker of its own: memory is measured on a fresh process (as Grove's
 * idle workload uses a fresh relay), not one whose allocator still holds earlier backlogs.
 */
async function freshBroker(task: (broker: MosquittoBroker) => Promise<Result>): Promise<Result> {
  const broker = await MosquittoBroker.start({ maxInflightMessages: params.inFlightWindow });
  childPids.add(broker.pid);
  try {
    return await task(broker);
  } finally {
    await broker.stop();
  }
}

/** Runs `task` on a peer process of its own (idle memory on a fresh process, as for Mosquitto). */
async function freshPeer<P extends { stop(): Promise<void> }>(
  start: () => Promise<P | undefined>,
  task: (peer: P) => Promise<Result>,
): Promise<Result> {
  const peer = await start();
  if (peer === undefined) return { error: 'peer missing' };
  try {
    return await task(peer);
  } finally {
    await peer.stop();
  }
}

async function attempt(name: string, run: () => Promise<Result>): Promise<Result> {
  const started = Date.now();
  log(`${name} …`);
  try {
    const result = await run();
    log(`${name} done in ${round((Date.now() - started) / 1000, 1)} s`);
    return result;
  } catch (error) {
    log(`${name} FAILED: ${(error as Error).message}`);
    return { error: (error as Error).message };
  }
}

const num = (value: unknown, ...path: string[]): number => {
  let current: unknown = value;
  for (const key of path) current = (current as Record<string, unknown> | undefined)?.[key];
  return typeof current === 'number' ? current : NaN;
};

/** Server CPU (every server process: relays + Redis, broker, Centrifugo + its Redis) per unit. */
function serverCpu(result: Result | undefined, field: string): number {
  const cpu = (result as Record<string, Record<string, number> | undefined> | undefined)?.[field];
  if (cpu === undefined) return NaN;
  return Object.entries(cpu)
    .filter(([name]) => name !== 'benchProcess')
    .reduce((total, [, ms]) => total + ms, 0);
}

/** Grove / peer ratios: above 1 means Grove is higher (faster for rates, slower for latencies). */
function ratios(
  workload: Workload,
  grove: Result | undefined,
  mosquitto: Result | undefined,
): Result | undefined {
  if (grove === undefined || mosquitto === undefined) return undefined;
  if ('error' in grove || 'error' in mosquitto) return undefined;
  switch (workload) {
    case 'oneToOne':
      return {
        serverCpuMsPerMessage: ratio(
          serverCpu(grove, 'cpuMsPerMessage'),
          serverCpu(mosquitto, 'cpuMsPerMessage'),
        ),
        messagesPerSec: ratio(num(grove, 'messagesPerSec'), num(mosquitto, 'messagesPerSec')),
        p50Latency: ratio(num(grove, 'latency', 'p50Ms'), num(mosquitto, 'latency', 'p50Ms')),
        p99Latency: ratio(num(grove, 'latency', 'p99Ms'), num(mosquitto, 'latency', 'p99Ms')),
        lowLoadP50Latency: ratio(
          num(grove, 'lowLoad', 'latency', 'p50Ms'),
          num(mosquitto, 'lowLoad', 'latency', 'p50Ms'),
        ),
        lowLoadP99Latency: ratio(
          num(grove, 'lowLoad', 'latency', 'p99Ms'),
          num(mosquitto, 'lowLoad', 'latency', 'p99Ms'),
        ),
        oneInFlightP50Latency: ratio(
          num(grove, 'oneInFlight', 'latency', 'p50Ms'),
          num(mosquitto, 'oneInFlight', 'latency', 'p50Ms'),
        ),
      };
    case 'fanOut':
      return {
        serverCpuMsPerDelivery: ratio(
          serverCpu(grove, 'cpuMsPerDelivery'),
          serverCpu(mosquitto, 'cpuMsPerDelivery'),
        ),
        deliveriesPerSec: ratio(num(grove, 'deliveriesPerSec'), num(mosquitto, 'deliveriesPerSec')),
        p50LatencyToLast: ratio(
          num(grove, 'latencyToLastRecipient', 'p50Ms'),
          num(mosquitto, 'latencyToLastRecipient', 'p50Ms'),
        ),
        p99LatencyToLast: ratio(
          num(grove, 'latencyToLastRecipient', 'p99Ms'),
          num(mosquitto, 'latencyToLastRecipient', 'p99Ms'),
        ),
      };
    case 'backlog':
      return {
        drainMessagesPerSec: ratio(
          num(grove, 'drainMessagesPerSec'),
          num(mosquitto, 'drainMessagesPerSec'),
        ),
        fillMessagesPerSec: ratio(
          num(grove, 'fill', 'messagesPerSec'),
          num(mosquitto, 'fill', 'messagesPerSec'),
        ),
      };
    case 'idle':
      return {
        rssBytesPerConnection: ratio(
          num(grove, 'relayRssBytesPerConnection'),
          num(mosquitto, 'brokerRssBytesPerConnection') ||
            num(mosquitto, 'serverRssBytesPerConnection'),
        ),
        connectsPerSec: ratio(num(grove, 'connectsPerSec'), num(mosquitto, 'connectsPerSec')),
      };
  }
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const loadAtStart = loadavg().map((value) => round(value, 2));
  mkdirSync(resultsDir, { recursive: true });
  if (profileDir !== undefined) mkdirSync(profileDir, { recursive: true });
  const results: Partial<Record<Workload, Record<string, Result | undefined>>> = {};
  const record = (workload: Workload, key: string, value: Result) => {
    results[workload] = { ...results[workload], [key]: value };
  };
  const redisInfo: Record<string, unknown> = {};

  let broker: MosquittoBroker | undefined;
  if (withMosquitto) {
    broker = await MosquittoBroker.start({ maxInflightMessages: params.inFlightWindow });
    childPids.add(broker.pid);
    log(`mosquitto ${MosquittoBroker.version()} on ${broker.url}`);
  }
  // The peers run with the durability of the first Grove stack (appendfsync always unless
  // --fsync=everysec): see peerDurability.
  const peerFsync = fsyncModes[0] ?? 'always';
  const { found: binaries, missing } = peerBinaries(peerNames);
  for (const [name, why] of Object.entries(missing)) log(`PEER MISSING: ${name}: ${why}`);
  const historySize = Math.max(1000, params.fanOut.messages);
  const startCentrifugo = async () => {
    const binary = binaries.centrifugo;
    if (binary === undefined) return undefined;
    const peer = await CentrifugoPeer.start(binary, peerFsync, historySize);
    childPids.add(peer.pid);
    childPids.add(peer.redisPid);
    return peer;
  };
  const startNats = async () => {
    const binary = binaries['nats-server'];
    if (binary === undefined) return undefined;
    const peer = await NatsPeer.start(binary, peerFsync);
    childPids.add(peer.pid);
    return peer;
  };
  let centrifugo: CentrifugoPeer | undefined;
  let nats: NatsPeer | undefined;
  const peerInfo: Record<string, unknown> = { missing };
  try {
    centrifugo = await startCentrifugo();
    nats = await startNats();
    if (centrifugo !== undefined) {
      peerInfo.centrifugo = { version: centrifugo.version, config: centrifugo.config };
      log(`centrifugo ${centrifugo.version} on ${centrifugo.url}`);
    }
    if (nats !== undefined) {
      peerInfo.nats = { version: nats.version, config: nats.configText.split('\n') };
      log(`nats-server ${nats.version} on ${nats.url}`);
    }

    // Only the scale workloads: no stacks for the others.
    for (const fsync of selected.size === 0 ? [] : fsyncModes) {
      const key = fsync === 'always' ? 'grove' : 'groveEverysec';
      log(`starting redis (appendfsync ${fsync}) and 2 relays`);
      const stack = await GroveStack.start({
        fsync,
        relays: 2,
        seed: groveSeed(params),
        profileDir,
        relayV8Flags,
        onChild: (pid) => childPids.add(pid),
      });
      try {
        const info = await stack.redisInfo();
        redisInfo[fsync] = { appendfsync: info.appendfsync, version: info.version };
        const tag = fsync === 'always' ? 'a' : 'e';
        for (const workload of WORKLOADS) {
          if (!selected.has(workload)) continue;
          if (workload === 'idle' && fsync !== 'always') continue;
          const run = `${tag}${workload}`;
          const grove = await attempt(`${workload} grove (fsync ${fsync})`, () => {
            switch (workload) {
              case 'oneToOne':
                return groveOneToOne(stack, params, run);
              case 'fanOut':
                return groveFanOut(stack, params, run);
              case 'backlog':
                return groveBacklog(stack, params, run);
              case 'idle':
                return groveIdleMemory(stack, params);
            }
          });
          record(workload, key, grove);
          if (broker !== undefined && fsync === fsyncModes[0]) {
            const mq = broker;
            const mosquitto = await attempt(`${workload} mosquitto`, () => {
              switch (workload) {
                case 'oneToOne':
                  return mosquittoOneToOne(mq, params, run);
                case 'fanOut':
                  return mosquittoFanOut(mq, params, run);
                case 'backlog':
                  return mosquittoBacklog(mq, params, run);
                case 'idle':
                  return freshBroker((fresh) => mosquittoIdleMemory(fresh, params, run));
              }
            });
            record(workload, 'mosquitto', mosquitto);
          }
          if (fsync !== fsyncModes[0]) continue;
          const c = centrifugo;
          // Centrifugo's recovery hands back at most client.recovery_max_publication_limit
          // (300) publications: it catches a client up, it is not a per-device queue, so it
          // has no backlog workload.
          if (c !== undefined && workload !== 'backlog') {
            record(
              workload,
              'centrifugo',
              await attempt(`${workload} centrifugo`, () => {
                switch (workload) {
                  case 'oneToOne':
                    return centrifugoOneToOne(c, params, run);
                  case 'fanOut':
                    return centrifugoFanOut(c, params, run);
                  case 'idle':
                    return freshPeer(startCentrifugo, (fresh) =>
                      centrifugoIdleMemory(fresh, params, run),
                    );
                }
              }),
            );
          }
          const n = nats;
          if (n !== undefined) {
            record(
              workload,
              'nats',
              await attempt(`${workload} nats`, () => {
                switch (workload) {
                  case 'oneToOne':
                    return natsOneToOne(n, params, run);
                  case 'fanOut':
                    return natsFanOut(n, params, run);
                  case 'backlog':
                    return natsBacklog(n, params, run);
                  case 'idle':
                    return freshPeer(startNats, (fresh) => natsIdleMemory(fresh, params, run));
                }
              }),
            );
          }
        }
      } finally {
        await stack.stop();
      }
    }
  } finally {
    await broker?.stop();
    await centrifugo?.stop();
    await nats?.stop();
  }

  const scale: Partial<Record<ScaleWorkload, Result>> = {};
  let openFiles: { soft: number; hard: number } | undefined;
  if (selectedScale.length > 0) {
    openFiles = raiseFdLimit(fdsNeeded(selectedScale, scaleParams));
    log(`open files: soft ${openFiles.soft}, hard ${openFiles.hard}`);
  }
  for (const workload of selectedScale) {
    log('starting redis (appendfsync always) and 2 relays for a scale workload');
    const stack = await GroveStack.start({
      fsync: 'always',
      relays: 2,
      seed: scaleSeed(scaleParams),
      profileDir,
      relayV8Flags,
      onChild: (pid) => childPids.add(pid),
    });
    try {
      scale[workload] = await attempt(`${workload} grove (fsync always)`, () =>
        workload === 'idle20k'
          ? groveIdle20k(stack, scaleParams)
          : groveConnectStorm(stack, scaleParams),
      );
    } finally {
      await stack.stop();
    }
  }

  for (const workload of WORKLOADS) {
    const entry = results[workload];
    if (entry === undefined) continue;
    const grove = entry.grove ?? entry.groveEverysec;
    const r = ratios(workload, grove, entry.mosquitto);
    if (r !== undefined) entry.ratioGroveOverMosquitto = r;
    const c = ratios(workload, grove, entry.centrifugo);
    if (c !== undefined) entry.ratioGroveOverCentrifugo = c;
    const n = ratios(workload, grove, entry.nats);
    if (n !== undefined) entry.ratioGroveOverNats = n;
    if (
      entry.groveEverysec !== undefined &&
      entry.mosquitto !== undefined &&
      entry.grove !== undefined
    ) {
      const e = ratios(workload, entry.groveEverysec, entry.mosquitto);
      if (e !== undefined) entry.ratioGroveEverysecOverMosquitto = e;
    }
  }

  const output = {
    benchmark: 'grove-vs-mosquitto',
    startedAt: startedAt.toISOString(),
    durationS: round((Date.now() - startedAt.getTime()) / 1000, 1),
    quick: values.quick,
    machine: {
      ...machine(),
      // Other work on a shared machine shows here: the run itself adds about 2.
      loadAverage: { atStart: loadAtStart, atEnd: loadavg().map((value) => round(value, 2)) },
    },
    code: codeVersion(),
    where: {
      loadGenerators: `every client (Grove SDK devices over WebSocket, mqtt.js clients) runs in the benchmark process (pid ${process.pid}, one Node.js thread)`,
      grove:
        'redis-server child process (AOF on) + relay child processes (`grove relay`, 2 for workloads 1-3, a fresh 3rd for idle memory), all on loopback',
      mosquitto:
        'one mosquitto child process (single-threaded), loopback; a fresh one for idle memory',
      centrifugo:
        'one centrifugo child process + its own redis-server child (AOF on), loopback; fresh ones for idle memory',
      nats: 'one nats-server child process (JetStream, file storage in a temp dir), loopback; a fresh one for idle memory',
      sharedCpu: 'everything shares the same cores; timings include client-side cost on both sides',
      latencyClock:
        'performance.now() of the benchmark process: send/publish start -> message handler on the receiving client',
    },
    config: {
      params,
      ...(selectedScale.length > 0 ? { scaleParams, openFiles } : {}),
      groveLimits: BENCH_LIMITS,
      relayOverrides: RELAY_OVERRIDES,
      relayV8Flags: relayV8Flags ?? RELAY_V8_FLAGS,
      redis: redisInfo,
      mosquitto: broker?.configText
        .split('\n')
        .filter(
          (line) =>
            line !== '' && !line.startsWith('listener') && !line.startsWith('persistence_location'),
        ),
      profileDir,
      peers: peerInfo,
    },
    peerDurability: {
      mosquitto:
        'PUBACK from memory; persistence snapshots every 30 min and at shutdown (a crash loses what arrived since)',
      centrifugo: `publish answered after the history stream XADD in its Redis (AOF, appendfsync ${peerFsync}); recovery on reconnect from that history (at most ${historySize} per channel, 300 s)`,
      nats: `PubAck after the JetStream file store wrote it (sync_interval ${peerFsync === 'always' ? 'always: fsync before every PubAck' : '1s'}); a durable consumer per device, explicit acks, interest retention`,
    },
    results: { ...results, ...scale },
  };
  const json = JSON.stringify(output, null, 2);
  writeFileSync(join(resultsDir, 'latest.json'), `${json}\n`);
  process.stdout.write(`${json}\n`);
  log(`wrote ${join(resultsDir, 'latest.json')}`);
}

/** Kills every server this run started (they are not in our process group's lifetime otherwise). */
function killChildren(): void {
  for (const pid of childPids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

const hardStop = setTimeout(() => {
  log(`hard limit of ${HARD_LIMIT_MS / 60_000} min reached; exiting`);
  killChildren();
  process.exit(2);
}, HARD_LIMIT_MS);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    killChildren();
    process.exit(130);
  });
}
hardStop.unref();

main().then(
  () => process.exit(0),
  (error: unknown) => {
    log(`failed: ${(error as Error).stack ?? String(error)}`);
    process.exit(1);
  },
);
