import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

export interface RelayStartOptions {
  redis: RedisTarget;
  domains: TestDomain[];
  podId?: string;
  /** A free port when omitted. */
  port?: number;
  overrides?: Partial<RelayConfigInput>;
  /** Added to the relay's environment (e.g. NODE_OPTIONS). */
  env?: Record<string, string>;
}

/** A real `grove relay` process, started from the CLI with a generated config file. */
export class RelayProcess {
  private constructor(
    readonly port: number,
    readonly podId: string,
    readonly process: ServiceProcess,
  ) {}

  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  get httpUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(options: RelayStartOptions): Promise<RelayProcess> {
    const dir = mkdtempSync(join(tmpdir(), 'grove-relay-'));
    const file = join(dir, 'relay.json');
    const podIdOf = (port: number) => options.podId ?? `test-${port}`;
    const launch = (port: number): StartOptions => {
      const config: RelayConfigInput = {
        podId: podIdOf(port),
        host: '127.0.0.1',
        port,
        redis: options.redis,
        domains: options.domains.map((domain) => ({
          name: domain.name,
          publicKeys: [relayPublicKey(domain.key)],
          limits: domain.limits,
        })),
        presence: { heartbeatMs: 500, deadAfterMs: 2000, sweepMs: 500 },
        ...options.overrides,
      };
      writeFileSync(file, JSON.stringify(config));
      return {
        name: `relay on port ${port}`,
        ...groveCommand(['relay', '--config', file]),
        ...(options.env === undefined ? {} : { env: options.env }),
        ready: async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok,
      };
    };
    try {
      const { service, port } =
        options.port === undefined
          ? await ServiceProcess.startOnFreePort(launch)
          : { service: await ServiceProcess.start(launch(options.port)), port: options.port };
      void service.exited.then(() => rmSync(dir, { recursive: true, force: true }));
      return new RelayProcess(port, podIdOf(port), service);
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

  async metrics(): Promise<string> {
    const response = await fetch(`${this.httpUrl}/metrics`);
    return response.text();
  }

  /** The value of a metric sample, e.g. `grove_relay_queue_drops_total{reason="quota"}`. */
  async metric(sample: string): Promise<number> {
    const text = await this.metrics();
    const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
    return line === undefined ? 0 : Number(line.slice(sample.length + 1));
  }
}
