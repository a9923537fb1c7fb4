// The Manager hands an enrolled device its Domain's relay pools (home first) and the CLI's
// client uses them: with the home pool's relay killed it moves to the failover pool, and
// comes back once the home relay is up again. Real redis-server, relay and Manager processes
// and the grove CLI.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectClient } from '../cli/connect-options.js';
import { ManagerClient } from '../cli/manager-client.js';
import type { PoolSwitch } from '../sdk/pool-rotation.js';
import { runGrove } from '../../test/support/grove-cli.js';
import { ManagerProcess, writeManagerConfig } from '../../test/support/manager-process.js';
import { waitFor } from '../../test/support/ports.js';
import type { RedisServer } from '../../test/support/redis-server.js';
import { makeDomain } from '../../test/support/relay-process.js';
import { startRelayStack, type RelayStack } from '../../test/support/relay-stack.js';

const ADMIN_TOKEN = 'pool-handoff-test-admin-token';

let stack: RelayStack<RedisServer>;
let manager: ManagerProcess;
let dir: string;

beforeAll(async () => {
  const domain = await makeDomain('acme');
  // The Manager writes the directory: the relays only trust the domain.
  stack = await startRelayStack({ domains: [domain], seed: {}, relays: 2 });
  const configFile = writeManagerConfig({
    redisPort: stack.redis.port,
    domains: [{ domain, pools: [[stack.relay(0).url], [stack.relay(1).url]] }],
  });
  manager = await ManagerProcess.start({
    configFile,
    redisUrl: stack.redis.url,
    bootstrapToken: ADMIN_TOKEN,
  });
  await new ManagerClient(manager.url, ADMIN_TOKEN).addMember('acme', {
    id: 'alice',
    displayName: 'Alice',
  });
  dir = mkdtempSync(join(tmpdir(), 'grove-pool-handoff-'));
}, 60_000);

afterAll(async () => {
  await manager.terminate();
  await stack.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('relay pools from the Manager to the CLI', () => {
  it('saves the pools at enrollment and fails over between them and back', async () => {
    const state = join(dir, 'alice');
    const { code } = await new ManagerClient(manager.url, ADMIN_TOKEN).issueCode('acme', 'alice');
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
    const home = stack.relay(0);
    const away = stack.relay(1);
    const saved = JSON.parse(readFileSync(join(state, 'device.json'), 'utf8')) as {
      pools?: string[][];
    };
    expect(saved.pools).toEqual([[home.url], [away.url]]);

    const { client } = await connectClient(
      { state },
      {
        backoff: { initialMs: 50, maxMs: 200 },
        poolFailover: { failoverAfterRounds: 2, homeProbeMs: 200, homeStableProbes: 2 },
      },
    );
    const moves: PoolSwitch[] = [];
    client.on('pool', (move: PoolSwitch) => moves.push(move));
    try {
      await client.start();
      const port = home.port;
      await home.kill9();
      await waitFor(
        () => moves.some((m) => m.to === 1) && client.connected,
        'on the failover pool',
        20_000,
        20,
      );
      await stack.addRelay({ port });
      await waitFor(
        () => moves.some((m) => m.reason === 'home-back') && client.connected,
        'back home',
        20_000,
        20,
      );
      expect(moves.map((m) => m.reason)).toEqual(['unreachable', 'home-back']);
    } finally {
      await client.close();
    }
  }, 60_000);
});
