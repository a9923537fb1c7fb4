/**
 * Scale workloads, run only when named in --only: 20,000 idle devices on two relays
 * (`idle20k`, their clients in 4 forked processes), and a connect storm after a relay
 * holding 5,000 devices is killed (`connectStorm`, clients in this process). Each starts a
 * Redis and two relays of its own.
 */
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { GroveClient, type ReceivedMessage } from '../../client/sdk/grove-client.js';
import type { RelayProcess } from '../../test/support/relay-process.js';
import { tokenFor } from '../../test/support/relay-process.js';
import type { FleetConnect, FleetOrder, FleetReport } from '../lib/fleet-child.js';
import { deviceRef, GroveStack, type DeviceRef } from '../lib/grove-stack.js';
import {
  CpuMeter,
  cpuMs,
  now,
  round,
  rssBytes,
  runPool,
  sleep,
  until,
  withTimeout,
} from '../lib/util.js';

export const SCALE_WORKLOADS = ['idle20k', 'connectStorm'] as const;
export type ScaleWorkload = (typeof SCALE_WORKLOADS)[number];

export interface ScaleParams {
  idleDevices: number;
  stormDevices: number;
  /** Messages queued for the storm's devices while they are away (one each for the first N). */
  stormQueued: number;
  connectConcurrency: number;
  /** Load-generator processes of idle20k (each must hold its share of sockets). */
  clientProcesses: number;
  phaseTimeoutMs: number;
}

export const SCALE_FULL: ScaleParams = {
  idleDevices: 20_000,
  stormDevices: 5000,
  stormQueued: 2000,
  connectConcurrency: 200,
  clientProcesses: 4,
  phaseTimeoutMs: 240_000,
};

export const SCALE_QUICK: ScaleParams = {
  idleDevices: 2000,
  stormDevices: 500,
  stormQueued: 200,
  connectConcurrency: 100,
  clientProcesses: 2,
  phaseTimeoutMs: 120_000,
};

const PREFIX = { idle: 'x', storm: 'y', sender: 'z' } as const;

/** The directory of the scale workloads: every device either uses, and one sender. */
export function scaleSeed(params: ScaleParams) {
  const identities: { id: string; devices: string[] }[] = [];
  const add = (prefix: string, count: number) => {
    for (let i = 0; i < count; i++) {
      const ref = deviceRef(prefix, i);
      identities.push({ id: ref.identity, devices: [ref.device] });
    }
  };
  add(PREFIX.idle, params.idleDevices);
  add(PREFIX.storm, params.stormDevices);
  add(PREFIX.sender, 1);
  return { identities, workspaces: [] };
}

/** This process's open-file limit (soft, hard), from prlimit. */
function fdLimit(): { soft: number; hard: number } {
  const out = spawnSync(
    'prlimit',
    ['--pid', String(process.pid), '--nofile', '--output=SOFT,HARD', '--noheadings'],
    { encoding: 'utf8' },
  );
  const [soft, hard] = out.stdout.trim().split(/\s+/).map(Number);
  return { soft: soft ?? 0, hard: hard ?? 0 };
}

/**
 * Raises this process's open-file limit to `need` (servers started afterwards inherit it):
 * the hard limit too when allowed (root), else the soft one up to the hard. Throws, naming
 * both, when that is not enough.
 */
export function raiseFdLimit(need: number): { soft: number; hard: number } {
  let limit = fdLimit();
  if (limit.soft >= need) return limit;
  const hard = Math.max(need, limit.hard);
  spawnSync('prlimit', ['--pid', String(process.pid), `--nofile=${need}:${hard}`]);
  limit = fdLimit();
  if (limit.soft < need && limit.hard > limit.soft) {
    spawnSync('prlimit', ['--pid', String(process.pid), `--nofile=${limit.hard}:${limit.hard}`]);
    limit = fdLimit();
  }
  if (limit.soft < need) {
    throw new Error(
      `needs ${need} open files; the limit is ${limit.soft} (hard ${limit.hard}): raise it (ulimit -Hn as root, or prlimit)`,
    );
  }
  return limit;
}

/**
 * Open files any one process needs: a client process its share of sockets, a relay half of
 * idle20k's, this process the storm's devices; plus headroom for Redis links and the runtime.
 */
export function fdsNeeded(workloads: readonly ScaleWorkload[], params: ScaleParams): number {
  const most = Math.max(
    workloads.includes('idle20k')
      ? Math.ceil(params.idleDevices / Math.min(params.clientProcesses, 2))
      : 0,
    workloads.includes('connectStorm') ? params.stormDevices + 1 : 0,
  );
  return most + 1024;
}

/** Forks the load-generator processes; each connects its share of devices when told. */
class ClientFleet {
  private constructor(private readonly children: ChildProcess[]) {}

  static start(count: number): ClientFleet {
    const script = fileURLToPath(new URL('../lib/fleet-child.ts', import.meta.url));
    return new ClientFleet(
      Array.from({ length: count }, () =>
        fork(script, [], {
          execArgv: ['--import', 'tsx'],
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        }),
      ),
    );
  }

  get pids(): number[] {
    return this.children.map((child) => child.pid ?? 0);
  }

  /** Device i goes to child i mod count; resolves when every child has connected its share. */
  async connect(
    devices: FleetConnect['devices'],
    concurrency: number,
    timeoutMs: number,
  ): Promise<void> {
    const n = this.children.length;
    await Promise.all(
      this.children.map(
        (child, k) =>
          new Promise<void>((resolve, reject) => {
            child.once('message', (report: FleetReport) => {
              if (report.kind === 'connected') resolve();
              else reject(new Error(report.message));
            });
            child.once('exit', (code) => {
              reject(new Error(`client process exited (${String(code)})`));
            });
            const order: FleetConnect = {
              kind: 'connect',
              devices: devices.filter((_, i) => i % n === k),
              concurrency: Math.max(1, Math.floor(concurrency / n)),
              timeoutMs,
            };
            child.send(order);
          }),
      ),
    );
  }

  /** Closes every device and waits for the processes to exit (killed after 40 s). */
  async stop(): Promise<void> {
    await Promise.all(
      this.children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = once(child, 'exit');
        child.send({ kind: 'close' } satisfies FleetOrder);
        const timer = setTimeout(() => child.kill('SIGKILL'), 40_000);
        await exited;
        clearTimeout(timer);
      }),
    );
  }
}

async function client(
  stack: GroveStack,
  ref: DeviceRef,
  relays: readonly RelayProcess[],
  onMessage?: (message: ReceivedMessage) => void,
): Promise<GroveClient> {
  return new GroveClient({
    relays: relays.map((relay) => relay.url),
    token: await tokenFor(stack.domain, ref.identity, ref.device),
    ...(onMessage === undefined ? {} : { onMessage }),
  });
}

/** Connects clients with bounded concurrency; resolves when all have their welcome. */
async function connectAll(clients: GroveClient[], concurrency: number, timeoutMs: number) {
  await withTimeout(
    runPool(clients.length, concurrency, async (i) => {
      await clients[i]?.start();
    }),
    timeoutMs,
    `${clients.length} devices connect`,
  );
}

async function closeAll(clients: GroveClient[]): Promise<void> {
  await GroveStack.closeAll(clients);
}

/**
 * 20,000 idle devices on two relays (device i on relay i mod 2): connects per second over
 * all of them, then (5 s later) each relay's RSS and V8 heapUsed, and Redis used_memory, as
 * deltas from before the first connect, per device.
 */
export async function groveIdle20k(stack: GroveStack, params: ScaleParams) {
  const relays = stack.relays;
  const pids = relays.map((relay) => GroveStack.relayPid(relay));
  const n = params.idleDevices;
  const devices: FleetConnect['devices'] = [];
  for (let i = 0; i < n; i++) {
    const first = relays[i % relays.length];
    const other = relays[(i + 1) % relays.length];
    if (first === undefined || other === undefined) throw new Error('two relays needed');
    const ref = deviceRef(PREFIX.idle, i);
    devices.push({
      token: await tokenFor(stack.domain, ref.identity, ref.device),
      relays: [first.url, other.url],
    });
  }
  const fleet = ClientFleet.start(params.clientProcesses);
  try {
    await sleep(2000);
    const heapUsed = (relay: RelayProcess) => relay.metric('nodejs_heap_size_used_bytes');
    const before = {
      rss: pids.map(rssBytes),
      heap: await Promise.all(relays.map(heapUsed)),
      redis: (await stack.redisInfo()).usedMemory,
    };
    const cpu = new CpuMeter({ relays: pids, redis: [stack.redisPid], clients: fleet.pids });
    cpu.start();
    const t0 = now();
    await fleet.connect(devices, params.connectConcurrency, params.phaseTimeoutMs);
    const connectMs = now() - t0;
    const connectCpu = cpu.stop();
    await sleep(5000);
    const after = {
      rss: pids.map(rssBytes),
      heap: await Promise.all(relays.map(heapUsed)),
      redis: (await stack.redisInfo()).usedMemory,
    };
    const perRelay = n / relays.length;
    return {
      devices: n,
      relays: relays.length,
      clientProcesses: params.clientProcesses,
      connectConcurrency: params.connectConcurrency,
      connectSeconds: round(connectMs / 1000, 1),
      connectsPerSec: round((n / connectMs) * 1000, 0),
      connectCpuMs: connectCpu,
      relayRssBytes: after.rss,
      relayRssBytesPerConnection: after.rss.map((rss, i) =>
        round((rss - (before.rss[i] ?? 0)) / perRelay, 0),
      ),
      relayHeapUsedBytesPerConnection: after.heap.map((heap, i) =>
        round((heap - (before.heap[i] ?? 0)) / perRelay, 0),
      ),
      redisUsedMemory: after.redis,
      redisBytesPerDevice: round((after.redis - before.redis) / n, 0),
    };
  } finally {
    await fleet.stop();
  }
}

/**
 * A connect storm: 5,000 devices on relay A (relay B their fallback), A killed with SIGKILL,
 * then messages queued for 2,000 of them from a sender on B while they are away. Measured
 * from the kill: until every device is connected again (to B), and until every queued
 * message has been received; the CPU of Redis and relay B meanwhile (from /proc).
 */
export async function groveConnectStorm(stack: GroveStack, params: ScaleParams) {
  const [relayA, relayB] = stack.relays;
  if (relayA === undefined || relayB === undefined) throw new Error('two relays needed');
  const n = params.stormDevices;
  const received = new Uint8Array(n);
  let receivedCount = 0;
  const welcomes = new Uint8Array(n);
  let reconnected = 0;
  let killedAt = Number.POSITIVE_INFINITY;
  let lastWelcomeAt = 0;
  const devices: GroveClient[] = [];
  for (let i = 0; i < n; i++) {
    const c = await client(stack, deviceRef(PREFIX.storm, i), [relayA, relayB], () => {
      if (received[i] === 0) receivedCount++;
      received[i] = 1;
    });
    c.on('connected', () => {
      if (now() < killedAt || welcomes[i] === 1) return;
      welcomes[i] = 1;
      reconnected++;
      lastWelcomeAt = now();
    });
    devices.push(c);
  }
  const sender = await client(stack, deviceRef(PREFIX.sender, 0), [relayB]);
  try {
    await connectAll(devices, params.connectConcurrency, params.phaseTimeoutMs);
    await sender.start();
    await sleep(2000);
    const cpu = new CpuMeter({ relayB: [GroveStack.relayPid(relayB)], redis: [stack.redisPid] });
    const redisCpuBefore = cpuMs(stack.redisPid);
    cpu.start();
    killedAt = now();
    process.kill(GroveStack.relayPid(relayA), 'SIGKILL');
    // Queued while they are away: A is gone, and their reconnects wait out a backoff first.
    const queued = params.stormQueued;
    let queuedAt = 0;
    const sends = runPool(queued, 64, async (i) => {
      await sender.send([`device:${deviceRef(PREFIX.storm, i).device}`], Buffer.from(`storm ${i}`));
    }).then(() => (queuedAt = now()));
    // Redis CPU sampled every 100 ms: its busiest moment, as well as its average.
    let peakRedisPercent = 0;
    let lastSample = { at: now(), ms: redisCpuBefore };
    const sampler = setInterval(() => {
      const at = now();
      const ms = cpuMs(stack.redisPid);
      peakRedisPercent = Math.max(
        peakRedisPercent,
        ((ms - lastSample.ms) / (at - lastSample.at)) * 100,
      );
      lastSample = { at, ms };
    }, 100);
    try {
      await withTimeout(sends, params.phaseTimeoutMs, 'messages queued during the storm');
      await until(
        () => reconnected >= n && receivedCount >= queued,
        params.phaseTimeoutMs,
        'every device reconnected with its queued messages',
        20,
      );
    } finally {
      clearInterval(sampler);
    }
    const doneAt = now();
    const stormCpu = cpu.stop();
    const seconds = (doneAt - killedAt) / 1000;
    return {
      devices: n,
      queuedMessages: queued,
      queuedWithinMs: round(queuedAt - killedAt, 0),
      allReconnectedMs: round(lastWelcomeAt - killedAt, 0),
      allReceivedMs: round(doneAt - killedAt, 0),
      reconnectsPerSec: round(n / ((lastWelcomeAt - killedAt) / 1000), 0),
      cpuMs: stormCpu,
      redisCpuPercentAverage: round(((stormCpu.redis ?? 0) / 1000 / seconds) * 100, 1),
      redisCpuPercentPeak100ms: round(peakRedisPercent, 1),
      relayBCpuPercentAverage: round(((stormCpu.relayB ?? 0) / 1000 / seconds) * 100, 1),
    };
  } finally {
    await closeAll([...devices, sender]);
  }
}
