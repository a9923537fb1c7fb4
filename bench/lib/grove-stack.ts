import type { ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { GroveClient, type ReceivedMessage } from '../../client/sdk/grove-client.js';
import type { RelayLimits } from '../../crds/relay-limits.js';
import type { DirectorySeed } from '../../relay/store/directory.js';
import { RedisServer } from '../../test/support/redis-server.js';
import {
  makeDomain,
  RelayProcess,
  seedDirectory,
  tokenFor,
  type TestDomain,
} from '../../test/support/relay-process.js';
import { runPool, withTimeout } from './util.js';

export type Fsync = 'always' | 'everysec';

/**
 * Limits of the benchmark's domain. Everything else is the product default; these are
 * raised because they are per-device policy bounds, not costs: the send rate (200/s per
 * device by default) would otherwise measure the policy, and the queue bounds (10,000
 * messages) would not hold the 100,000-message backlog.
 */
export const BENCH_LIMITS: Partial<RelayLimits> = {
  sendRatePerSecond: 1_000_000,
  sendBurst: 1_000_000,
  maxQueuedMessages: 1_000_000,
  maxQueuedBytes: 1024 * 1024 * 1024,
};

/** Relay config overrides: production presence timings, and no per-connection frame cap. */
export const RELAY_OVERRIDES = {
  presence: { heartbeatMs: 5000, deadAfterMs: 15_000, sweepMs: 5000 },
  connection: { maxFramesPerSecond: 1_000_000 },
};

export interface DeviceRef {
  identity: string;
  device: string;
}

/** Device naming: identity `<prefix><i>` owns one device `<prefix><i>d`. */
export function deviceRef(prefix: string, i: number): DeviceRef {
  return { identity: `${prefix}${i}`, device: `${prefix}${i}d` };
}

/** A Redis (AOF on) and relay processes on it, with one seeded domain. */
export class GroveStack {
  private constructor(
    readonly redis: RedisServer,
    readonly relays: RelayProcess[],
    readonly domain: TestDomain,
    readonly fsync: Fsync,
    private readonly profileDir: string | undefined,
    private readonly onChild: (pid: number) => void,
  ) {}

  static async start(options: {
    fsync: Fsync;
    relays: number;
    seed: DirectorySeed;
    profileDir?: string | undefined;
    /** Told the pid of every server process started (so a cut-short run can kill them). */
    onChild?: (pid: number) => void;
  }): Promise<GroveStack> {
    const redis = await RedisServer.start({
      appendonly: true,
      // RedisServer passes `--appendfsync always` first; a later occurrence wins.
      args: ['--appendfsync', options.fsync],
    });
    const domain = await makeDomain('bench', BENCH_LIMITS);
    const onChild = options.onChild ?? (() => undefined);
    const stack = new GroveStack(redis, [], domain, options.fsync, options.profileDir, onChild);
    onChild(stack.redisPid);
    try {
      await seedDirectory({ url: redis.url, cluster: false }, domain.name, options.seed);
      for (let i = 0; i < options.relays; i++) await stack.addRelay();
    } catch (error) {
      await stack.stop();
      throw error;
    }
    return stack;
  }

  /** Starts one more relay process on the same Redis and domain. */
  async addRelay(): Promise<RelayProcess> {
    const saved = process.env.NODE_OPTIONS;
    if (this.profileDir !== undefined) {
      // The relay child inherits the environment: --cpu-prof writes a profile when it exits.
      process.env.NODE_OPTIONS =
        `${saved ?? ''} --cpu-prof --cpu-prof-dir=${this.profileDir}`.trim();
    }
    try {
      const relay = await RelayProcess.start({
        redis: { url: this.redis.url, cluster: false },
        domains: [this.domain],
        overrides: RELAY_OVERRIDES,
      });
      this.relays.push(relay);
      this.onChild(GroveStack.relayPid(relay));
      return relay;
    } finally {
      if (saved === undefined) delete process.env.NODE_OPTIONS;
      else process.env.NODE_OPTIONS = saved;
    }
  }

  get redisPid(): number {
    return (this.redis as unknown as { process: ChildProcess }).process.pid ?? 0;
  }

  static relayPid(relay: RelayProcess): number {
    return (relay as unknown as { child: ChildProcess }).child.pid ?? 0;
  }

  async redisInfo(): Promise<{
    usedMemory: number;
    aofBytes: number;
    aofRewrites: number;
    appendfsync: string;
    version: string;
  }> {
    const client = new Redis(this.redis.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
    try {
      const info = await client.info();
      const field = (name: string): string =>
        new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim() ?? '';
      const config = await client.config('GET', 'appendfsync');
      return {
        usedMemory: Number(field('used_memory')),
        aofBytes: Number(field('aof_current_size')),
        aofRewrites: Number(field('aof_rewrites')),
        appendfsync: config[1] ?? '',
        version: field('redis_version'),
      };
    } finally {
      client.disconnect();
    }
  }

  /** Redis's per-command counters (INFO commandstats): calls and µs, by command. */
  async commandStats(): Promise<Map<string, { calls: number; usec: number }>> {
    const client = new Redis(this.redis.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
    try {
      const info = await client.info('commandstats');
      const stats = new Map<string, { calls: number; usec: number }>();
      for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) {
        stats.set(match[1] ?? '', { calls: Number(match[2]), usec: Number(match[3]) });
      }
      return stats;
    } finally {
      client.disconnect();
    }
  }

  /**
   * Connects devices (bounded concurrency); device i goes to relay i mod relays, with the
   * other relays as its fallbacks. Resolves when every one has its welcome.
   */
  async connect(
    refs: DeviceRef[],
    options: {
      onMessage?: (index: number, message: ReceivedMessage) => void;
      relays?: RelayProcess[];
      concurrency?: number;
      timeoutMs?: number;
    } = {},
  ): Promise<GroveClient[]> {
    const relays = options.relays ?? this.relays;
    const clients: (GroveClient | undefined)[] = new Array<GroveClient | undefined>(refs.length);
    const onMessage = options.onMessage;
    const connected = runPool(refs.length, options.concurrency ?? 50, async (i) => {
      const ref = refs[i];
      if (ref === undefined) return;
      const urls = relays.map((_, k) => relays[(i + k) % relays.length]?.url ?? '');
      const client = new GroveClient({
        relays: urls,
        token: await tokenFor(this.domain, ref.identity, ref.device),
        ...(onMessage === undefined
          ? {}
          : { onMessage: (message: ReceivedMessage) => onMessage(i, message) }),
      });
      clients[i] = client;
      await client.start();
    });
    try {
      await withTimeout(connected, options.timeoutMs ?? 120_000, `${refs.length} devices connect`);
    } catch (error) {
      // Stop the clients that exist, or they would keep reconnecting behind later workloads.
      await GroveStack.closeAll(clients.filter((client) => client !== undefined));
      throw error;
    }
    return clients.filter((client) => client !== undefined);
  }

  /** Closes clients (each waits for its handlers and sends its last ack); bounded in time. */
  static async closeAll(clients: GroveClient[]): Promise<void> {
    await withTimeout(
      runPool(clients.length, 200, async (i) => {
        await clients[i]?.close();
      }),
      30_000,
      'clients close',
    ).catch(() => undefined);
  }

  async stop(): Promise<void> {
    for (const relay of this.relays) {
      if (this.profileDir !== undefined) await relay.terminate();
      else await relay.kill9();
    }
    await this.redis.stop();
  }
}
