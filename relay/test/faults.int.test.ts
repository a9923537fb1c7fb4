import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import type {
  GroveClient,
  GroveClientOptions,
  ReceivedMessage,
  SendReceipt,
} from '../../client/sdk/grove-client.js';
import { CloseCode } from '../../contracts/errors/close-codes.js';
import { deviceKeys } from '../../contracts/redis/keys.js';
import { sleep, waitFor } from '../../test/support/ports.js';
import type { RedisServer } from '../../test/support/redis-server.js';
import {
  startRelayStack,
  type AddRelayOptions,
  type RelayStack,
} from '../../test/support/relay-stack.js';

const DOMAIN = 'acme';

/**
 * Sends `count` messages on a timer, without waiting for earlier receipts (as a busy
 * application would), and records which ones the relay acknowledged.
 */
function stream(client: GroveClient, to: string, count: number, intervalMs: number, prefix = 'm') {
  const acked: string[] = [];
  const failed: unknown[] = [];
  const sends: Promise<SendReceipt | undefined>[] = [];
  const done = new Promise<void>((resolve) => {
    let i = 0;
    const timer = setInterval(() => {
      if (i >= count) {
        clearInterval(timer);
        resolve();
        return;
      }
      const n = i++;
      sends.push(
        client.send([to], `stream ${n}`, { id: `${prefix}-${String(n).padStart(4, '0')}` }).then(
          (receipt) => {
            acked.push(receipt.id);
            return receipt;
          },
          (error: unknown) => {
            failed.push(error);
            return undefined;
          },
        ),
      );
    }, intervalMs);
  });
  return {
    acked,
    failed,
    /** Resolves once every send was made and has settled. */
    settled: async () => {
      await done;
      return Promise.all(sends);
    },
  };
}

/** Fails, saying what was awaited, instead of hanging until the test timeout. */
async function within<T>(promise: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not settled after ${ms} ms: ${what()}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Asserts the application saw exactly the acknowledged ids, once each, in queue order. */
function expectExactlyOnce(got: ReceivedMessage[], acked: string[]): void {
  const ids = got.map((m) => m.id);
  expect(ids.length).toBe(new Set(ids).size);
  expect([...ids].sort()).toEqual([...acked].sort());
  const seqs = got.map((m) => m.seq);
  for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1] ?? 0);
}

describe('faults: relay crash, drain and Redis restart lose nothing acknowledged', () => {
  let stack: RelayStack<RedisServer>;
  let redis: RedisServer;
  let inspect: Redis;

  const startRelay = (config: AddRelayOptions['config'] = {}) => stack.addRelay({ config });

  const connect = (
    identity: string,
    device: string,
    relayList: string[],
    options: Partial<GroveClientOptions> = {},
  ) =>
    stack.client(identity, device, {
      relays: relayList,
      backoff: { initialMs: 50, maxMs: 400 },
      ...options,
    });

  const queueLength = (device: string) => inspect.llen(deviceKeys(DOMAIN, device).queue);

  beforeAll(async () => {
    stack = await startRelayStack({
      redis: { appendonly: true },
      relays: 0,
      seed: {
        [DOMAIN]: {
          identities: {
            sender: ['s1', 's2', 's3', 's4', 's5', 's6'],
            receiver: ['r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7', 'r8', 'r9'],
          },
        },
      },
      limits: { [DOMAIN]: { sendRatePerSecond: 5000, sendBurst: 5000 } },
    });
    [redis, inspect] = [stack.redis, stack.inspect];
  });

  afterAll(async () => {
    await stack.stop();
  });

  it('loses nothing acked when the relay holding the receiver is killed with SIGKILL mid-stream', async () => {
    const relayA = await startRelay();
    const relayB = await startRelay();
    const receiver = await connect('receiver', 'r1', [relayA.url, relayB.url]);
    // One sender on the surviving relay, one on the relay that dies (its sends in flight are
    // retried). Both use the same ids: ids are unique per sender, and so is de-duplication.
    const steady = await connect('sender', 's1', [relayB.url]);
    const exposed = await connect('sender', 's2', [relayA.url, relayB.url]);
    const fromSteady = stream(steady.client, 'device:r1', 500, 4);
    const fromExposed = stream(exposed.client, 'device:r1', 200, 10);
    // A long-poll receiver on the same relay: its poll dies with the relay.
    const poller = await connect('receiver', 'r9', [relayA.httpUrl, relayB.httpUrl], {
      transport: 'long-poll',
    });
    const polled = stream(steady.client, 'device:r9', 150, 10, 'p');

    await waitFor(() => fromSteady.acked.length >= 150, '150 acked sends before the crash');
    expect(poller.got.length).toBeGreaterThan(0);
    await relayA.kill9();
    await within(
      Promise.all([fromSteady.settled(), fromExposed.settled(), polled.settled()]),
      20_000,
      () => `pending ${steady.client.pendingSends} + ${exposed.client.pendingSends}`,
    );
    expect(fromSteady.failed).toEqual([]);
    expect(fromExposed.failed).toEqual([]);
    expect(fromSteady.acked).toHaveLength(500);
    expect(fromExposed.acked).toHaveLength(200);
    expect(polled.acked).toHaveLength(150);

    await waitFor(() => receiver.got.length >= 700, 'every acked message at the receiver', 20_000);
    await sleep(300);
    const fromS1 = receiver.got.filter((m) => m.from.device === 's1');
    const fromS2 = receiver.got.filter((m) => m.from.device === 's2');
    expect(fromS1.length + fromS2.length).toBe(receiver.got.length);
    expectExactlyOnce(fromS1, fromSteady.acked);
    expectExactlyOnce(fromS2, fromExposed.acked);
    expect(receiver.closes.length).toBeGreaterThanOrEqual(1);
    expect(receiver.fatal).toEqual([]);
    await waitFor(async () => (await queueLength('r1')) === 0, 'every message acknowledged');
    await waitFor(() => poller.got.length >= 150, 'every acked message at the poller', 20_000);
    await sleep(300);
    expectExactlyOnce(poller.got, polled.acked);
    expect(poller.fatal).toEqual([]);
    await Promise.all([
      receiver.client.close(),
      steady.client.close(),
      exposed.client.close(),
      poller.client.close(),
    ]);
  });

  it('drains on SIGTERM: exits 0 within the grace period, clients move with 4000, nothing lost', async () => {
    const relayA = await startRelay({
      drain: { gracePeriodSeconds: 6, batchSize: 1, batchIntervalMs: 50 },
    });
    const relayB = await startRelay();
    const receiver = await connect('receiver', 'r2', [relayA.url, relayB.url]);
    const poller = await connect('receiver', 'r6', [relayA.httpUrl, relayB.httpUrl], {
      transport: 'long-poll',
    });
    // A poller with nothing to receive sits in a long poll on A when the drain starts.
    const idle = await connect('receiver', 'r7', [relayA.httpUrl, relayB.httpUrl], {
      transport: 'long-poll',
    });
    const sender = await connect('sender', 's3', [relayA.url, relayB.url]);
    const sends = stream(sender.client, 'device:r2', 300, 5);
    const polled = stream(sender.client, 'device:r6', 100, 15, 'p');

    await waitFor(() => sends.acked.length >= 100, '100 acked sends before the drain');
    const started = Date.now();
    const exitCode = await relayA.terminate();
    const took = Date.now() - started;
    expect(exitCode).toBe(0);
    expect(took).toBeLessThan(6000);

    await within(Promise.all([sends.settled(), polled.settled()]), 20_000, () =>
      JSON.stringify({
        acked: [sends.acked.length, polled.acked.length],
        pending: sender.client.pendingSends,
        closes: sender.closes,
      }),
    );
    expect(sends.failed).toEqual([]);
    expect(sends.acked).toHaveLength(300);
    expect(polled.acked).toHaveLength(100);
    await waitFor(() => receiver.got.length >= 300, 'every message at the receiver', 15_000);
    await waitFor(() => poller.got.length >= 100, 'every message at the poller', 15_000);
    await sleep(300);
    expectExactlyOnce(receiver.got, sends.acked);
    expectExactlyOnce(poller.got, polled.acked);
    const late = await within(sender.client.send(['device:r7'], 'after the drain'), 10_000, () =>
      JSON.stringify({ closes: sender.closes, connected: sender.client.connected }),
    );
    await waitFor(() => idle.got.length >= 1, 'the idle poller served by the other relay');
    expect(idle.got.map((m) => m.id)).toEqual([late.id]);
    for (const peer of [receiver, sender]) {
      expect(peer.fatal).toEqual([]);
      expect(peer.closes[0]?.code).toBe(CloseCode.draining);
      expect(peer.client.connected).toBe(true);
    }
    await Promise.all([
      receiver.client.close(),
      sender.client.close(),
      poller.client.close(),
      idle.client.close(),
    ]);
  });

  it('delivers messages whose wake-ups were published while the relay was resubscribing', async () => {
    const relayA = await startRelay();
    const relayB = await startRelay();
    const receiver = await connect('receiver', 'r5', [relayA.url]);
    const poller = await connect('receiver', 'r8', [relayA.httpUrl], { transport: 'long-poll' });
    const sender = await connect('sender', 's6', [relayB.url]);
    const first = await sender.client.send(['device:r5', 'device:r8'], 'before');
    await waitFor(() => receiver.got.length >= 1 && poller.got.length >= 1, 'first delivery');
    // Cut every pub/sub connection (as a Redis failover does); the sockets of the devices stay up.
    await inspect.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    const lost = await sender.client.send(['device:r5', 'device:r8'], 'while resubscribing');
    await waitFor(
      () => receiver.got.length >= 2 && poller.got.length >= 2,
      'delivery without a further wake-up',
      5000,
    );
    expect(receiver.got.map((m) => m.id)).toEqual([first.id, lost.id]);
    expect(poller.got.map((m) => m.id)).toEqual([first.id, lost.id]);
    await Promise.all([receiver.client.close(), sender.client.close(), poller.client.close()]);
  });

  it('loses nothing acked when Redis is killed with SIGKILL and restarted from its AOF', async () => {
    const relayA = await startRelay();
    const relayB = await startRelay();
    // An offline device's backlog, acknowledged before the crash.
    const early = await connect('sender', 's4', [relayA.url]);
    const backlog: string[] = [];
    for (let i = 0; i < 50; i++) {
      backlog.push((await early.client.send(['device:r4'], `backlog ${i}`, { id: `b-${i}` })).id);
    }
    await early.client.close();

    const receiver = await connect('receiver', 'r3', [relayA.url]);
    const sender = await connect('sender', 's5', [relayB.url]);
    const sends = stream(sender.client, 'device:r3', 300, 5);
    await waitFor(() => sends.acked.length >= 80, '80 acked sends before the crash');

    await redis.kill();
    await sleep(200);
    const ackedWhileDown = sends.acked.length;
    await sleep(1300);
    // Sends made while Redis is down are not acknowledged (the SDK keeps retrying them).
    expect(sends.acked.length).toBe(ackedWhileDown);
    expect(sender.client.pendingSends).toBeGreaterThan(0);
    await redis.launch();

    await within(sends.settled(), 20_000, () => `pending ${sender.client.pendingSends}`);
    expect(sends.failed).toEqual([]);
    expect(sends.acked).toHaveLength(300);
    await waitFor(() => receiver.got.length >= 300, 'every message at the receiver', 20_000);
    await sleep(300);
    expectExactlyOnce(receiver.got, sends.acked);
    expect(receiver.fatal).toEqual([]);
    expect(sender.fatal).toEqual([]);

    // The offline backlog survived too.
    expect(await queueLength('r4')).toBe(50);
    const late = await connect('receiver', 'r4', [relayB.url]);
    await waitFor(() => late.got.length >= 50, 'the backlog');
    expect(late.got.map((m) => m.id)).toEqual(backlog);
    await Promise.all([receiver.client.close(), sender.client.close(), late.client.close()]);
  });
});
