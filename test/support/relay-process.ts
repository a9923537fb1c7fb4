import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_RELAY_LIMITS, type RelayLimits } from '../../crds/relay-limits.js';
import {
  generateDomainKey,
  issueDeviceToken,
  relayPublicKey,
  type DomainSigningKey,
} from '../../contracts/auth/device-token.js';
import type { RelayConfigInput } from '../../relay/config.js';
import { writeDirectory, type DirectorySeed } from '../../relay/store/directory.js';
import { connectRedis, type RedisTarget } from '../../contracts/redis/connection.js';
import { waitFor } from './ports.js';
import { groveCommand, ServiceProcess, type StartOptions } from './service-process.js';

export interface TestDomain {
  name: string;
  key: DomainSigningKey;
  limits: RelayLimits;
}

export async function makeDomain(
  name: string,
  limits: Partial<RelayLimits> = {},
): Promise<TestDomain> {
  return {
    name,
    key: await generateDomainKey(`${name}-1`),
    limits: { ...DEFAULT_RELAY_LIMITS, ...limits },
  };
}

export async function tokenFor(
  domain: TestDomain,
  identity: string,
  device: string,
  ttlSeconds = 3600,
  nowSeconds?: number,
): Promise<string> {
  return issueDeviceToken(
    domain.key,
    { domain: domain.name, identity, device },
    ttlSeconds,
    nowSeconds,
  );
}

export async function seedDirectory(
  redis: RedisTarget,
  domain: string,
  seed: DirectorySeed,
): Promise<void> {
  const client = connectRedis(redis, 'commands');
  try {
    await writeDirectory(client, domain, seed);
  } finally {
    client.disconnect();
  }
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

/** One JSON log line of a Grove process. */
export interface LogEntry {
  level: string;
  message: string;
  [field: string]: unknown;
}

/** The JSON log entries among output lines (other lines skipped). */
function logEntries(lines: readonly string[]): LogEntry[] {
  return lines.flatMap((line) => {
    try {
      const entry = JSON.parse(line) as LogEntry;
      return typeof entry.message === 'string' ? [entry] : [];
    } catch {
      return [];
    }
  });
}

/** Serve wss:// and https:// with these files; `ca` is what the readiness check trusts. */
export interface RelayTls {
  certFile: string;
  keyFile: string;
  ca: string;
  reloadIntervalMs?: number;
}

export interface RelayStartOptions {
  redis: RedisTarget;
  domains: TestDomain[];
  podId?: string;
  /** A free port when omitted. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  tls?: RelayTls;
  /** Wait for /readyz (Redis answering; the default); false: for the "relay listening" log. */
  waitReady?: boolean;
  overrides?: Partial<RelayConfigInput>;
  /** Added to the relay's environment (e.g. NODE_OPTIONS). */
  env?: Record<string, string>;
}

/**
 * A real `grove relay` process, started from the CLI with a generated config file; its JSON
 * log lines can be read (`find`, `all`, `waitForLog`).
 */
export class RelayProcess {
  private constructor(
    readonly port: number,
    readonly podId: string,
    readonly tls: boolean,
    readonly process: ServiceProcess,
  ) {}

  get url(): string {
    return `${this.tls ? 'wss' : 'ws'}://127.0.0.1:${this.port}`;
  }

  get httpUrl(): string {
    return `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`;
  }

  static async start(options: RelayStartOptions): Promise<RelayProcess> {
    const dir = mkdtempSync(join(tmpdir(), 'grove-relay-'));
    const file = join(dir, 'relay.json');
    const podIdOf = (port: number) => options.podId ?? `test-${port}`;
    const tls = options.tls;
    const launch = (port: number): StartOptions => {
      const config: RelayConfigInput = {
        podId: podIdOf(port),
        host: options.host ?? '127.0.0.1',
        port,
        redis: options.redis,
        domains: options.domains.map((domain) => ({
          name: domain.name,
          publicKeys: [relayPublicKey(domain.key)],
          limits: domain.limits,
        })),
        presence: { heartbeatMs: 500, deadAfterMs: 2000, sweepMs: 500 },
        // Many relays share this host: each takes a free metrics port (read back from its log).
        metrics: { port: 0 },
        ...(tls === undefined
          ? {}
          : {
              tls: {
                certFile: tls.certFile,
                keyFile: tls.keyFile,
                ...(tls.reloadIntervalMs === undefined
                  ? {}
                  : { reloadIntervalMs: tls.reloadIntervalMs }),
              },
            }),
        ...options.overrides,
      };
      writeFileSync(file, JSON.stringify(config));
      const scheme = tls === undefined ? 'http' : 'https';
      return {
        name: `relay on port ${port}`,
        ...groveCommand(['relay', '--config', file]),
        ...(options.env === undefined ? {} : { env: options.env }),
        ready: async (service) =>
          options.waitReady === false
            ? logEntries(service.lines).some((e) => e.message.startsWith('relay listening'))
            : (await statusOf(`${scheme}://127.0.0.1:${port}/readyz`, tls?.ca)) === 200,
      };
    };
    try {
      const { service, port } =
        options.port === undefined
          ? await ServiceProcess.startOnFreePort(launch)
          : { service: await ServiceProcess.start(launch(options.port)), port: options.port };
      void service.exited.then(() => rmSync(dir, { recursive: true, force: true }));
      return new RelayProcess(port, podIdOf(port), tls !== undefined, service);
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  get running(): boolean {
    return this.process.running;
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  /** SIGKILL: the relay gets no chance to drain or clean up. */
  async kill9(): Promise<void> {
    await this.process.kill9();
  }

  /** SIGTERM: drain; resolves with the exit code. */
  async terminate(): Promise<number | null> {
    return this.process.terminate();
  }

  /** SIGTERM (drain), SIGKILL after 10 s. */
  async stop(): Promise<void> {
    await this.process.stop('SIGTERM', 10_000);
  }

  /** Every JSON log line so far. */
  logs(): LogEntry[] {
    return logEntries(this.process.lines);
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

  /** Where this relay serves /metrics (its own port, from the "relay listening" log). */
  get metricsUrl(): string {
    const address = this.find('relay listening')?.metricsAddress;
    if (typeof address !== 'string')
      throw new Error(`relay ${this.podId} has not logged its metrics address`);
    return `http://${address.replace(/^0\.0\.0\.0:/, '127.0.0.1:')}/metrics`;
  }

  async metrics(): Promise<string> {
    const response = await fetch(this.metricsUrl);
    return response.text();
  }

  /** The value of a metric sample, e.g. `grove_relay_queue_drops_total{reason="quota"}`. */
  async metric(sample: string): Promise<number> {
    const text = await this.metrics();
    const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
    return line === undefined ? 0 : Number(line.slice(sample.length + 1));
  }
}
