import { generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { domainKeyFile } from '../../local/domain-keys.js';
import { tokenChallengeText } from '../../contracts/auth/token-challenge.js';
import type { TestDomain } from './relay-process.js';
import { groveCommand, ServiceProcess, type StartOptions } from './service-process.js';

export interface ManagerDomainOptions {
  domain: TestDomain;
  /** Relay URLs of the domain's (single) pool; a placeholder when it has no relay. */
  relayUrls?: string[];
  /** Several pools instead (home first), each its relay URLs, all on the same Redis. */
  pools?: string[][];
  tokenTTLSeconds?: number;
  labels?: Record<string, string>;
}

export interface ManagerPolicyOptions {
  name: string;
  priority?: number;
  /** Selects every domain when omitted. */
  domainSelector?: { matchLabels: Record<string, string> };
  relay?: Record<string, number>;
  identity?: { contactSearch?: boolean; backupIntervalHours?: number };
  device?: { requirePassword?: boolean; lockoutAttempts?: number };
}

/**
 * Writes a local config file for the Manager (Domains, Policies, one RelayPool per domain, a
 * LocalStack) and the domains' signing keys into its data folder, so relays started with the
 * same TestDomain keys verify the tokens the Manager issues.
 */
export function writeManagerConfig(options: {
  redisPort: number;
  domains: ManagerDomainOptions[];
  policies?: ManagerPolicyOptions[];
}): string {
  const dir = mkdtempSync(join(tmpdir(), 'grove-manager-'));
  const dataDir = join(dir, 'data');
  const docs: unknown[] = [];
  for (const d of options.domains) {
    const name = d.domain.name;
    const pools = (d.pools ?? [d.relayUrls ?? ['ws://127.0.0.1:9']]).map((urls, i) => ({
      name: i === 0 ? `pool-${name}` : `pool-${name}-${i}`,
      urls,
    }));
    docs.push({
      apiVersion: 'grove.dev/v1alpha1',
      kind: 'Domain',
      metadata: { name, labels: d.labels ?? {} },
      spec: {
        displayName: `Domain ${name}`,
        relayPools: pools.map((pool) => pool.name),
        tokenTTLSeconds: d.tokenTTLSeconds ?? 3600,
      },
    });
    for (const pool of pools) {
      docs.push({
        apiVersion: 'grove.dev/v1alpha1',
        kind: 'RelayPool',
        metadata: { name: pool.name },
        spec: {
          publicUrls: pool.urls,
          redis: { external: { url: `redis://127.0.0.1:${options.redisPort}` } },
        },
      });
    }
    const keyFile = domainKeyFile(dataDir, name);
    mkdirSync(join(keyFile, '..'), { recursive: true });
    writeFileSync(keyFile, JSON.stringify([d.domain.key]), { mode: 0o600 });
  }
  for (const p of options.policies ?? []) {
    docs.push({
      apiVersion: 'grove.dev/v1alpha1',
      kind: 'Policy',
      metadata: { name: p.name },
      spec: {
        priority: p.priority ?? 0,
        domainSelector: p.domainSelector ?? {},
        ...(p.relay === undefined ? {} : { relay: p.relay }),
        ...(p.identity === undefined ? {} : { identity: p.identity }),
        ...(p.device === undefined ? {} : { device: p.device }),
      },
    });
  }
  const [first] = options.domains;
  docs.push({
    apiVersion: 'grove.dev/v1alpha1',
    kind: 'LocalStack',
    metadata: { name: 'test' },
    spec: {
      dataDir,
      relayPool: `pool-${first?.domain.name ?? 'none'}`,
      redis: { port: options.redisPort },
      // Not started: the Manager only reads the config.
      relays: [{ name: 'unused', port: options.redisPort === 1 ? 2 : 1 }],
    },
  });
  const file = join(dir, 'grove.yaml');
  // JSON is YAML: one document per object.
  writeFileSync(file, docs.map((doc) => JSON.stringify(doc)).join('\n---\n'));
  return file;
}

export interface ApiAnswer<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

export interface ManagerStartOptions {
  configFile?: string;
  kubeconfig?: string;
  namespace?: string;
  redisUrl?: string;
  bootstrapToken?: string;
  /** A free port when omitted. */
  port?: number;
  args?: string[];
  env?: Record<string, string>;
}

/** A real `grove manager` process, started from the CLI in local mode. */
export class ManagerProcess {
  private constructor(
    readonly port: number,
    readonly bootstrapToken: string,
    readonly process: ServiceProcess,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Local mode with `configFile`, or cluster mode with `kubeconfig` (then `redisUrl` is required). */
  static async start(options: ManagerStartOptions): Promise<ManagerProcess> {
    const bootstrapToken = options.bootstrapToken ?? `boot-${randomBytes(16).toString('hex')}`;
    const launch = (port: number): StartOptions => ({
      name: `manager on port ${port}`,
      ...groveCommand([
        'manager',
        '--port',
        String(port),
        '--host',
        '127.0.0.1',
        ...(options.configFile === undefined ? [] : ['--config', options.configFile]),
        ...(options.kubeconfig === undefined ? [] : ['--kubeconfig', options.kubeconfig]),
        ...(options.namespace === undefined ? [] : ['--namespace', options.namespace]),
        ...(options.redisUrl === undefined ? [] : ['--redis', options.redisUrl]),
        // Many Managers share this host: each takes a free metrics port (read back from its log).
        ...(options.args?.includes('--metrics-port') === true ? [] : ['--metrics-port', '0']),
        ...(options.args ?? []),
      ]),
      env: { GROVE_BOOTSTRAP_TOKEN: bootstrapToken, ...options.env },
      ready: async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok,
    });
    const { service, port } =
      options.port === undefined
        ? await ServiceProcess.startOnFreePort(launch)
        : { service: await ServiceProcess.start(launch(options.port)), port: options.port };
    return new ManagerProcess(port, bootstrapToken, service);
  }

  get running(): boolean {
    return this.process.running;
  }

  async kill9(): Promise<void> {
    await this.process.kill9();
  }

  /** SIGTERM; resolves with the exit code. */
  async terminate(): Promise<number | null> {
    return this.process.terminate();
  }

  /** Where this Manager serves /metrics (its own port, from the "manager listening" log). */
  get metricsUrl(): string {
    for (const line of this.process.lines) {
      if (!line.startsWith('{')) continue;
      const entry = JSON.parse(line) as { message?: unknown; metricsAddress?: unknown };
      if (entry.message === 'manager listening' && typeof entry.metricsAddress === 'string') {
        return `http://${entry.metricsAddress.replace(/^0\.0\.0\.0:/, '127.0.0.1:')}/metrics`;
      }
    }
    throw new Error('the Manager has not logged its metrics address');
  }

  /** Its Prometheus text, read from the metrics port. */
  async metrics(): Promise<string> {
    return (await fetch(this.metricsUrl)).text();
  }

  /** One JSON request; the token defaults to the bootstrap (server-admin) token. */
  async api<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    token: string | null = this.bootstrapToken,
  ): Promise<ApiAnswer<T>> {
    const headers: Record<string, string> = {};
    if (token !== null) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${this.url}${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, body: parsed as T, headers: response.headers };
  }
}

/** A device's Ed25519 key pair, as `grove enroll` keeps it, with the challenge signing of /v1/token. */
export class DeviceKey {
  private constructor(
    private readonly privateKey: KeyObject,
    readonly publicKey: string,
  ) {}

  static generate(): DeviceKey {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const jwk = publicKey.export({ format: 'jwk' });
    if (jwk.x === undefined) throw new Error('no public key');
    return new DeviceKey(privateKey, jwk.x);
  }

  /** A /v1/token body; `timestamp` and `nonce` can be forced to test refusals. */
  challenge(
    domain: string,
    deviceId: string,
    options: { timestamp?: string; nonce?: string } = {},
  ): { domain: string; deviceId: string; timestamp: string; nonce: string; signature: string } {
    const timestamp = options.timestamp ?? new Date().toISOString();
    const nonce = options.nonce ?? randomBytes(18).toString('base64url');
    const message = tokenChallengeText({ domain, deviceId, timestamp, nonce });
    const signature = sign(null, Buffer.from(message, 'utf8'), this.privateKey).toString(
      'base64url',
    );
    return { domain, deviceId, timestamp, nonce, signature };
  }
}

export { stopAll } from './service-process.js';
