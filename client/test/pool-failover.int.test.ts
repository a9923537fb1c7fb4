// A Domain served by two relay pools that share its store: devices whose home pool goes away
// (every relay killed under traffic) move to the failover pool and keep sending and receiving,
// lose nothing, and come back once the home pool is up again; a pool on another store that
// answers 4104 is passed over, not fatal. Real redis-server and relay processes, SDK clients.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { GroveClient } from '../sdk/grove-client.js';
import type { PoolSwitch } from '../sdk/pool-rotation.js';
import { sleep, waitFor } from '../../test/support/ports.js';
import type { RedisServer } from '../../test/support/redis-server.js';
import { startRelayStack, type RelayStack } from '../../test/support/relay-stack.js';

const SENDERS = ['s1', 's2', 's3'];
const RECEIVERS = ['r1', 'r2', 'r3'];
const FAILOVER = { failoverAfterRounds: 2, homeProbeMs: 300, homeStableProbes: 3 };

let stack: RelayStack<RedisServer>;
/** Relays on a store of their own that trusts the domain but has no directory for it. */
let otherStore: RelayStack<RedisServer>;

beforeAll(async () => {
  const identities: Record<string, string[]> = {};
  for (const device of [...SENDERS, ...RECEIVERS]) identities[device] = [device];
  // relays 0 and 1: the home pool; 2 and 3: the failover pool; one Redis.
  stack = await startRelayStack({ relays: 4, seed: { acme: { identities } } });
  otherStore = await startRelayStack({ relays: 1, seed: {}, domains: [stack.domain('acme')] });
}, 120_000);

afterAll(async () => {
  await stack.stop();
  await otherStore.stop();
});

const homeUrls = () => [stack.relay(0).url, stack.relay(1).url];
const awayUrls = () => [stack.relay(2).url, stack.relay(3).url];

describe('relay pool failover in the SDK', () => {
  it('passes over a pool that does not know the device (4104) while another pool is left', async () => {
    const moves: PoolSwitch[] = [];
    const { client, fatal } = await stack.client('r1', 'r1', {
      pools: [[otherStore.relay().url], homeUrls()],
      poolFailover: FAILOVER,
      start: false,
    });
    client.on('pool', (move: PoolSwitch) => moves.push(move));
    await client.start();
    expect(moves).toEqual([expect.objectContaining({ from: 0, to: 1, reason: 'unknown-device' })]);
    expect(fatal).toEqual([]);
    await client.close();

    // Every pool refusing it: fatal, as with one relay.
    const { client: lost } = await stack.client('r1', 'r1', {
      pools: [[otherStore.relay().url], [otherStore.relay().url]],
      start: false,
    });
    await expect(lost.start()).rejects.toThrow(/AUTH_UNKNOWN_DEVICE/);
  }, 30_000);

  it('moves devices to the failover pool when every home relay dies under traffic, with no loss, and brings them home', async () => {
    const received = new Map<string, Set<string>>();
    const clients: {
      device: string;
      client: GroveClient;
      moves: (PoolSwitch & { at: number })[];
    }[] = [];
    const make = async (device: string) => {
      const got = new Set<string>();
      received.set(device, got);
      const { client } = await stack.client(device, device, {
        pools: [homeUrls(), awayUrls()],
        poolFailover: FAILOVER,
        start: false,
        onMessage: (message) => {
          got.add(message.id);
        },
      });
      const entry = { device, client, moves: [] as (PoolSwitch & { at: number })[] };
      client.on('pool', (move: PoolSwitch) => entry.moves.push({ ...move, at: Date.now() }));
      clients.push(entry);
      await client.start();
      return client;
    };
    for (const device of RECEIVERS) await make(device);
    const senders: GroveClient[] = [];
    for (const device of SENDERS) senders.push(await make(device));

    const acked: { id: string; to: string; at: number }[] = [];
    let sending = true;
    let counter = 0;
    const loops = senders.map(async (client, i) => {
      const to = RECEIVERS[i] ?? 'r1';
      while (sending) {
        const id = `p-${i}-${String(counter++).padStart(6, '0')}`;
        await client.send([`device:${to}`], id, { id });
        acked.push({ id, to, at: Date.now() });
        await sleep(5);
      }
    });

    await sleep(1500);
    const homePorts = [stack.relay(0).port, stack.relay(1).port];
    const killedAt = Date.now();
    await Promise.all([stack.relay(0).kill9(), stack.relay(1).kill9()]);
    await waitFor(
      () => clients.every((c) => c.moves.some((m) => m.to === 1)),
      'every device on the failover pool',
      30_000,
      20,
    );
    const movedAt = Math.max(...clients.map((c) => c.moves.find((m) => m.to === 1)?.at ?? 0));
    await waitFor(() => acked.some((a) => a.at > movedAt), 'a send acknowledged there', 30_000, 20);
    await sleep(1500);

    const restartedAt = Date.now();
    let relaunchedAt = 0;
    for (const port of homePorts) {
      await stack.addRelay({ port });
      // Devices may come back as soon as one home relay is ready.
      if (relaunchedAt === 0) relaunchedAt = Date.now();
    }
    await waitFor(
      () => clients.every((c) => c.moves.some((m) => m.reason === 'home-back')),
      'every device back on the home pool',
      30_000,
      20,
    );
    const homeAt = Math.max(
      ...clients.map((c) => c.moves.find((m) => m.reason === 'home-back')?.at ?? 0),
    );
    await waitFor(
      () => acked.some((a) => a.at > homeAt),
      'a send acknowledged at home',
      30_000,
      20,
    );
    await sleep(1000);
    sending = false;
    await Promise.all(loops);

    const delivered = () => acked.filter((a) => received.get(a.to)?.has(a.id) === true).length;
    await waitFor(
      () => delivered() === acked.length,
      'every acknowledged message delivered',
      30_000,
    ).catch(() => undefined);
    const lost = acked.filter((a) => received.get(a.to)?.has(a.id) !== true);
    // The longest time no send was acknowledged after the kill.
    const times = [killedAt, ...acked.map((a) => a.at).filter((at) => at >= killedAt)];
    let outageMs = 0;
    for (let i = 1; i < times.length; i++) {
      outageMs = Math.max(outageMs, (times[i] ?? 0) - (times[i - 1] ?? 0));
    }
    const report = {
      acked: acked.length,
      delivered: delivered(),
      lost: lost.length,
      longestGapWithoutAckMs: outageMs,
      allMovedAwayMs: movedAt - killedAt,
      firstHomeRelayReadyMs: relaunchedAt - restartedAt,
      allBackHomeAfterFirstHomeRelayReadyMs: homeAt - relaunchedAt,
    };
    console.log(`home pool killed under traffic: ${JSON.stringify(report)}`);
    expect(lost.map((a) => a.id)).toEqual([]);
    // Each device moved away once and came back once: no flapping.
    for (const c of clients) {
      expect(c.moves.map((m) => m.reason)).toEqual(['unreachable', 'home-back']);
    }
  }, 120_000);
});
