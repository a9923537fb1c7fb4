import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { RedisTarget } from '../../contracts/redis/connection.js';
import { waitFor } from './ports.js';
import { ServiceProcess, type StartOptions } from './service-process.js';

/** Options of `RedisServer.start`: AOF (on unless `appendonly: false`) and extra arguments. */
export interface RedisServerOptions {
  appendonly?: boolean;
  /** After the defaults: a later occurrence of an option wins. */
  args?: string[];
}

/** Answers PING on `port`? */
async function pings(port: number): Promise<boolean> {
  const client = new Redis(port, '127.0.0.1', {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  // A refused connect rejects connect() below; without a listener ioredis would also print it.
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
    return true;
  } finally {
    client.disconnect();
  }
}

/** A real redis-server process started for a test, on a free loopback port. */
export class RedisServer {
  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly extraArgs: string[],
    private process: ServiceProcess,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get target(): RedisTarget {
    return { url: this.url, cluster: false };
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const dir = mkdtempSync(join(tmpdir(), 'grove-redis-'));
    const args = [
      '--appendonly',
      options.appendonly === false ? 'no' : 'yes',
      '--appendfsync',
      'always',
      '--save',
      '',
      ...(options.args ?? []),
    ];
    try {
      const { service, port } = await ServiceProcess.startOnFreePort(
        (port) => RedisServer.service(port, dir, args),
        10_000,
      );
      return new RedisServer(port, dir, args, service);
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  private static service(port: number, dir: string, args: string[]): StartOptions {
    return {
      name: `redis-server on port ${port}`,
      command: 'redis-server',
      args: ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, ...args],
      ready: () => pings(port),
    };
  }

  /** Starts it again (after `kill`) on the same port, with the same data folder. */
  async launch(): Promise<void> {
    this.process = await ServiceProcess.start(
      RedisServer.service(this.port, this.dir, this.extraArgs),
      10_000,
    );
  }

  /** SIGKILL: no chance to write anything more than what is already fsynced. */
  async kill(): Promise<void> {
    await this.process.kill9();
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A Redis Cluster of real redis-server processes (masters only), created with redis-cli. */
export class RedisCluster {
  private constructor(readonly nodes: RedisServer[]) {}

  get startupNodes(): { host: string; port: number }[] {
    return this.nodes.map((node) => ({ host: '127.0.0.1', port: node.port }));
  }

  get url(): string {
    return this.nodes.map((node) => `127.0.0.1:${node.port}`).join(',');
  }

  get target(): RedisTarget {
    return { url: this.url, cluster: true };
  }

  static async start(masters = 3): Promise<RedisCluster> {
    const nodes: RedisServer[] = [];
    try {
      for (let i = 0; i < masters; i++) {
        nodes.push(
          await RedisServer.start({
            args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'],
          }),
        );
      }
      const created = spawnSync(
        'redis-cli',
        [
          '--cluster',
          'create',
          ...nodes.map((node) => `127.0.0.1:${node.port}`),
          '--cluster-replicas',
          '0',
          '--cluster-yes',
        ],
        { encoding: 'utf8' },
      );
      if (created.status !== 0) {
        throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`);
      }
      await waitFor(async () => {
        const client = new Redis(nodes[0]?.port ?? 0, '127.0.0.1', { maxRetriesPerRequest: 0 });
        try {
          const info = await client.cluster('INFO');
          return info.includes('cluster_state:ok');
        } finally {
          client.disconnect();
        }
      }, 'cluster_state:ok');
      return new RedisCluster(nodes);
    } catch (error) {
      await Promise.all(nodes.map((node) => node.stop()));
      throw error;
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.stop()));
  }
}

/** A single Redis, or a Redis Cluster of three masters. */
export type RedisKind = 'standalone' | 'cluster';

export async function startRedis(kind: 'cluster'): Promise<RedisCluster>;
export async function startRedis(kind?: 'standalone' | RedisServerOptions): Promise<RedisServer>;
export async function startRedis(
  kind?: RedisKind | RedisServerOptions,
): Promise<RedisServer | RedisCluster>;
/** A redis-server (AOF on; or with `options`), or with 'cluster' a 3-master Redis Cluster. */
export async function startRedis(
  kind: RedisKind | RedisServerOptions = 'standalone',
): Promise<RedisServer | RedisCluster> {
  if (kind === 'cluster') return RedisCluster.start(3);
  return RedisServer.start(kind === 'standalone' ? {} : kind);
}
