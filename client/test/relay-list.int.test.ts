// A corrected relay address reaches enrolled devices without waiting for their token to expire:
// at the first failed connect (the SDK asks the Manager again, rate-limited), with `grove
// refresh`, and never by silently overwriting what the user wrote in device.json. Also what the
// CLI says when no relay can be reached, and the id a timed-out send used. Real redis-server,
// relay and Manager processes; a hand-made relay that never acks for the timeout.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocketServer } from 'ws';
import { ManagerClient } from '../cli/manager-client.js';
import { GroveClient } from '../sdk/grove-client.js';
import { runGrove, type CliRun } from '../../test/support/grove-cli.js';
import { ManagerProcess, writeManagerConfig } from '../../test/support/manager-process.js';
import { freePort } from '../../test/support/ports.js';
import type { RedisServer } from '../../test/support/redis-server.js';
import {
  makeDomain,
  seedDirectory,
  tokenFor,
  type RelayProcess,
  type TestDomain,
} from '../../test/support/relay-process.js';
import { startRelayStack, type RelayStack } from '../../test/support/relay-stack.js';

const ADMIN_TOKEN = 'relay-list-test-admin-token';

/** The JSON objects of each output line. */
function lines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

let stack: RelayStack<RedisServer>;
let redis: RedisServer;
let relay: RelayProcess;
let manager: ManagerProcess;
let managerPort: number;
let domain: TestDomain;
let dir: string;
/** A port nothing listens on: the "wrong address" a Manager first hands out. */
let deadUrl: string;

async function startManager(relayUrls: string[]): Promise<ManagerProcess> {
  const configFile = writeManagerConfig({
    redisPort: redis.port,
    domains: [{ domain, relayUrls }],
  });
  return ManagerProcess.start({
    configFile,
    redisUrl: redis.url,
    bootstrapToken: ADMIN_TOKEN,
    port: managerPort,
  });
}

async function enroll(member: string, name: string): Promise<string> {
  const state = join(dir, name);
  const { code } = await new ManagerClient(manager.url, ADMIN_TOKEN).issueCode('acme', member);
  const run = await runGrove([
    'enroll',
    '--manager',
    manager.url,
    '--code',
    code,
    '--state',
    state,
  ]);
  expect([run.code, run.stderr]).toEqual([0, '']);
  return state;
}

const stateOf = (state: string) =>
  JSON.parse(readFileSync(join(state, 'device.json'), 'utf8')) as Record<string, unknown>;

function editState(state: string, change: (value: Record<string, unknown>) => void): void {
  const value = stateOf(state);
  change(value);
  writeFileSync(join(state, 'device.json'), JSON.stringify(value, null, 2), { mode: 0o600 });
}

beforeAll(async () => {
  domain = await makeDomain('acme');
  // The Manager writes the directory: the relay only trusts the domain.
  stack = await startRelayStack({ domains: [domain], seed: {}, relays: 0 });
  redis = stack.redis;
  dir = mkdtempSync(join(tmpdir(), 'grove-relay-list-'));
  deadUrl = `ws://127.0.0.1:${await freePort()}`;
  managerPort = await freePort();
  [relay, manager] = await Promise.all([stack.addRelay(), startManager([deadUrl])]);
  const admin = new ManagerClient(manager.url, ADMIN_TOKEN);
  await admin.addMember('acme', { id: 'alice', displayName: 'Alice' });
  await admin.addMember('acme', { id: 'bob', displayName: 'Bob' });
}, 60_000);

afterAll(async () => {
  await manager.terminate();
  await stack.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('a device enrolled while the Manager handed out a wrong relay address', () => {
  let alice: string;

  beforeAll(async () => {
    alice = await enroll('alice', 'alice');
    expect(stateOf(alice).relays).toEqual([deadUrl]);
    // The administrator corrects the address; the Manager now hands out the real relay.
    await manager.terminate();
    manager = await startManager([relay.url]);
  }, 60_000);

  it('gets the corrected list at its first failed connect, saves it, and sends', async () => {
    const run = await runGrove([
      'send',
      '--state',
      alice,
      '--to',
      'identity:bob',
      '--data',
      'hello',
      '--timeout',
      '20',
    ]);
    expect(run.code).toBe(0);
    expect(lines(run.stdout)).toEqual([expect.objectContaining({ recipients: 0 })]);
    const events = lines(run.stderr);
    expect(events[0]).toMatchObject({
      event: 'unreachable',
      relay: deadUrl,
      attempts: 1,
      code: 'ECONNREFUSED',
    });
    expect(events).toContainEqual(
      expect.objectContaining({
        event: 'relays-updated',
        previous: [deadUrl],
        relays: [relay.url],
      }),
    );
    expect(stateOf(alice).relays).toEqual([relay.url]);
  }, 60_000);

  it('grove refresh says when it replaces a hand edit of relays, keeps relayOverride and other fields', async () => {
    editState(alice, (state) => {
      state.relays = ['ws://edited-by-hand.example:443'];
      state.note = 'mine';
    });
    const refreshed = await runGrove(['refresh', '--state', alice]);
    expect(refreshed.code).toBe(0);
    expect(lines(refreshed.stdout)).toEqual([
      {
        relays: [relay.url],
        using: [relay.url],
        tokenExpiresAt: expect.any(String) as unknown,
        changed: true,
      },
    ]);
    expect(lines(refreshed.stderr)).toEqual([
      expect.objectContaining({
        event: 'relays-updated',
        previous: ['ws://edited-by-hand.example:443'],
        relays: [relay.url],
        message: expect.stringContaining('relayOverride') as unknown,
      }),
    ]);
    expect(stateOf(alice).note).toBe('mine');

    // The user's own list: set by the command, kept by every refresh, used instead.
    const pinned = await runGrove(['refresh', '--state', alice, '--relay-override', relay.httpUrl]);
    expect(lines(pinned.stdout)).toEqual([
      expect.objectContaining({ relayOverride: [relay.httpUrl], using: [relay.httpUrl] }),
    ]);
    const again = await runGrove(['refresh', '--state', alice]);
    expect(lines(again.stdout)).toEqual([
      expect.objectContaining({ relays: [relay.url], using: [relay.httpUrl], changed: false }),
    ]);
    const sent = await runGrove(['send', '--state', alice, '--to', 'identity:bob', '--data', 'x']);
    expect([sent.code, sent.stderr]).toEqual([0, '']);
    const cleared = await runGrove(['refresh', '--state', alice, '--clear-relay-override']);
    expect(lines(cleared.stdout)).toEqual([
      expect.objectContaining({ using: [relay.url], changed: true }),
    ]);
    expect(stateOf(alice)).not.toHaveProperty('relayOverride');
    expect(stateOf(alice).note).toBe('mine');
  }, 60_000);

  it('refuses a relayOverride that is not a relay URL, naming the field', async () => {
    editState(alice, (state) => {
      state.relayOverride = ['not a url'];
    });
    const run = await runGrove(['refresh', '--state', alice]);
    expect(run.code).toBe(1);
    expect(lines(run.stderr)).toEqual([
      {
        error: {
          code: 'STATE_INVALID',
          message: expect.stringContaining('relayOverride.0') as unknown,
        },
      },
    ]);
    editState(alice, (state) => {
      delete state.relayOverride;
    });
  });
});

describe('the SDK', () => {
  it('asks for a new relay list after a failed connect, at most once per interval', async () => {
    await seedDirectory({ url: redis.url, cluster: false }, 'acme', {
      identities: [{ id: 'carol', devices: ['c1'] }],
      workspaces: [],
    });
    let calls = 0;
    const stuck = new GroveClient({
      relays: [deadUrl],
      token: await tokenFor(domain, 'carol', 'c1'),
      backoff: { initialMs: 20, maxMs: 50 },
      relayRefreshIntervalMs: 500,
      refreshRelays: () => {
        calls++;
        return Promise.resolve([deadUrl]);
      },
    });
    void stuck.start().catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 1600));
    const failures = stuck.connectFailures;
    await stuck.close();
    expect(failures[0]?.attempts).toBeGreaterThan(8);
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(calls).toBeLessThanOrEqual(4);

    const healed = new GroveClient({
      relays: [deadUrl],
      token: await tokenFor(domain, 'carol', 'c1'),
      backoff: { initialMs: 20, maxMs: 50 },
      refreshRelays: () => Promise.resolve([relay.url]),
    });
    const changes: string[][] = [];
    healed.on('relays', (list: string[]) => changes.push(list));
    await healed.start();
    expect(healed.relayList).toEqual([relay.url]);
    expect(changes).toEqual([[relay.url]]);
    expect(healed.connectFailures).toEqual([]);
    await healed.close();
  }, 30_000);
});

describe('when no relay can be reached, or none acks', () => {
  const errorOf = (run: CliRun) =>
    (lines(run.stderr).at(-1) as { error: { code: string; message: string; id?: string } }).error;

  it('listen and presence fail with RELAY_UNREACHABLE (exit 3) saying why, even without --count', async () => {
    const token = await tokenFor(domain, 'alice', 'a1');
    const unresolvable = 'wss://grove-no-such-relay.invalid';
    const [listen, presence] = await Promise.all([
      runGrove(['listen', '--relay', unresolvable, '--token', token, '--timeout', '3']),
      runGrove([
        'presence',
        '--relay',
        deadUrl,
        '--token',
        token,
        '--watch',
        'identity:bob',
        '--timeout',
        '3',
      ]),
    ]);
    expect(listen.code).toBe(3);
    expect(errorOf(listen)).toMatchObject({ code: 'RELAY_UNREACHABLE' });
    expect(errorOf(listen).message).toMatch(
      /^no relay reached within 3 s: cannot resolve relay wss:\/\/grove-no-such-relay\.invalid \(.*ENOTFOUND.*; tried \d+ times?\)$/,
    );
    expect(presence.code).toBe(3);
    expect(errorOf(presence).message).toContain(
      `cannot reach relay ${deadUrl} (connect ECONNREFUSED`,
    );
  }, 30_000);

  it("send's timeout advice names the id it used, given or generated", async () => {
    // A relay that welcomes every device and never acknowledges a send.
    const silent = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(silent, 'listening');
    silent.on('connection', (socket) => {
      socket.on('message', (data: Buffer) => {
        const frame = JSON.parse(data.toString()) as { t: string };
        if (frame.t === 'hello') {
          socket.send(
            JSON.stringify({
              t: 'welcome',
              epoch: 'e1',
              head: 1,
              drops: 0,
              resync: false,
              domain: 'acme',
              identity: 'alice',
              device: 'a1',
              limits: {},
            }),
          );
        }
      });
    });
    const address = silent.address();
    const url = `ws://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
    try {
      const base = ['send', '--relay', url, '--token', 'a.b.c', '--to', 'device:b1', '--data', 'x'];
      const [given, generated] = await Promise.all([
        runGrove([...base, '--id', 'my-id-42', '--timeout', '2']),
        runGrove([...base, '--timeout', '2']),
      ]);
      expect(given.code).toBe(3);
      expect(errorOf(given)).toEqual({
        code: 'TIMEOUT',
        message: 'no durable ack within 2 s; retry with --id my-id-42 to avoid a duplicate',
        id: 'my-id-42',
      });
      const error = errorOf(generated);
      expect(error.id).toMatch(/^[0-9A-Z]{26}$/);
      expect(error.message).toBe(
        `no durable ack within 2 s; retry with --id ${error.id ?? ''} to avoid a duplicate`,
      );
    } finally {
      silent.close();
    }
  }, 30_000);
});
