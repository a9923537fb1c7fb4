import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateDeviceKey } from '../../client/cli/device-state.js';
import { ManagerClient } from '../../client/cli/manager-client.js';
import { GroveClient, type ReceivedMessage } from '../../client/sdk/grove-client.js';
import { BridgeProcess } from '../../test/support/bridge-process.js';
import { ManagerProcess, writeManagerConfig } from '../../test/support/manager-process.js';
import { freePort } from '../../test/support/ports.js';
import { RedisServer } from '../../test/support/redis-server.js';
import { makeDomain, RelayProcess, type TestDomain } from '../../test/support/relay-process.js';
import { stopAll } from '../../test/support/service-process.js';
import { BridgeTokens, type DeviceKey } from '../process/device-credentials.js';

export const ADMIN_TOKEN = 'bridge-test-bootstrap-token-0123456789';
export const PASSWORD = 'the archive password of the tests';

/** An enrolled member device with an SDK client that records what it receives. */
export interface MemberDevice {
  key: DeviceKey;
  client: GroveClient;
  got: ReceivedMessage[];
}

/**
 * What the bridge's integration tests run against: Redis, two relays, the Manager (local
 * mode), a domain `acme` with members, workspaces, an enrolled bridge device (its key file)
 * and the archive password file. Each test starts bridges with `startBridge`.
 */
export class BridgeWorld {
  readonly bridges: BridgeProcess[] = [];
  private readonly clients: GroveClient[] = [];

  private constructor(
    readonly dir: string,
    readonly redis: RedisServer,
    readonly domain: TestDomain,
    readonly relays: RelayProcess[],
    readonly manager: ManagerProcess,
    readonly admin: ManagerClient,
  ) {}

  get passwordFile(): string {
    return join(this.dir, 'password');
  }

  static async start(options: {
    workspaces: Record<string, string[]>;
    members: string[];
  }): Promise<BridgeWorld> {
    const dir = mkdtempSync(join(tmpdir(), 'grove-bridge-world-'));
    const redis = await RedisServer.start();
    const domain = await makeDomain('acme');
    const ports = [await freePort(), await freePort()];
    const configFile = writeManagerConfig({
      redisPort: redis.port,
      domains: [{ domain, relayUrls: ports.map((port) => `ws://127.0.0.1:${port}`) }],
    });
    const [relayA, relayB, manager] = await Promise.all([
      RelayProcess.start({
        redis: { url: redis.url, cluster: false },
        domains: [domain],
        port: ports[0],
      }),
      RelayProcess.start({
        redis: { url: redis.url, cluster: false },
        domains: [domain],
        port: ports[1],
      }),
      ManagerProcess.start({ configFile, redisUrl: redis.url, bootstrapToken: ADMIN_TOKEN }),
    ]);
    const admin = new ManagerClient(manager.url, ADMIN_TOKEN);
    for (const id of options.members) await admin.addMember('acme', { id, displayName: id });
    for (const [id, members] of Object.entries(options.workspaces)) {
      await admin.createWorkspace('acme', { id, name: id, members });
    }
    writeFileSync(join(dir, 'password'), `${PASSWORD}\n`, { mode: 0o600 });
    return new BridgeWorld(dir, redis, domain, [relayA, relayB], manager, admin);
  }

  /** Enrolls a device of `member` and returns its key (what the bridge's key file holds). */
  async enroll(member: string, name: string): Promise<DeviceKey> {
    const key = generateDeviceKey();
    const { code } = await this.admin.issueCode('acme', member);
    const enrolled = await new ManagerClient(this.manager.url).enroll({
      code,
      publicKey: key.publicJwk.x,
      deviceName: name,
    });
    return {
      managerUrl: this.manager.url,
      domain: enrolled.domain,
      deviceId: enrolled.deviceId,
      identityId: enrolled.identityId,
      privateJwk: key.privateJwk,
    };
  }

  /** A key file of a freshly enrolled device of `member` (mode 0600). */
  async keyFile(member: string, name: string): Promise<string> {
    const file = join(this.dir, `${name}.json`);
    writeFileSync(file, JSON.stringify(await this.enroll(member, name)), { mode: 0o600 });
    return file;
  }

  /** An SDK client of a new device of `member`, started, recording what it receives. */
  async device(member: string, name: string): Promise<MemberDevice> {
    const key = await this.enroll(member, name);
    const tokens = new BridgeTokens(key);
    const got: ReceivedMessage[] = [];
    const client = new GroveClient({
      relays: this.relays.map((relay) => relay.url),
      token: () => tokens.current(),
      backoff: { initialMs: 50, maxMs: 500 },
      onMessage: (message) => {
        got.push(message);
      },
    });
    this.clients.push(client);
    await client.start();
    return { key, client, got };
  }

  async startBridge(
    args: string[],
    options: { waitReady?: boolean; env?: Record<string, string> } = {},
  ): Promise<BridgeProcess> {
    const bridge = await BridgeProcess.start({
      args: ['--password-file', this.passwordFile, ...args],
      ...options,
    });
    this.bridges.push(bridge);
    return bridge;
  }

  async stop(): Promise<void> {
    await stopAll(
      () => Promise.all(this.clients.map((client) => client.close())),
      () => Promise.all(this.bridges.map((bridge) => bridge.kill9())),
      () => this.manager.terminate(),
      () => Promise.all(this.relays.map((relay) => relay.kill9())),
      () => this.redis.stop(),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }
}
