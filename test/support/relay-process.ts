import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
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
import { isRunning, signalAndWait } from './child-process.js';
import { freePort, waitFor } from './ports.js';

const root = join(fileURLToPath(import.meta.url), '..', '..', '..');

/**
 * The project's Node.js 24 (the `node` devDependency). Spawning it directly, rather than
 * through bin/grove.js's re-exec from an older node, keeps kill -9 aimed at the relay.
 */
export function pinnedNode(): string {
  const pinned = join(root, 'node_modules', 'node', 'bin', 'node');
  return existsSync(pinned) ? pinned : process.execPath;
}

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

/** A real `grove relay` process, started from the CLI with a generated config file. */
export class RelayProcess {
  private constructor(
    readonly port: number,
    readonly podId: string,
    private readonly child: ChildProcess,
    readonly logs: string[],
  ) {}

  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  get httpUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(options: {
    redis: RedisTarget;
    domains: TestDomain[];
    podId?: string;
    port?: number;
    overrides?: Partial<RelayConfigInput>;
  }): Promise<RelayProcess> {
    const port = options.port ?? (await freePort());
    const podId = options.podId ?? `test-${port}`;
    const config: RelayConfigInput = {
      podId,
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
    const dir = mkdtempSync(join(tmpdir(), 'grove-relay-'));
    const file = join(dir, 'relay.json');
    writeFileSync(file, JSON.stringify(config));
    const child = spawn(pinnedNode(), [join(root, 'bin', 'grove.js'), 'relay', '--config', file], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const logs: string[] = [];
    child.stdout.on('data', (chunk: Buffer) => logs.push(chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => logs.push(chunk.toString()));
    const relay = new RelayProcess(port, podId, child, logs);
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`relay exited: ${logs.join('')}`);
        const response = await fetch(`http://127.0.0.1:${port}/readyz`);
        return response.ok;
      },
      `relay on port ${port}`,
      20_000,
    );
    return relay;
  }

  get running(): boolean {
    return isRunning(this.child);
  }

  /** SIGKILL: the relay gets no chance to drain or clean up. */
  async kill9(): Promise<void> {
    await signalAndWait(this.child, 'SIGKILL');
  }

  /** SIGTERM: drain; resolves with the exit code. */
  async terminate(): Promise<number | null> {
    return signalAndWait(this.child, 'SIGTERM');
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
