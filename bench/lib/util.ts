import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** Milliseconds on the benchmark process's monotonic clock (the one every latency uses). */
export const now = (): number => performance.now();

/**
 * Microseconds on CLOCK_MONOTONIC: the clock V8 stamps CPU profile samples with, so the
 * measured phase can be cut out of a relay's profile (bench/profile-summary.ts --window).
 */
export const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

/**
 * Runs `total` sends over `senders` × `lanes` lanes, each awaiting its ack before its next
 * send, and records the start of send i in `startedAt[i]` (indexes from `first`). The same
 * lanes for every system, so they see the same offered load.
 */
export async function runLanes<S>(
  senders: S[],
  lanes: number,
  total: number,
  send: (sender: S, i: number) => Promise<unknown>,
  startedAt: Float64Array,
  first = 0,
): Promise<void> {
  let next = first;
  const end = first + total;
  const lane = async (sender: S) => {
    while (next < end) {
      const i = next++;
      startedAt[i] = now();
      await send(sender, i);
    }
  };
  await Promise.all(senders.flatMap((sender) => Array.from({ length: lanes }, () => lane(sender))));
}

/**
 * The "one message in flight": the next send starts only once the previous message
 * is both confirmed to its sender and delivered to its receiver. (`runLanes` with one lane
 * waits for the confirmation alone, which usually arrives first, so there the next send
 * overlaps the previous delivery.) A message not delivered within `waitMs` is given up on
 * and the phase goes on; its latency stays unrecorded and the delivered count shows it.
 */
export class OneInFlight {
  private readonly arrived = new Set<number>();
  private waiting: { index: number; resolve: () => void } | undefined;

  constructor(private readonly waitMs = 2000) {}

  /** Called from the receivers' message handler for each index of this phase. */
  delivered(index: number): void {
    if (this.waiting?.index === index) {
      const { resolve } = this.waiting;
      this.waiting = undefined;
      resolve();
    } else this.arrived.add(index);
  }

  async run<S>(
    sender: S,
    first: number,
    total: number,
    send: (sender: S, i: number) => Promise<unknown>,
    startedAt: Float64Array,
  ): Promise<void> {
    for (let i = first; i < first + total; i++) {
      startedAt[i] = now();
      await send(sender, i);
      await this.deliveryOf(i);
    }
  }

  private async deliveryOf(index: number): Promise<void> {
    if (this.arrived.delete(index)) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        resolve();
      }, this.waitMs);
      this.waiting = {
        index,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
    });
  }
}

export async function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface LatencySummary {
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
}

/** Percentiles of the recorded latencies (NaN entries — never delivered — are left out). */
export function summarize(latencies: Float64Array | number[]): LatencySummary {
  const values = Float64Array.from(latencies).filter((v) => !Number.isNaN(v));
  values.sort();
  const at = (q: number): number =>
    values.length === 0
      ? NaN
      : (values[Math.min(values.length - 1, Math.floor(q * values.length))] ?? NaN);
  let sum = 0;
  for (const v of values) sum += v;
  return {
    count: values.length,
    p50Ms: round(at(0.5)),
    p99Ms: round(at(0.99)),
    maxMs: round(values.length === 0 ? NaN : (values[values.length - 1] ?? NaN)),
    meanMs: round(values.length === 0 ? NaN : sum / values.length),
  };
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Resident set size of a process in bytes, from /proc (Linux). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (match?.[1] === undefined) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

/** CPU time (user + system) a process used so far, in ms, from /proc (Linux, USER_HZ = 100). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/**
 * Runs `task(i)` for i in [0, count) with at most `concurrency` in flight. Bounded in count;
 * a task that throws rejects the whole run.
 */
export async function runPool(
  count: number,
  concurrency: number,
  task: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

/** Resolves when `done()` is true; rejects after `timeoutMs`. Polls every `intervalMs`. */
export async function until(
  done: () => boolean,
  timeoutMs: number,
  what: string,
  intervalMs = 5,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** Like `until`, but returns false on timeout instead of throwing. */
export async function waitUntil(
  done: () => boolean,
  timeoutMs: number,
  intervalMs = 5,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) return false;
    await sleep(intervalMs);
  }
  return true;
}

/** A payload of exactly `bytes` bytes whose first 8 bytes carry `index` (for the MQTT side). */
export function indexedPayload(index: number, bytes: number): Buffer {
  const buffer = Buffer.alloc(bytes, 0x61);
  buffer.writeDoubleBE(index, 0);
  return buffer;
}

export function ratio(grove: number, peer: number): number {
  return round(grove / peer, 3);
}

/** Rejects after `ms` unless `promise` settles first (the timer never outlives it). */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Deterministic PRNG (mulberry32), so Grove and Mosquitto get the same target sequence. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** CPU time used by a set of processes (and this one) between `start()` and `stop()`. */
export class CpuMeter {
  private before = new Map<string, number>();
  private selfBefore = process.cpuUsage();

  constructor(private readonly pids: Record<string, number[]>) {}

  private read(): Map<string, number> {
    const values = new Map<string, number>();
    for (const [name, pids] of Object.entries(this.pids)) {
      let total = 0;
      for (const pid of pids) {
        try {
          total += cpuMs(pid);
        } catch {
          // The process is gone; count nothing for it.
        }
      }
      values.set(name, total);
    }
    return values;
  }

  start(): void {
    this.before = this.read();
    this.selfBefore = process.cpuUsage();
  }

  /** CPU ms per process group (and `benchProcess`) since `start()`. */
  stop(): Record<string, number> {
    const after = this.read();
    const result: Record<string, number> = {};
    for (const [name, value] of after) result[name] = value - (this.before.get(name) ?? 0);
    const self = process.cpuUsage(this.selfBefore);
    result.benchProcess = Math.round((self.user + self.system) / 1000);
    return result;
  }
}

/** Divides every CPU figure by `count` (CPU ms per message), rounded to µs. */
export function perUnit(cpu: Record<string, number>, count: number): Record<string, number> {
  const result: Record<string, number> = {};
  for (const [name, ms] of Object.entries(cpu)) result[name] = round(ms / count, 4);
  return result;
}
