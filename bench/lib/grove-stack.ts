import { Redis } from 'ioredis';
import { GroveClient, type ReceivedMessage } from '../../client/sdk/grove-client.js';
import type { RelayLimits } from '../../crds/relay-limits.js';
import { RELAY_V8_FLAGS } from '../../contracts/relay-v8-flags.js';
import type { DirectorySeed } from '../../relay/store/directory.js';
import type { RedisServer } from '../../test/support/redis-server.js';
import { tokenFor, type RelayProcess, type TestDomain } from '../../test/support/relay-process.js';
import { RelayStack, startRelayStack } from '../../test/support/relay-stack.js';
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
  // The fan-out senders are not members of the workspace they send to.
  workspaceSend: 'domain',
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
    private readonly stack: RelayStack<RedisServer>,
    readonly fsync: Fsync,
    private readonly profileDir: string | undefined,
    private readonly onChild: (pid: number) => void,
    private readonly relayV8Flags: readonly string[],
  ) {}

  static async start(options: {
    fsync: Fsync;
    relays: number;
    seed: DirectorySeed;
    profileDir?: string | undefined;
    /** V8 flags of the relays instead of the image's (RELAY_V8_FLAGS): for experiments. */
    relayV8Flags?: readonly string[] | undefined;
    /** Told the pid of every server process started (so a cut-short run can kill them). */
    onChild?: (pid: number) => void;
  }): Promise<GroveStack> {
    const stack = await startRelayStack({
      // RedisServer passes `--appendfsync always` first; a later occurrence wins.
      redis: { appendonly: true, args: ['--appendfsync', options.fsync] },
      relays: 0,
      seed: {
        bench: {
          identities: Object.fromEntries(options.seed.identities.map((i) => [i.id, i.devices])),
          workspaces: Object.fromEntries(options.seed.workspaces.map((w) => [w.id, w.members])),
        },
      },
      limits: { bench: BENCH_LIMITS },
      relayConfig: RELAY_OVERRIDES,
    });
    const onChild = options.onChild ?? (() => undefined);
    const grove = new GroveStack(
      stack,
      options.fsync,
      options.profileDir,
      onChild,
      options.relayV8Flags ?? RELAY_V8_FLAGS,
    );
    onChild(grove.redisPid);
    try {
      for (let i = 0; i < options.relays; i++) await grove.addRelay();
    } catch (error) {
      await grove.stop();
      throw error;
    }
    return grove;
  }

  get redis(): RedisServer {
    return this.stack.redis;
  }

  get relays(): RelayProcess[] {
    return this.stack.relays;
  }

  get domain(): TestDomain {
    return this.stack.domain('bench');
  }

  /** Starts one more relay process on the same Redis and domain. */
  async addRelay(): Promise<RelayProcess> {
    // The V8 flags the image gives a relay; --cpu-prof writes a profile when the relay exits.
    const flags = [
      process.env.NODE_OPTIONS ?? '',
      ...this.relayV8Flags,
      ...(this.profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${this.profileDir}`]),
    ];
    const relay = await this.stack.addRelay({ env: { NODE_OPTIONS: flags.join(' ').trim() } });
    this.onChild(GroveStack.relayPid(relay));
    return relay;
  }

  get redisPid(): number {
    return this.redis.pid ?? 0;
  }

  static relayPid(relay: RelayProcess): number {
    return relay.pid ?? 0;
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
    // SIGTERM when profiling: a relay writes its CPU profile as it exits.
    if (this.profileDir !== undefined) for (const relay of this.relays) await relay.terminate();
    await this.stack.stop();
  }
}
