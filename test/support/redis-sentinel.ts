import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { RedisTarget } from '../../contracts/redis/connection.js';
import { parseReplication } from '../../contracts/redis/replica-acks.js';
import { waitFor } from './ports.js';
import { RedisServer } from './redis-server.js';
import { ServiceProcess, stopAll, type StartOptions } from './service-process.js';

export interface SentinelGroupOptions {
  /** Replicas of the primary (default 2). */
  replicas?: number;
  /** Sentinel processes (default 3; the quorum is a majority of them). */
  sentinels?: number;
  /** How long a silent primary takes to be declared down (default 1000 ms). */
  downAfterMs?: number;
  /** Sentinel's failover-timeout (default 5000 ms). */
  failoverTimeoutMs?: number;
  /** The name the Sentinels monitor the primary under (default `grove`). */
  masterName?: string;
}

async function answers<T>(port: number, check: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis(port, '127.0.0.1', {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  // A refused connect rejects connect() below; without a listener ioredis would also print it.
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await check(client);
  } finally {
    client.disconnect();
  }
}

/** One `redis-server --sentinel` process with its own writable config file. */
export class SentinelProcess {
  private constructor(
    readonly port: number,
    readonly dir: string,
    private process: ServiceProcess,
  ) {}

  static async start(
    masterName: string,
    primaryPort: number,
    quorum: number,
    options: Required<Pick<SentinelGroupOptions, 'downAfterMs' | 'failoverTimeoutMs'>>,
  ): Promise<SentinelProcess> {
    const dir = mkdtempSync(join(tmpdir(), 'grove-sentinel-'));
    try {
      const { service, port } = await ServiceProcess.startOnFreePort((port) => {
        // Sentinel rewrites its config file (what it learnt: replicas, other Sentinels, epochs).
        writeFileSync(
          join(dir, 'sentinel.conf'),
          [
            `port ${port}`,
            'bind 127.0.0.1',
            `dir ${dir}`,
            `sentinel monitor ${masterName} 127.0.0.1 ${primaryPort} ${quorum}`,
            `sentinel down-after-milliseconds ${masterName} ${options.downAfterMs}`,
            `sentinel failover-timeout ${masterName} ${options.failoverTimeoutMs}`,
            `sentinel parallel-syncs ${masterName} 1`,
            '',
          ].join('\n'),
        );
        return SentinelProcess.service(port, dir);
      }, 10_000);
      return new SentinelProcess(port, dir, service);
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  private static service(port: number, dir: string): StartOptions {
    return {
      name: `redis sentinel on port ${port}`,
      command: 'redis-server',
      args: [join(dir, 'sentinel.conf'), '--sentinel'],
      ready: () =>
        answers(port, async (client) => {
          await client.ping();
          return true;
        }),
    };
  }

  /** SENTINEL MASTER as a map of fields. */
  async master(name: string): Promise<Map<string, string>> {
    return answers(this.port, async (client) => {
      const flat = (await client.call('SENTINEL', 'MASTER', name)) as string[];
      const fields = new Map<string, string>();
      for (let i = 0; i + 1 < flat.length; i += 2) fields.set(flat[i] ?? '', flat[i + 1] ?? '');
      return fields;
    });
  }

  async kill(): Promise<void> {
    await this.process.kill9();
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A Redis primary with replicas (AOF, appendfsync always on each) watched by Sentinels, all
 * real processes on loopback: what the relays' `sentinel://` target and the failover tests run
 * against. `servers[0]` starts as the primary; after a failover `primary()` says which is.
 */
export class RedisSentinelGroup {
  private constructor(
    readonly masterName: string,
    readonly servers: RedisServer[],
    readonly sentinels: SentinelProcess[],
  ) {}

  get url(): string {
    return `sentinel://${this.sentinels.map((s) => `127.0.0.1:${s.port}`).join(',')}/${this.masterName}`;
  }

  get target(): RedisTarget {
    return { url: this.url, cluster: false };
  }

  static async start(options: SentinelGroupOptions = {}): Promise<RedisSentinelGroup> {
    const masterName = options.masterName ?? 'grove';
    const replicaCount = options.replicas ?? 2;
    const sentinelCount = options.sentinels ?? 3;
    const timings = {
      downAfterMs: options.downAfterMs ?? 1000,
      failoverTimeoutMs: options.failoverTimeoutMs ?? 5000,
    };
    const servers: RedisServer[] = [];
    const sentinels: SentinelProcess[] = [];
    try {
      const primary = await RedisServer.start();
      servers.push(primary);
      servers.push(
        ...(await Promise.all(
          Array.from({ length: replicaCount }, () =>
            RedisServer.start({ args: ['--replicaof', '127.0.0.1', String(primary.port)] }),
          ),
        )),
      );
      const group = new RedisSentinelGroup(masterName, servers, sentinels);
      await waitFor(
        async () => (await group.replication(primary)).replicasOnline === replicaCount,
        `${replicaCount} replicas in sync with the primary`,
        20_000,
      );
      const quorum = Math.floor(sentinelCount / 2) + 1;
      sentinels.push(
        ...(await Promise.all(
          Array.from({ length: sentinelCount }, () =>
            SentinelProcess.start(masterName, primary.port, quorum, timings),
          ),
        )),
      );
      // A failover needs the Sentinels to know each other and the replicas (hello messages
      // every 2 s through the primary).
      await waitFor(
        async () => {
          for (const sentinel of sentinels) {
            const master = await sentinel.master(masterName);
            if (Number(master.get('num-other-sentinels')) !== sentinelCount - 1) return false;
            if (Number(master.get('num-slaves')) !== replicaCount) return false;
          }
          return true;
        },
        'the Sentinels to know each other and every replica',
        30_000,
        200,
      );
      return group;
    } catch (error) {
      await stopAll(
        () => Promise.all(sentinels.map((s) => s.stop())),
        () => Promise.all(servers.map((s) => s.stop())),
      );
      throw error;
    }
  }

  /** The server the Sentinels name as primary now (asks the first Sentinel that answers). */
  async primary(): Promise<RedisServer> {
    for (const sentinel of this.sentinels) {
      try {
        const master = await sentinel.master(this.masterName);
        const port = Number(master.get('port'));
        const server = this.servers.find((s) => s.port === port);
        if (server !== undefined) return server;
      } catch {
        // That Sentinel is down: ask the next.
      }
    }
    throw new Error('no Sentinel names a primary');
  }

  /** The servers other than `primary`. */
  replicasOf(primary: RedisServer): RedisServer[] {
    return this.servers.filter((server) => server !== primary);
  }

  /** Role, offset and online replicas of one server, from INFO replication. */
  async replication(
    server: RedisServer,
  ): Promise<{ role: string; offset: number; replicasOnline: number; linkUp: boolean }> {
    return answers(server.port, async (client) => {
      const info = parseReplication(await client.info('replication'));
      return {
        role: info.role,
        offset: info.masterReplOffset,
        replicasOnline: info.replicas.filter((r) => r.state === 'online').length,
        linkUp: info.masterLinkUp ?? false,
      };
    });
  }

  /**
   * Waits until the Sentinels name a primary other than `old` and it answers as one; resolves
   * with it.
   */
  async waitForNewPrimary(old: RedisServer, timeoutMs = 30_000): Promise<RedisServer> {
    return waitFor(
      async () => {
        const primary = await this.primary();
        if (primary === old) return undefined;
        const state = await this.replication(primary);
        return state.role === 'master' ? primary : undefined;
      },
      'the Sentinels to promote a replica',
      timeoutMs,
      100,
    );
  }

  async stop(): Promise<void> {
    await stopAll(
      () => Promise.all(this.sentinels.map((s) => s.stop())),
      () => Promise.all(this.servers.map((s) => s.stop())),
    );
  }
}
