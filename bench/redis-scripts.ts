/**
 * Redis CPU per message of the queue scripts (enqueue.lua, ack.lua), on a Redis of its own
 * with the benchmark's settings (AOF, `appendfsync always`): N messages to M devices of one
 * domain, in batches (one enqueue call of `batch` items, then one ack call of the same
 * items, as the relay's group commit sends them), each message an enqueue and an ack. The
 * scripts of a git commit (`--base`, default HEAD) and of the working tree run alternately,
 * each run on a fresh Redis; prints JSON with each run's Redis CPU per message (INFO
 * used_cpu_sys + used_cpu_user) and commands per message (INFO commandstats, the commands
 * inside the scripts), and the medians' ratio.
 *
 *   node --import tsx bench/redis-scripts.ts [--messages=10000] [--devices=1000]
 *     [--batch=50] [--runs=3] [--base=HEAD]
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import {
  ackBatchScript,
  dedupMember,
  ENTRY_OVERHEAD,
  enqueueBatchScript,
  type AckItem,
  type EnqueueItem,
  type ItemOutcome,
} from '../contracts/redis/device-queue-scripts.js';
import {
  loadScript,
  resolveIncludes,
  type LoadedScript,
} from '../contracts/redis/script-loader.js';
import type { RedisScript } from '../contracts/redis/script-runner.js';
import { encodeQueuedMessage } from '../contracts/wire/queue-entry.js';
import { RedisServer } from '../test/support/redis-server.js';

function option(name: string, fallback: string): string {
  const prefix = `--${name}=`;
  const found = process.argv.find((arg) => arg.startsWith(prefix));
  return found === undefined ? fallback : found.slice(prefix.length);
}

const MESSAGES = Number(option('messages', '10000'));
const DEVICES = Number(option('devices', '1000'));
const BATCH = Number(option('batch', '50'));
const RUNS = Number(option('runs', '3'));
const BASE = option('base', 'HEAD');
/** `--perf=FILE`: record Redis with perf during the first run of each variant (FILE.<n>). */
const PERF = option('perf', '');

function gitShow(path: string): string {
  return execFileSync('git', ['show', `${BASE}:contracts/redis/lua/${path}`], {
    encoding: 'utf8',
  });
}

function loadAt(name: string): LoadedScript {
  const lua = resolveIncludes(gitShow(`${name}.lua`), (include) =>
    gitShow(`includes/${include}.lua`),
  );
  return { name, lua, sha: createHash('sha1').update(lua).digest('hex') };
}

interface Variant {
  name: string;
  enqueue: LoadedScript;
  ack: LoadedScript;
  profiled?: boolean;
}

const variants: Variant[] = [
  { name: `base (${BASE})`, enqueue: loadAt('enqueue'), ack: loadAt('ack') },
  { name: 'working tree', enqueue: loadScript('enqueue'), ack: loadScript('ack') },
];

async function call<I, O>(
  redis: Redis,
  script: RedisScript<I, O>,
  lua: LoadedScript,
  input: I,
): Promise<O> {
  const { keys, args } = script.encode(input);
  const reply: unknown = await redis.evalsha(lua.sha, keys.length, ...keys, ...args);
  return script.decode(reply);
}

function unwrap<T>(outcomes: ItemOutcome<T>[]): T[] {
  return outcomes.map((outcome) => {
    if (!outcome.ok) throw outcome.error;
    return outcome.value;
  });
}

async function cpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string): number => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1]);
  return field('used_cpu_sys') + field('used_cpu_user');
}

/** Calls of the commands run inside the scripts (all but EVALSHA, SCRIPT and INFO). */
async function innerCalls(redis: Redis): Promise<number> {
  const info = await redis.info('commandstats');
  let calls = 0;
  for (const match of info.matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)) {
    const name = match[1] ?? '';
    if (!/^(evalsha|eval|script|info|config|flushall|ping|select)/.test(name)) {
      calls += Number(match[2]);
    }
  }
  return calls;
}

/** A message as the relay stores it: its id and createdAt differ from message to message. */
function bodyOf(i: number, now: number): string {
  return JSON.stringify({
    id: `msg-${String(i).padStart(12, '0')}`,
    from: 'sender-device-0001',
    createdAt: now,
    kind: 'chat',
    data: { text: 'x'.repeat(120) },
  });
}

/** Each queue is created once and kept (an emptied queue keeps its epoch): its epoch is known. */
const epochOf = (device: string): string => `e-${device}`;

function enqueueItem(i: number, now: number): EnqueueItem {
  const device = `dev-${String(i % DEVICES)}`;
  const stored = encodeQueuedMessage({ body: bodyOf(i, now), sender: 'member-sender' });
  return {
    domain: 'bench',
    devices: [device],
    ledger: true,
    message: {
      now,
      dedupMember: dedupMember('sender-device-0001', `m-${String(i)}`),
      dedupUntil: now + 86_400_000,
      dedupWindowMs: 86_400_000,
      expiresAt: now + 7 * 86_400_000,
      stored,
      bytes: stored.length + ENTRY_OVERHEAD,
      payloadBytes: 0,
      maxCount: 1000,
      maxBytes: 1024 * 1024,
      sender: 'member-sender',
      shareCount: 500,
      shareBytes: 512 * 1024,
      rejectNew: false,
      domainMax: 1024 * 1024 * 1024,
      keyTtlMs: 7 * 86_400_000 + 3_600_000,
      idsTtlMs: 86_400_000 + 3_600_000,
      newEpoch: epochOf(device),
    },
  };
}

async function runOnce(variant: Variant): Promise<{ cpuUsPerMessage: number; commands: number }> {
  const server = await RedisServer.start();
  const redis = new Redis(server.port, '127.0.0.1');
  try {
    await redis.script('LOAD', variant.enqueue.lua);
    await redis.script('LOAD', variant.ack.lua);
    const perf =
      PERF === '' || server.pid === undefined || variant.profiled
        ? undefined
        : spawn(
            'perf',
            [
              'record',
              '-g',
              '-o',
              `${PERF}.${variant.name.replace(/\W+/g, '_')}`,
              '-p',
              String(server.pid),
            ],
            { stdio: 'ignore' },
          );
    variant.profiled = true;
    if (perf !== undefined) await new Promise((resolve) => setTimeout(resolve, 500));
    const cpu0 = await cpuSeconds(redis);
    const calls0 = await innerCalls(redis);
    const now = Date.now();
    for (let start = 0; start < MESSAGES; start += BATCH) {
      const items: EnqueueItem[] = [];
      for (let i = start; i < Math.min(start + BATCH, MESSAGES); i++) {
        items.push(enqueueItem(i, now + i));
      }
      const replies = unwrap(await call(redis, enqueueBatchScript, variant.enqueue, items));
      const acks: AckItem[] = [];
      replies.forEach((reply, k) => {
        const item = items[k];
        const result = reply.results[0];
        if (item === undefined || result === undefined || result.status !== 'queued') {
          throw new Error(`message ${String(start + k)} was not queued`);
        }
        acks.push({
          domain: 'bench',
          device: item.devices[0] ?? '',
          upTo: result.seq,
          epoch: epochOf(item.devices[0] ?? ''),
          now: now + start + k,
          ledger: true,
        });
      });
      unwrap(await call(redis, ackBatchScript, variant.ack, acks));
    }
    const cpu1 = await cpuSeconds(redis);
    const calls1 = await innerCalls(redis);
    if (perf !== undefined) {
      const exited = new Promise((resolve) => perf.once('exit', resolve));
      perf.kill('SIGINT');
      await exited;
    }
    return {
      cpuUsPerMessage: ((cpu1 - cpu0) * 1e6) / MESSAGES,
      commands: (calls1 - calls0) / MESSAGES,
    };
  } finally {
    redis.disconnect();
    await server.stop();
  }
}

const runs: Record<string, { cpuUsPerMessage: number; commands: number }[]> = {};
for (const variant of variants) runs[variant.name] = [];
for (let run = 0; run < RUNS; run++) {
  for (const variant of variants) runs[variant.name]?.push(await runOnce(variant));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? 0)
    : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

const summary = variants.map((variant) => {
  const results = runs[variant.name] ?? [];
  const cpu = results.map((r) => r.cpuUsPerMessage);
  return {
    variant: variant.name,
    cpuUsPerMessage: {
      median: median(cpu),
      min: Math.min(...cpu),
      max: Math.max(...cpu),
      runs: cpu,
    },
    commandsPerMessage: median(results.map((r) => r.commands)),
  };
});
const [base, work] = summary;
console.log(
  JSON.stringify(
    {
      messages: MESSAGES,
      devices: DEVICES,
      batch: BATCH,
      runs: RUNS,
      summary,
      ratioWorkToBase:
        base === undefined || work === undefined
          ? undefined
          : work.cpuUsPerMessage.median / base.cpuUsPerMessage.median,
    },
    null,
    2,
  ),
);
