import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, waitFor } from './ports.js';

/** A real redis-server process started for a test, on a free loopback port. */
export class RedisServer {
  private process: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly extraArgs: string[],
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(
    options: { appendonly?: boolean; args?: string[] } = {},
  ): Promise<RedisServer> {
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
    const server = new RedisServer(await freePort(), dir, args);
    await server.launch();
    return server;
  }

  async launch(): Promise<void> {
    this.process = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, ...this.extraArgs],
      { stdio: 'ignore' },
    );
    await waitFor(async () => {
      const client = new Redis(this.port, '127.0.0.1', {
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      try {
        await client.connect();
        await client.ping();
        return true;
      } finally {
        client.disconnect();
      }
    }, `redis-server on port ${this.port}`);
  }

  /** SIGKILL: no chance to write anything more than what is already fsynced. */
  async kill(): Promise<void> {
    const child = this.process;
    if (child?.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
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

  static async start(masters = 3): Promise<RedisCluster> {
    const nodes: RedisServer[] = [];
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
      await Promise.all(nodes.map((node) => node.stop()));
      throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`);
    }
    const cluster = new RedisCluster(nodes);
    await waitFor(async () => {
      const client = new Redis(nodes[0]?.port ?? 0, '127.0.0.1', { maxRetriesPerRequest: 0 });
      try {
        const info = await client.cluster('INFO');
        return info.includes('cluster_state:ok');
      } finally {
        client.disconnect();
      }
    }, 'cluster_state:ok');
    return cluster;
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.stop()));
  }
}
