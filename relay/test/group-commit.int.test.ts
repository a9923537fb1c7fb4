import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Cluster, Redis } from 'ioredis';
import { SendRefused } from '../../client/sdk/grove-client.js';
import { dedupMember } from '../../contracts/redis/device-queue-scripts.js';
import { deviceKeys } from '../../contracts/redis/keys.js';
import { sleep, waitFor } from '../../test/support/ports.js';
import type { RedisCluster, RedisServer } from '../../test/support/redis-server.js';
import { startRelayStack, type RelayStack } from '../../test/support/relay-stack.js';

// Group commit (relay/store/group-commit.ts): the enqueues and acks that arrive while a
// relay's call is in flight share the next script call. Each send is still acknowledged only
// once its own message is in Redis, and fails or succeeds on its own.

const DOMAIN = 'acme';
const RECEIVERS = Array.from({ length: 10 }, (_, i) => `r${i}`);

/** Script calls (EVAL and EVALSHA) each server has run so far, summed. */
async function scriptCalls(nodes: readonly Redis[]): Promise<number> {
  let calls = 0;
  for (const node of nodes) {
    const stats = await node.info('commandstats');
    for (const match of stats.matchAll(/^cmdstat_(?:eval|evalsha):calls=(\d+)/gm)) {
      calls += Number(match[1]);
    }
  }
  return calls;
}

describe('group commit on a single Redis (appendfsync always)', () => {
  let stack: RelayStack<RedisServer>;
  let inspect: Redis;

  beforeAll(async () => {
    stack = await startRelayStack({
      redis: { appendonly: true },
      relays: 2,
      seed: {
        [DOMAIN]: {
          identities: { sender: ['s1', 's2', 's3', 's4', 's5'], receiver: RECEIVERS },
        },
        tight: {
          identities: { sender: ['s1'], receiver: ['f0', 'f1', 'f2', 'f3', 'f4', 'f5'] },
        },
      },
      limits: {
        [DOMAIN]: { sendRatePerSecond: 100_000, sendBurst: 100_000 },
        tight: {
          sendRatePerSecond: 100_000,
          sendBurst: 100_000,
          maxQueuedMessages: 5,
          queueOverflow: 'rejectNew',
          senderQueueSharePercent: 100,
        },
      },
    });
    inspect = stack.inspect;
  });

  afterAll(async () => {
    await stack.stop();
  });

  it('acknowledges each of 500 concurrent sends only after its message is queued, in far fewer script calls than sends', async () => {
    const receivers = await Promise.all(
      RECEIVERS.slice(0, 5).map((device, i) =>
        stack.client('receiver', device, { relays: [stack.relay(i % 2).url] }),
      ),
    );
    const senders = await Promise.all(
      ['s1', 's2', 's3', 's4', 's5'].map((device, i) =>
        stack.client('sender', device, { relays: [stack.relay(i % 2).url] }),
      ),
    );
    const before = await scriptCalls([inspect]);
    const missingAtAck: string[] = [];
    const sends = senders.flatMap(({ client }, s) =>
      Array.from({ length: 100 }, async (_, i) => {
        const to = RECEIVERS[(s + i) % 5] ?? 'r0';
        const id = `burst-${s}-${i}`;
        const receipt = await client.send([`device:${to}`], `burst ${i}`, { id });
        // The relay answered: the message must be in the recipient's queue (or delivered and
        // acknowledged, which leaves its de-duplication record).
        const score = await inspect.zscore(
          deviceKeys(DOMAIN, to).ids,
          dedupMember(`s${s + 1}`, id),
        );
        if (score === null) missingAtAck.push(id);
        return receipt;
      }),
    );
    const receipts = await Promise.all(sends);
    expect(receipts.every((receipt) => receipt.recipients === 1)).toBe(true);
    expect(missingAtAck).toEqual([]);
    await waitFor(
      () => receivers.reduce((sum, r) => sum + r.got.length, 0) >= 500,
      '500 deliveries',
      20_000,
    );
    for (const receiver of receivers) {
      const ids = receiver.got.map((m) => m.id);
      expect(new Set(ids).size).toBe(ids.length);
    }
    // Every queue emptied by the receivers' acks, which were batched too.
    await waitFor(async () => {
      const lengths = await Promise.all(
        RECEIVERS.slice(0, 5).map((device) => inspect.llen(deviceKeys(DOMAIN, device).queue)),
      );
      return lengths.every((length) => length === 0);
    }, 'every queue acknowledged');
    // 500 enqueues, one script call each without group commit (and the receivers' acks).
    const calls = (await scriptCalls([inspect])) - before;
    expect(calls).toBeLessThan(500);
    await Promise.all([...receivers, ...senders].map(({ client }) => client.close()));
  });

  it("refuses the sends to a full queue with QUEUE_FULL without failing the others' sends in their batch", async () => {
    const { client: sender } = await stack.client('sender', 's1', { domain: 'tight' });
    // f0 offline with a full queue (maxQueuedMessages 5, rejectNew).
    for (let i = 0; i < 5; i++) await sender.send(['device:f0'], 'fill', { id: `fill-${i}` });
    const before = await scriptCalls([inspect]);
    // In one turn, interleaved: 10 to the full queue, 4 to each of five others.
    const outcomes = await Promise.all(
      Array.from({ length: 30 }, (_, i) => {
        const to = i % 3 === 0 ? 'f0' : `f${1 + (i % 5)}`;
        return sender.send([`device:${to}`], `mixed ${i}`, { id: `mixed-${i}` }).then(
          () => [to, 'sent'],
          (error: unknown) => [to, error instanceof SendRefused ? error.code : String(error)],
        );
      }),
    );
    expect(await scriptCalls([inspect])).toBeLessThan(before + 30);
    expect(outcomes.filter(([to]) => to === 'f0').map(([, outcome]) => outcome)).toEqual(
      Array.from({ length: 10 }, () => 'QUEUE_FULL'),
    );
    expect(outcomes.filter(([to]) => to !== 'f0').map(([, outcome]) => outcome)).toEqual(
      Array.from({ length: 20 }, () => 'sent'),
    );
    const lengths = await Promise.all(
      ['f0', 'f1', 'f2', 'f3', 'f4', 'f5'].map((device) =>
        inspect.llen(deviceKeys('tight', device).queue),
      ),
    );
    expect(lengths).toEqual([5, 4, 4, 4, 4, 4]);
    await sender.close();
  });

  it('loses no acknowledged message when Redis is killed with SIGKILL among 500 concurrent sends', async () => {
    const receiver = await stack.client('receiver', 'r9', {
      relays: [stack.relay(0).url],
      backoff: { initialMs: 50, maxMs: 400 },
    });
    const sender = await stack.client('sender', 's5', {
      relays: [stack.relay(1).url],
      backoff: { initialMs: 50, maxMs: 400 },
    });
    const acked: string[] = [];
    const sends = Array.from({ length: 500 }, (_, i) =>
      sender.client.send(['device:r9'], `crash ${i}`, { id: `crash-${i}` }).then((receipt) => {
        acked.push(receipt.id);
        return receipt;
      }),
    );
    await waitFor(() => acked.length >= 50, '50 acked sends before the crash');
    await stack.redis.kill();
    const ackedBeforeCrash = [...acked];
    await sleep(300);
    await stack.redis.launch();
    // The SDK sends the unacknowledged ones again under their ids: all 500 settle.
    await Promise.all(sends);
    expect(acked).toHaveLength(500);
    await waitFor(() => receiver.got.length >= 500, 'every message at the receiver', 30_000);
    await sleep(300);
    const ids = receiver.got.map((m) => m.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual([...acked].sort());
    expect(ids).toEqual(expect.arrayContaining(ackedBeforeCrash));
    await Promise.all([receiver.client.close(), sender.client.close()]);
  });
});

describe('group commit on a Redis Cluster', () => {
  let stack: RelayStack<RedisCluster>;
  let inspect: Cluster;

  beforeAll(async () => {
    stack = await startRelayStack({
      redis: 'cluster',
      relays: 2,
      seed: {
        [DOMAIN]: { identities: { sender: ['s1', 's2', 's3', 's4'], receiver: RECEIVERS } },
      },
      limits: { [DOMAIN]: { sendRatePerSecond: 100_000, sendBurst: 100_000 } },
    });
    inspect = stack.inspect;
  }, 60_000);

  afterAll(async () => {
    await stack.stop();
  });

  it('batches concurrent sends to one device (one slot) and delivers sends to every slot exactly once', async () => {
    const receivers = await Promise.all(
      RECEIVERS.map((device, i) =>
        stack.client('receiver', device, { relays: [stack.relay(i % 2).url] }),
      ),
    );
    const senders = await Promise.all(
      ['s1', 's2', 's3', 's4'].map((device, i) =>
        stack.client('sender', device, { relays: [stack.relay(i % 2).url] }),
      ),
    );
    const masters = inspect.nodes('master');
    const before = await scriptCalls(masters);
    // 400 sends to r0 alone: its keys are one slot, so they share calls.
    await Promise.all(
      senders.flatMap(({ client }) =>
        Array.from({ length: 100 }, (_, i) => client.send(['device:r0'], `to r0 ${i}`)),
      ),
    );
    const first = receivers[0];
    await waitFor(() => (first?.got.length ?? 0) >= 400, '400 messages at r0', 20_000);
    const calls = (await scriptCalls(masters)) - before;
    // 400 enqueues, one call each without group commit (and the receiver's acks).
    expect(calls).toBeLessThan(400);

    // And sends spread over every device (many slots, three masters) each arrive once.
    await Promise.all(
      senders.flatMap(({ client }, s) =>
        RECEIVERS.map((device) => client.send([`device:${device}`], `spread ${s}`)),
      ),
    );
    for (const receiver of receivers) {
      const wanted = receiver === first ? 404 : 4;
      await waitFor(() => receiver.got.length >= wanted, `${wanted} messages`, 20_000);
      const ids = receiver.got.map((m) => m.id);
      expect(new Set(ids).size).toBe(ids.length);
    }
    await sleep(200);
    expect(receivers.map((r) => r.got.length)).toEqual(
      RECEIVERS.map((_, i) => (i === 0 ? 404 : 4)),
    );
    await Promise.all([...receivers, ...senders].map(({ client }) => client.close()));
  });
});
