import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ManagerProcess, writeManagerConfig } from '../../test/support/manager-process.js';
import { collectRun, spawnGrove, type CliRun } from '../../test/support/grove-cli.js';
import { freePort, waitFor } from '../../test/support/ports.js';
import { RedisServer } from '../../test/support/redis-server.js';
import {
  makeDomain,
  RelayProcess,
  tokenFor,
  type TestDomain,
} from '../../test/support/relay-process.js';
import {
  generateDeviceKey,
  parseDeviceState,
  writeDeviceState,
  type DeviceState,
} from './device-state.js';
import { ManagerClient } from './manager-client.js';

const ADMIN_TOKEN = 'cli-test-bootstrap-token-0123456789';

type Run = CliRun;

/** The JSON objects of each output line. */
function lines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('grove enroll, --state and grove admin against a real Manager', () => {
  let redis: RedisServer;
  let relay: RelayProcess;
  let manager: ManagerProcess;
  let managerUrl: string;
  let domain: TestDomain;
  let dir: string;
  const running = new Set<ChildProcess>();

  function start(args: string[], env: Record<string, string> = {}): ChildProcess {
    const child = spawnGrove(args, env);
    running.add(child);
    child.once('exit', () => running.delete(child));
    return child;
  }

  /** Runs `grove ARGS` to completion. */
  function grove(args: string[], env: Record<string, string> = {}, timeoutMs = 20_000) {
    return collectRun(start(args, env), args, timeoutMs);
  }

  const adminEnv = () => ({ GROVE_MANAGER_URL: managerUrl, GROVE_ADMIN_TOKEN: ADMIN_TOKEN });
  const admin = (args: string[]) => grove(['admin', ...args], adminEnv());
  const stateOf = (stateDir: string): DeviceState =>
    parseDeviceState(readFileSync(join(stateDir, 'device.json'), 'utf8'), stateDir);

  /** Setup goes through the API in-process: only what a test is about spawns the CLI. */
  async function codeFor(member: string): Promise<string> {
    return (await new ManagerClient(managerUrl, ADMIN_TOKEN).issueCode('acme', member)).code;
  }

  async function enroll(member: string, name: string): Promise<{ state: string; out: Run }> {
    const state = join(dir, name);
    const out = await grove([
      'enroll',
      '--manager',
      managerUrl,
      '--code',
      await codeFor(member),
      '--state',
      state,
      '--name',
      name,
    ]);
    return { state, out };
  }

  /** An enrolled state directory, made by the same functions `grove enroll` uses. */
  async function enrolledState(member: string, name: string): Promise<string> {
    const state = join(dir, name);
    const key = generateDeviceKey();
    const enrolled = await new ManagerClient(managerUrl).enroll({
      code: await codeFor(member),
      publicKey: key.publicJwk.x,
      deviceName: name,
    });
    await writeDeviceState(state, {
      managerUrl,
      domain: enrolled.domain,
      deviceId: enrolled.deviceId,
      identityId: enrolled.identityId,
      relays: enrolled.relays,
      ...key,
      token: enrolled.token,
      tokenExpiresAt: enrolled.tokenExpiresAt,
    });
    return state;
  }

  beforeAll(async () => {
    redis = await RedisServer.start();
    dir = mkdtempSync(join(tmpdir(), 'grove-cli-manager-'));
    domain = await makeDomain('acme');
    const relayPort = await freePort();
    // The Manager signs relay tokens with the domain's key; the relay trusts that same key.
    const configFile = writeManagerConfig({
      redisPort: redis.port,
      domains: [{ domain, relayUrls: [`ws://127.0.0.1:${String(relayPort)}`] }],
    });
    [relay, manager] = await Promise.all([
      RelayProcess.start({
        redis: { url: redis.url, cluster: false },
        domains: [domain],
        port: relayPort,
      }),
      ManagerProcess.start({ configFile, redisUrl: redis.url, bootstrapToken: ADMIN_TOKEN }),
    ]);
    managerUrl = manager.url;
    for (const [id, name] of [
      ['alice', 'Alice'],
      ['bob', 'Bob'],
    ] as const) {
      await new ManagerClient(managerUrl, ADMIN_TOKEN).addMember('acme', { id, displayName: name });
    }
  });

  afterAll(async () => {
    for (const child of running) child.kill('SIGKILL');
    await Promise.all([manager.terminate(), relay.kill9()]);
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('admin members add/list/get round-trip as JSON, lists as JSON lines', async () => {
    const added = await admin([
      'members',
      'add',
      '--domain',
      'acme',
      '--id',
      'carol',
      '--name',
      'Carol C',
      '--email',
      'carol@example.com',
    ]);
    expect([added.code, added.stderr]).toEqual([0, '']);
    expect(lines(added.stdout)).toEqual([
      expect.objectContaining({ id: 'carol', displayName: 'Carol C', email: 'carol@example.com' }),
    ]);
    const [listed, got, audit] = await Promise.all([
      admin(['members', 'list', '--domain', 'acme']),
      admin(['members', 'get', '--domain', 'acme', '--id', 'carol']),
      admin(['audit', '--domain', 'acme', '--action', 'member.create', '--jsonl']),
    ]);
    expect([audit.code, audit.stderr]).toEqual([0, '']);
    const entries = lines(audit.stdout);
    expect(entries.every((entry) => entry['action'] === 'member.create')).toBe(true);
    expect(entries.filter((entry) => JSON.stringify(entry).includes('carol'))).toHaveLength(1);
    expect([listed.code, listed.stderr]).toEqual([0, '']);
    expect(lines(listed.stdout).map((member) => member['id'])).toEqual(['alice', 'bob', 'carol']);
    expect(lines(got.stdout)).toEqual([expect.objectContaining({ id: 'carol', devices: [] })]);
  });

  it('admin reports HTTP errors with the server code (exit 1) and usage errors with exit 2', async () => {
    const [duplicate, wrongToken, missing] = await Promise.all([
      admin(['members', 'add', '--domain', 'acme', '--id', 'alice', '--name', 'A']),
      grove(['admin', 'members', 'list', '--domain', 'acme'], {
        GROVE_MANAGER_URL: managerUrl,
        GROVE_ADMIN_TOKEN: 'not-a-token',
      }),
      admin(['members', 'get', '--domain', 'acme']),
    ]);
    expect(duplicate.code).toBe(1);
    expect(lines(duplicate.stderr)).toMatchObject([{ error: { code: 'ALREADY_EXISTS' } }]);
    expect(wrongToken.code).toBe(1);
    expect(lines(wrongToken.stderr)).toMatchObject([{ error: { code: 'UNAUTHENTICATED' } }]);
    expect(missing.code).toBe(2);
    expect(lines(missing.stderr)).toMatchObject([
      { error: { code: 'USAGE', message: expect.stringContaining('--id') as unknown } },
    ]);
  });

  it('enrolls two devices that exchange a message with --state alone, key kept 0600', async () => {
    const [a, b] = await Promise.all([enroll('alice', 'alice-laptop'), enroll('bob', 'bob-phone')]);
    for (const { out } of [a, b]) expect([out.code, out.stderr]).toEqual([0, '']);
    const [printed] = lines(a.out.stdout);
    expect(printed).toEqual({
      deviceId: expect.stringMatching(/^d-[0-9a-z]{26}$/),
      identityId: 'alice',
      domain: 'acme',
      relays: [relay.url],
    });
    expect(Object.keys(printed ?? {})).toEqual(['deviceId', 'identityId', 'domain', 'relays']);
    expect(statSync(join(a.state, 'device.json')).mode & 0o777).toBe(0o600);
    expect(statSync(a.state).mode & 0o777).toBe(0o700);
    expect(stateOf(a.state)).toMatchObject({ deviceId: printed?.['deviceId'], managerUrl });

    const listener = start(['listen', '--state', b.state, '--count', '1', '--timeout', '15']);
    let heard = '';
    listener.stdout?.on('data', (chunk: Buffer) => (heard += chunk.toString()));
    const listened = new Promise<number | null>((resolve) => listener.once('exit', resolve));
    const sent = await grove([
      'send',
      '--state',
      a.state,
      '--to',
      'identity:bob',
      '--data',
      'hello bob',
    ]);
    expect([sent.code, sent.stderr]).toEqual([0, '']);
    expect(lines(sent.stdout)).toEqual([{ id: expect.any(String), recipients: 1 }]);
    expect(await listened).toBe(0);
    expect(lines(heard)).toEqual([
      expect.objectContaining({
        from: { identity: 'alice', device: printed?.['deviceId'] },
        to: ['identity:bob'],
        data: 'hello bob',
      }),
    ]);
  });

  it('refuses to overwrite an enrolled state without --force; a bad code is the Manager error, exit 1', async () => {
    const existing = await enrolledState('alice', 'alice-phone');
    const before = stateOf(existing);
    const fresh = join(dir, 'never');
    const [again, bad] = await Promise.all([
      grove([
        'enroll',
        '--manager',
        managerUrl,
        '--code',
        await codeFor('alice'),
        '--state',
        existing,
      ]),
      grove([
        'enroll',
        '--manager',
        managerUrl,
        '--code',
        'acme.AAAAAAAAAAAAAAAAAAAAAAAA',
        '--state',
        fresh,
      ]),
    ]);
    expect(again.code).toBe(2);
    expect(lines(again.stderr)).toMatchObject([{ error: { code: 'ALREADY_ENROLLED' } }]);
    expect(stateOf(existing)).toEqual(before);
    expect(bad.code).toBe(1);
    expect(lines(bad.stderr)).toEqual([
      { error: { code: expect.stringMatching(/^CODE_/), message: expect.any(String) } },
    ]);
    expect(() => statSync(join(fresh, 'device.json'))).toThrow();
  });

  it('refreshes through the Manager a token that expired, or that the relay finds expired', async () => {
    const past = Math.floor(Date.now() / 1000) - 3600;
    const [dated, lying] = await Promise.all([
      enrolledState('alice', 'alice-tablet'),
      enrolledState('alice', 'alice-desk'),
    ]);
    const expiredTokens: string[] = [];
    for (const state of [dated, lying]) {
      const before = stateOf(state);
      const expired = await tokenFor(domain, 'alice', before.deviceId, 600, past);
      expiredTokens.push(expired);
      writeFileSync(
        join(state, 'device.json'),
        JSON.stringify({
          ...before,
          token: expired,
          // `dated` knows its token expired; `lying` claims it is fresh, so only the relay's
          // refusal (4103) can make the CLI refresh it.
          tokenExpiresAt:
            state === dated ? new Date((past + 600) * 1000).toISOString() : before.tokenExpiresAt,
        }),
        { mode: 0o600 },
      );
    }
    const runs = await Promise.all(
      [dated, lying].map((state) =>
        grove(['send', '--state', state, '--to', 'identity:bob', '--data', 'x']),
      ),
    );
    for (const run of runs) expect([run.code, run.stderr]).toEqual([0, '']);
    for (const [index, state] of [dated, lying].entries()) {
      const after = stateOf(state);
      expect(after.token).not.toBe(expiredTokens[index]);
      expect(Date.parse(after.tokenExpiresAt)).toBeGreaterThan(Date.now() + 60_000);
      expect(statSync(join(state, 'device.json')).mode & 0o777).toBe(0o600);
    }
  });

  it('revocation ends a running listen --state and refuses the next one, both DEVICE_REVOKED', async () => {
    const state = await enrolledState('bob', 'bob-old');
    const { deviceId } = stateOf(state);
    const live = start(['listen', '--state', state, '--timeout', '20']);
    let liveErr = '';
    live.stderr?.on('data', (chunk: Buffer) => (liveErr += chunk.toString()));
    const liveExit = new Promise<number | null>((resolve) => live.once('exit', resolve));
    const api = new ManagerClient(managerUrl, ADMIN_TOKEN);
    await waitFor(
      async () =>
        (await api.listDevices('acme', { memberId: 'bob' })).some(
          (device) => device.id === deviceId && device.presence === 'active',
        ),
      'the listening device to be online',
      15_000,
      200,
    );
    const revoked = await admin(['devices', 'revoke', '--domain', 'acme', '--id', deviceId]);
    expect([revoked.code, revoked.stderr]).toEqual([0, '']);
    expect(lines(revoked.stdout)).toEqual([
      expect.objectContaining({ id: deviceId, revokedAt: expect.any(String) }),
    ]);
    const [kickedCode, next] = await Promise.all([
      liveExit,
      grove(['listen', '--state', state, '--timeout', '10']),
    ]);
    for (const [code, stderr] of [
      [kickedCode, liveErr],
      [next.code, next.stderr],
    ] as const) {
      expect(code).toBe(1);
      const [error] = lines(stderr);
      expect(error).toMatchObject({ error: { code: 'DEVICE_REVOKED' } });
      expect(String((error?.['error'] as { message?: unknown }).message)).toMatch(/enroll again/);
    }
  });
});
