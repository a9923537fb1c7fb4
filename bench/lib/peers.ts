import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitFor } from '../../test/support/ports.js';
import { RedisServer } from '../../test/support/redis-server.js';
import type { Fsync } from './grove-stack.js';

export type PeerName = 'centrifugo' | 'nats-server';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The peers' binaries, built (or found in the cache) by scripts/bench-peers.sh. A peer that
 * cannot be built is reported by name with the script's last words, and the run goes on
 * without it.
 */
export function peerBinaries(names: PeerName[]): {
  found: Partial<Record<PeerName, string>>;
  missing: Partial<Record<PeerName, string>>;
} {
  const found: Partial<Record<PeerName, string>> = {};
  const missing: Partial<Record<PeerName, string>> = {};
  for (const name of names) {
    const result = spawnSync('bash', [join(repoRoot, 'scripts/bench-peers.sh'), name], {
      encoding: 'utf8',
      // A cold build of Centrifugo took about 2 minutes here; a cached one answers at once.
      timeout: 15 * 60 * 1000,
    });
    const path = new RegExp(`^${name}: (.+)$`, 'm').exec(result.stdout)?.[1];
    if (result.status === 0 && path !== undefined) found[name] = path;
    else {
      const tail = result.stderr.trim().split('\n').slice(-3).join(' / ');
      missing[name] =
        `scripts/bench-peers.sh ${name} failed (exit ${String(result.status)}): ${tail || (result.error?.message ?? '')}`;
    }
  }
  return { found, missing };
}

function versionOf(binary: string, args: string[], pattern: RegExp): string {
  const result = spawnSync(binary, args, { encoding: 'utf8' });
  return pattern.exec(`${result.stdout}${result.stderr}`)?.[1] ?? 'unknown';
}

/** A child process with its output kept (for the error when it dies). */
class Child {
  readonly logs: string[] = [];
  constructor(readonly process: ChildProcess) {
    process.stdout?.on('data', (chunk: Buffer) => this.logs.push(chunk.toString()));
    process.stderr?.on('data', (chunk: Buffer) => this.logs.push(chunk.toString()));
  }

  get pid(): number {
    return this.process.pid ?? 0;
  }

  get exited(): boolean {
    return this.process.exitCode !== null || this.process.signalCode !== null;
  }

  async kill(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise((resolve) => this.process.once('exit', resolve));
    this.process.kill('SIGKILL');
    await exited;
  }
}

async function healthy(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
    return response.status === 200;
  } catch {
    return false;
  }
}

export const CENTRIFUGO_SECRET = 'bench-secret';

/**
 * Centrifugo v6 with its Redis engine (a redis-server of its own, AOF on with the same
 * appendfsync as Grove's), history and recovery forced on in the `bench` namespace, and
 * client-side publish allowed (devices publish over their WebSocket as Grove's devices
 * send). A publish is answered once Centrifugo's Lua script has added it to the channel's
 * history stream in Redis: with `appendfsync always`, after the fsync.
 */
export class CentrifugoPeer {
  private constructor(
    readonly port: number,
    readonly redis: RedisServer,
    private readonly child: Child,
    private readonly dir: string,
    readonly config: unknown,
    readonly version: string,
  ) {}

  get url(): string {
    return `ws://127.0.0.1:${this.port}/connection/websocket`;
  }

  get pid(): number {
    return this.child.pid;
  }

  get redisPid(): number {
    return this.redis.pid ?? 0;
  }

  static async start(binary: string, fsync: Fsync, historySize: number): Promise<CentrifugoPeer> {
    const redis = await RedisServer.start({ appendonly: true, args: ['--appendfsync', fsync] });
    const dir = mkdtempSync(join(tmpdir(), 'grove-bench-centrifugo-'));
    try {
      const port = await freePort();
      const internalPort = await freePort();
      const config = {
        http_server: {
          address: '127.0.0.1',
          port,
          internal_address: '127.0.0.1',
          internal_port: String(internalPort),
        },
        client: {
          token: { hmac_secret_key: CENTRIFUGO_SECRET },
          allowed_origins: ['http://127.0.0.1'],
        },
        engine: { type: 'redis', redis: { address: [redis.url] } },
        channel: {
          namespaces: [
            {
              name: 'bench',
              history_size: historySize,
              history_ttl: '300s',
              force_recovery: true,
              force_positioning: true,
              allow_subscribe_for_client: true,
              allow_publish_for_client: true,
            },
          ],
        },
        health: { enabled: true },
        usage_stats: { disabled: true },
        log: { level: 'error' },
      };
      const file = join(dir, 'config.json');
      writeFileSync(file, JSON.stringify(config, null, 2));
      const child = new Child(
        spawn(binary, ['-c', file], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }),
      );
      const version = versionOf(binary, ['version'], /Centrifugo v?(\S+)/);
      const peer = new CentrifugoPeer(port, redis, child, dir, config, version);
      await waitFor(
        async () => {
          if (child.exited) throw new Error(`centrifugo exited: ${child.logs.join('')}`);
          return healthy(`http://127.0.0.1:${internalPort}/health`);
        },
        'centrifugo /health',
        20_000,
      ).catch(async (error: unknown) => {
        await child.kill();
        throw error;
      });
      return peer;
    } catch (error) {
      await redis.stop();
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** A connection JWT (HS256) for user `sub`. */
  static token(sub: string): string {
    const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const body = `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ sub, exp: Math.floor(Date.now() / 1000) + 3600 })}`;
    return `${body}.${createHmac('sha256', CENTRIFUGO_SECRET).update(body).digest('base64url')}`;
  }

  async stop(): Promise<void> {
    await this.child.kill();
    await this.redis.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * NATS server with JetStream on file storage. With `appendfsync always` on the Grove side,
 * `sync_interval: always`: every stored message is fsynced before its PubAck (the same
 * promise as Grove's `sent`); with `everysec`, `sync_interval: 1s`.
 */
export class NatsPeer {
  private constructor(
    readonly port: number,
    private readonly child: Child,
    private readonly dir: string,
    readonly configText: string,
    readonly version: string,
  ) {}

  get url(): string {
    return `127.0.0.1:${this.port}`;
  }

  get pid(): number {
    return this.child.pid;
  }

  static async start(binary: string, fsync: Fsync): Promise<NatsPeer> {
    const dir = mkdtempSync(join(tmpdir(), 'grove-bench-nats-'));
    try {
      const port = await freePort();
      const monitorPort = await freePort();
      const configText = [
        `listen: 127.0.0.1:${port}`,
        `http: 127.0.0.1:${monitorPort}`,
        'server_name: bench',
        // Room for the backlog workload's burst of publishes from one connection.
        'max_pending: 256MB',
        'jetstream {',
        `  store_dir: "${dir}/js"`,
        `  sync_interval: ${fsync === 'always' ? 'always' : '1s'}`,
        '}',
        '',
      ].join('\n');
      const file = join(dir, 'nats.conf');
      writeFileSync(file, configText);
      const child = new Child(spawn(binary, ['-c', file], { stdio: ['ignore', 'pipe', 'pipe'] }));
      const version = versionOf(binary, ['--version'], /v(\d+\.\d+\.\d+)/);
      const peer = new NatsPeer(port, child, dir, configText, version);
      await waitFor(
        async () => {
          if (child.exited) throw new Error(`nats-server exited: ${child.logs.join('')}`);
          return healthy(`http://127.0.0.1:${monitorPort}/healthz?js-enabled-only=true`);
        },
        'nats-server /healthz',
        20_000,
      ).catch(async (error: unknown) => {
        await child.kill();
        throw error;
      });
      return peer;
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  async stop(): Promise<void> {
    await this.child.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
