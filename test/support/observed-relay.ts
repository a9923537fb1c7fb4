import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { relayPublicKey } from '../../contracts/auth/device-token.js';
import type { RelayConfigInput } from '../../relay/config.js';
import { spawnGrove } from './grove-cli.js';
import { freePort, waitFor } from './ports.js';
import type { TestDomain } from './relay-process.js';

/** One JSON log line of a Grove process. */
export interface LogEntry {
  level: string;
  message: string;
  [field: string]: unknown;
}

/** GET a URL's status, trusting `ca` for https (no other CA). Network errors reject. */
export function statusOf(url: string, ca?: string): Promise<number> {
  if (!url.startsWith('https:')) return fetch(url).then((response) => response.status);
  return new Promise((resolve, reject) => {
    const request = https.get(url, { ...(ca === undefined ? {} : { ca }), agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    request.on('error', reject);
  });
}

export interface ObservedRelayOptions {
  redisUrl: string;
  domains: TestDomain[];
  /** Serve wss:// with these files; `ca` is what the readiness check trusts. */
  tls?: { certFile: string; keyFile: string; ca: string; reloadIntervalMs?: number };
  /** Default 127.0.0.1. */
  host?: string;
  overrides?: Partial<RelayConfigInput>;
  /** Wait for /readyz (Redis answering); false: only for the "relay listening" log line. */
  waitReady?: boolean;
}

/**
 * A real `grove relay` process whose JSON log lines a test reads (what it says when Redis goes
 * away, where it listens), optionally serving TLS. Started with spawnGrove, so it works with
 * any version of the shared fixtures.
 */
export class ObservedRelay {
  readonly lines: string[] = [];
  private partial = '';

  private constructor(
    readonly port: number,
    readonly tls: boolean,
    private readonly child: ChildProcess,
    private readonly dir: string,
  ) {
    const collect = (chunk: Buffer) => {
      const parts = (this.partial + chunk.toString()).split('\n');
      this.partial = parts.pop() ?? '';
      this.lines.push(...parts.filter((line) => line !== ''));
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
  }

  get url(): string {
    return `${this.tls ? 'wss' : 'ws'}://127.0.0.1:${this.port}`;
  }

  get httpUrl(): string {
    return `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`;
  }

  static async start(options: ObservedRelayOptions): Promise<ObservedRelay> {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'grove-observed-relay-'));
    const file = join(dir, 'relay.json');
    const config: RelayConfigInput = {
      podId: `observed-${port}`,
      host: options.host ?? '127.0.0.1',
      port,
      redis: { url: options.redisUrl, cluster: false },
      domains: options.domains.map((domain) => ({
        name: domain.name,
        publicKeys: [relayPublicKey(domain.key)],
        limits: domain.limits,
      })),
      presence: { heartbeatMs: 500, deadAfterMs: 2000, sweepMs: 500 },
      ...(options.tls === undefined
        ? {}
        : {
            tls: {
              certFile: options.tls.certFile,
              keyFile: options.tls.keyFile,
              ...(options.tls.reloadIntervalMs === undefined
                ? {}
                : { reloadIntervalMs: options.tls.reloadIntervalMs }),
            },
          }),
      ...options.overrides,
    };
    writeFileSync(file, JSON.stringify(config));
    const child = spawnGrove(['relay', '--config', file]);
    const relay = new ObservedRelay(port, options.tls !== undefined, child, dir);
    try {
      await waitFor(
        async () => {
          if (child.exitCode !== null || child.signalCode !== null) {
            throw new Error(
              `relay exited (${child.exitCode ?? child.signalCode}): ${relay.output()}`,
            );
          }
          if (options.waitReady === false) return relay.find('relay listening') !== undefined;
          return (await statusOf(`${relay.httpUrl}/readyz`, options.tls?.ca)) === 200;
        },
        `relay on port ${port}`,
        30_000,
      );
    } catch (error) {
      await relay.stop();
      throw error;
    }
    return relay;
  }

  output(): string {
    return [...this.lines, this.partial].join('\n');
  }

  /** Every JSON log line so far (other lines skipped). */
  logs(): LogEntry[] {
    return this.lines.flatMap((line) => {
      try {
        const entry = JSON.parse(line) as LogEntry;
        return typeof entry.message === 'string' ? [entry] : [];
      } catch {
        return [];
      }
    });
  }

  /** Log entries whose message starts with `prefix`. */
  all(prefix: string): LogEntry[] {
    return this.logs().filter((entry) => entry.message.startsWith(prefix));
  }

  find(prefix: string): LogEntry | undefined {
    return this.all(prefix)[0];
  }

  async waitForLog(prefix: string, timeoutMs = 20_000): Promise<LogEntry> {
    return waitFor(() => this.find(prefix), `relay log "${prefix}"`, timeoutMs);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGTERM (drain), SIGKILL after 10 s; removes its config folder. */
  async stop(): Promise<void> {
    if (this.running) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
