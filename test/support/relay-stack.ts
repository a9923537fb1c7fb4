import {
  GroveClient,
  type GroveClientOptions,
  type ReceivedMessage,
} from '../../client/sdk/grove-client.js';
import type { LinkClosed } from '../../client/sdk/link.js';
import type { Cluster, Redis } from 'ioredis';
import {
  connectRedis,
  type RedisClient,
  type RedisTarget,
} from '../../contracts/redis/connection.js';
import type { RelayLimits } from '../../crds/relay-limits.js';
import type { RelayConfigInput } from '../../relay/config.js';
import type { DirectorySeed } from '../../relay/store/directory.js';
import {
  RedisCluster,
  RedisServer,
  startRedis,
  type RedisKind,
  type RedisServerOptions,
} from './redis-server.js';
import type { RedisSentinelGroup } from './redis-sentinel.js';
import {
  makeDomain,
  RelayProcess,
  seedDirectory,
  tokenFor,
  type RelayStartOptions,
  type TestDomain,
} from './relay-process.js';
import { stopAll } from './service-process.js';

export type { TestDomain } from './relay-process.js';

/** The directory of one domain. */
export interface DomainSeed {
  /** Each identity with its devices: `{ alice: ['a1', 'a2'], bob: ['b1'] }`. */
  identities: Record<string, string[]>;
  /** Each workspace with its member identities: `{ team: ['alice', 'bob'] }`. */
  workspaces?: Record<string, string[]>;
}

function directorySeed(seed: DomainSeed): DirectorySeed {
  return {
    identities: Object.entries(seed.identities).map(([id, devices]) => ({ id, devices })),
    workspaces: Object.entries(seed.workspaces ?? {}).map(([id, members]) => ({ id, members })),
  };
}

export interface RelayStackOptions {
  /**
   * 'standalone' (the default: one redis-server with AOF), options of that server, or
   * 'cluster': a Redis Cluster of three masters.
   */
  redis?: RedisKind | RedisServerOptions;
  /** How many relays to start now (default 1); `addRelay` starts more. */
  relays?: number;
  /**
   * The directory written for each domain, by domain name. Every seeded domain is trusted by
   * the relays, with a fresh signing key (unless given in `domains`).
   */
  seed: Record<string, DomainSeed>;
  /** Limits of seeded domains, by name; the product defaults otherwise. */
  limits?: Record<string, Partial<RelayLimits>>;
  /** Domains made elsewhere (e.g. with a key from a data folder); trusted, seeded if named in `seed`. */
  domains?: TestDomain[];
  /** Overrides of every relay's config (connection bounds, drain, presence timings, …). */
  relayConfig?: Partial<RelayConfigInput>;
}

export interface AddRelayOptions extends Pick<
  RelayStartOptions,
  'env' | 'port' | 'host' | 'tls' | 'waitReady'
> {
  /** The domains it trusts, by name (default: all of the stack's). */
  domains?: string[];
  /** Overrides of its config, on top of the stack's `relayConfig`. */
  config?: Partial<RelayConfigInput>;
}

/** A started SDK client and what it saw: messages, disconnections, fatal errors. */
export interface TestDevice {
  client: GroveClient;
  got: ReceivedMessage[];
  closes: LinkClosed[];
  fatal: unknown[];
}

export type TestDeviceOptions = Partial<GroveClientOptions> & {
  /** The device's domain (default: the stack's first). */
  domain?: string;
  /** false: created, not started. */
  start?: boolean;
};

/**
 * Redis (single or Cluster), seeded domains and relay processes: what the relay, client and
 * bench tests run against. `stop` closes the clients it made, kills every relay it started
 * and stops Redis.
 */
export class RelayStack<
  R extends RedisServer | RedisCluster | RedisSentinelGroup = RedisServer | RedisCluster,
> {
  readonly relays: RelayProcess[] = [];
  readonly domains: TestDomain[] = [];
  private readonly clients: { close(): Promise<void> }[] = [];
  private inspector: RedisClient | undefined;

  private constructor(
    readonly redis: R,
    private readonly relayConfig: Partial<RelayConfigInput>,
  ) {}

  /** Seeds the domains on a started Redis and starts the relays; stops it all on failure. */
  static async start<R extends RedisServer | RedisCluster | RedisSentinelGroup>(
    redis: R,
    options: RelayStackOptions,
  ): Promise<RelayStack<R>> {
    const stack = new RelayStack(redis, options.relayConfig ?? {});
    try {
      stack.domains.push(...(options.domains ?? []));
      for (const [name, seed] of Object.entries(options.seed)) {
        if (!stack.domains.some((domain) => domain.name === name)) {
          stack.domains.push(await makeDomain(name, options.limits?.[name]));
        }
        await seedDirectory(stack.target, name, directorySeed(seed));
      }
      // Side by side, kept in start order; all settled before a failure is thrown, so that
      // `stop` finds every one that started.
      const started = await Promise.allSettled(
        Array.from({ length: options.relays ?? 1 }, async () => stack.launchRelay()),
      );
      for (const result of started)
        if (result.status === 'fulfilled') stack.relays.push(result.value);
      for (const result of started) if (result.status === 'rejected') throw result.reason;
    } catch (error) {
      await stack.stop();
      throw error;
    }
    return stack;
  }

  get target(): RedisTarget {
    return this.redis.target;
  }

  /** Relay `index` in start order (default: the first). */
  relay(index = 0): RelayProcess {
    const relay = this.relays[index];
    if (relay === undefined) throw new Error(`the stack has no relay ${index}`);
    return relay;
  }

  /** A domain by name (default: the first). */
  domain(name?: string): TestDomain {
    const domain = name === undefined ? this.domains[0] : this.domains.find((d) => d.name === name);
    if (domain === undefined) throw new Error(`no domain ${name ?? ''} in the stack`);
    return domain;
  }

  /** A device token signed with the domain's key, as the Manager would issue it. */
  async token(
    domain: string,
    identity: string,
    device: string,
    ttlSeconds?: number,
    nowSeconds?: number,
  ): Promise<string> {
    return tokenFor(this.domain(domain), identity, device, ttlSeconds, nowSeconds);
  }

  /**
   * A command connection to the stack's Redis for looking at what the relays wrote (made on
   * first use, closed by `stop`).
   */
  get inspect(): R extends RedisCluster ? Cluster : Redis {
    this.inspector ??= connectRedis(this.target, 'commands');
    return this.inspector as R extends RedisCluster ? Cluster : Redis;
  }

  /** Starts one more relay on the stack's Redis; `stop` kills it (kill9 before is fine). */
  async addRelay(options: AddRelayOptions = {}): Promise<RelayProcess> {
    const relay = await this.launchRelay(options);
    this.relays.push(relay);
    return relay;
  }

  private async launchRelay(options: AddRelayOptions = {}): Promise<RelayProcess> {
    const { domains, config, ...start } = options;
    return RelayProcess.start({
      ...start,
      redis: this.target,
      domains: domains?.map((name) => this.domain(name)) ?? this.domains,
      overrides: { ...this.relayConfig, ...config },
    });
  }

  /**
   * An SDK client of `identity`/`device` (started unless `start: false`) that records what
   * it receives; by default on every relay of the stack, with a short reconnect backoff.
   * `stop` closes it.
   */
  async client(
    identity: string,
    device: string,
    options: TestDeviceOptions = {},
  ): Promise<TestDevice> {
    const { domain, start, ...clientOptions } = options;
    const got: ReceivedMessage[] = [];
    const closes: LinkClosed[] = [];
    const fatal: unknown[] = [];
    const client = new GroveClient({
      relays: this.relays.map((relay) => relay.url),
      token: await tokenFor(this.domain(domain), identity, device),
      backoff: { initialMs: 50, maxMs: 500 },
      onMessage: (message) => {
        got.push(message);
      },
      ...clientOptions,
    });
    client.on('disconnected', (closed: LinkClosed) => closes.push(closed));
    client.on('fatal', (error: unknown) => fatal.push(error));
    this.clients.push(client);
    if (start !== false) await client.start();
    return { client, got, closes, fatal };
  }

  /** Has `stop` close a client made elsewhere (before the relays are killed). */
  track<C extends { close(): Promise<void> }>(client: C): C {
    this.clients.push(client);
    return client;
  }

  /** Closes its clients, then kills its relays (SIGKILL) and stops Redis, whatever fails. */
  async stop(): Promise<void> {
    await stopAll(
      () => Promise.all(this.clients.map((client) => client.close())),
      () => Promise.all(this.relays.map((relay) => relay.kill9())),
      () => Promise.resolve(this.inspector?.disconnect()),
      () => this.redis.stop(),
    );
  }
}

export async function startRelayStack(
  options: RelayStackOptions & { redis: 'cluster' },
): Promise<RelayStack<RedisCluster>>;
export async function startRelayStack(
  options: RelayStackOptions & { redis?: 'standalone' | RedisServerOptions },
): Promise<RelayStack<RedisServer>>;
/**
 * Starts Redis, seeds the domains' directories and starts the relays:
 *
 *     const stack = await startRelayStack({
 *       redis: 'cluster',
 *       relays: 2,
 *       seed: { acme: { identities: { alice: ['a1'], bob: ['b1', 'b2'] } } },
 *     });
 *     const alice = await stack.client('alice', 'a1');
 *     …
 *     await stack.stop();
 */
export async function startRelayStack(options: RelayStackOptions): Promise<RelayStack> {
  return RelayStack.start(await startRedis(options.redis), options);
}
