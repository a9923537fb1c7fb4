import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import WebSocket from 'ws';
import {
  ConnectionRefused,
  GroveClient,
  type GroveClientOptions,
  type ReceivedMessage,
} from '../../client/sdk/grove-client.js';
import type { LinkClosed } from '../../client/sdk/link.js';
import { CloseCode } from '../../contracts/errors/close-codes.js';
import { deviceKeys } from '../../contracts/redis/keys.js';
import { freePort, sleep, waitFor } from '../../test/support/ports.js';
import type { RedisServer } from '../../test/support/redis-server.js';
import { tokenFor, type RelayProcess, type TestDomain } from '../../test/support/relay-process.js';
import { startRelayStack, type RelayStack } from '../../test/support/relay-stack.js';

const DOMAIN = 'acme';

describe('delivery guarantees (single Redis, two relays)', () => {
  let stack: RelayStack<RedisServer>;
  let inspect: Redis;
  let relayA: RelayProcess;
  let relayB: RelayProcess;
  let domain: TestDomain;

  /** A started SDK client that records what its application receives. */
  const connect = (
    identity: string,
    device: string,
    relays: string[],
    options: Partial<GroveClientOptions> = {},
  ) => stack.client(identity, device, { relays, ...options });

  const queueLength = (device: string) => inspect.llen(deviceKeys(DOMAIN, device).queue);
  const queueHead = async (device: string) =>
    Number(await inspect.hget(deviceKeys(DOMAIN, device).meta, 'head'));

  beforeAll(async () => {
    stack = await startRelayStack({
      relays: 2,
      seed: {
        [DOMAIN]: {
          identities: {
            alice: ['a1', 'a2'],
            bob: ['b1', 'b2'],
            carol: ['c1'],
            dave: ['d1', 'd2', 'd3', 'd4', 'd5', 'd6', 'd7'],
            erin: ['e1', 'e2'],
            frank: ['f1', 'f2'],
          },
          workspaces: { team: ['alice', 'bob', 'carol'] },
        },
      },
    });
    [relayA, relayB, domain, inspect] = [
      stack.relay(0),
      stack.relay(1),
      stack.domain(),
      stack.inspect,
    ];
  });

  afterAll(async () => {
    await stack.stop();
  });

  it('delivers messages queued while the device was offline exactly once, in queue order', async () => {
    const { client: sender } = await connect('alice', 'a1', [relayA.url]);
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const receipt = await sender.send(['device:d1'], `offline ${i}`);
      expect(receipt).toEqual({ id: receipt.id, recipients: 1, duplicates: 0 });
      ids.push(receipt.id);
    }
    expect(await queueLength('d1')).toBe(20);

    const first = await connect('dave', 'd1', [relayA.url]);
    await waitFor(() => first.got.length >= 20, '20 queued messages');
    expect(first.got.map((m) => m.id)).toEqual(ids);
    expect(first.got.map((m) => m.data.toString())).toEqual(ids.map((_, i) => `offline ${i}`));
    const seqs = first.got.map((m) => m.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(20);
    // The acks reach Redis: the queue empties and its head moves past the last seq.
    await waitFor(async () => (await queueLength('d1')) === 0, 'acks to empty the queue');
    expect(await queueHead('d1')).toBe((seqs.at(-1) ?? 0) + 1);
    await first.client.close();

    // A later connection of the same device gets nothing again.
    const second = await connect('dave', 'd1', [relayB.url]);
    await sleep(300);
    expect(second.got).toEqual([]);
    await second.client.close();
    await sender.close();
  });

  it('redelivers unacked messages after reconnect', async () => {
    const { client: sender } = await connect('alice', 'a1', [relayA.url]);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await sender.send(['device:d2'], `unacked ${i}`)).id);

    // A raw connection reads every message and acknowledges none of them.
    const raw = new WebSocket(`${relayA.url}/v1/connect`);
    const seen: string[] = [];
    raw.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString()) as { t: string; id?: string };
      if (frame.t === 'msg' && frame.id !== undefined) seen.push(frame.id);
    });
    await new Promise((resolve) => raw.once('open', resolve));
    raw.send(JSON.stringify({ t: 'hello', token: await tokenFor(domain, 'dave', 'd2') }));
    await waitFor(() => seen.length === 5, 'raw delivery');
    expect(seen).toEqual(ids);
    raw.close();
    await new Promise((resolve) => raw.once('close', resolve));
    expect(await queueLength('d2')).toBe(5);

    const { client, got } = await connect('dave', 'd2', [relayB.url]);
    await waitFor(() => got.length >= 5, 'redelivery');
    expect(got.map((m) => m.id)).toEqual(ids);
    await waitFor(async () => (await queueLength('d2')) === 0, 'acks');
    await Promise.all([client.close(), sender.close()]);
  });

  it('redelivers a message whose handler failed, keeping queue order, and hands each id over once', async () => {
    const { client: sender } = await connect('alice', 'a1', [relayA.url]);
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push((await sender.send(['device:d3'], `m${i}`)).id);
    const handled: string[] = [];
    let failures = 0;
    const { client } = await connect('dave', 'd3', [relayA.url, relayB.url], {
      onMessage: (message) => {
        if (message.data.toString() === 'm2' && failures === 0) {
          failures++;
          throw new Error('application not ready');
        }
        handled.push(message.id);
      },
    });
    await waitFor(() => handled.length >= 6, 'all six handled after the failure');
    await sleep(200);
    expect(failures).toBe(1);
    expect(handled).toEqual(ids);
    await waitFor(async () => (await queueLength('d3')) === 0, 'acks');
    await Promise.all([client.close(), sender.close()]);
  });

  it('fans a workspace send out to every device of every member except the sending device, acking after every queue has it', async () => {
    const { client: sender } = await connect('alice', 'a1', [relayA.url]);
    const receipt = await sender.send(['workspace:team'], 'to the team');
    expect(receipt).toEqual({ id: receipt.id, recipients: 4, duplicates: 0 });
    // Read right after the ack: each recipient queue already holds the message.
    const lengths = await Promise.all(['a2', 'b1', 'b2', 'c1', 'a1'].map(queueLength));
    expect(lengths).toEqual([1, 1, 1, 1, 0]);

    const recipients = await Promise.all([
      connect('alice', 'a2', [relayB.url]),
      connect('bob', 'b1', [relayA.url]),
      connect('bob', 'b2', [relayB.url]),
      connect('carol', 'c1', [relayA.url]),
    ]);
    await waitFor(() => recipients.every((r) => r.got.length >= 1), 'every recipient');
    await sleep(200);
    for (const { got } of recipients) {
      expect(got.map((m) => m.id)).toEqual([receipt.id]);
      expect(got[0]?.data.toString()).toBe('to the team');
      expect(got[0]?.from).toEqual({ identity: 'alice', device: 'a1' });
    }
    // A second, large send goes out by reference (one stored payload) and arrives intact.
    const big = Buffer.alloc(20_000, 7);
    const second = await sender.send(['workspace:team'], big);
    expect(second.recipients).toBe(4);
    await waitFor(() => recipients.every((r) => r.got.length >= 2), 'the large message everywhere');
    for (const { got } of recipients) {
      expect(got[1]?.id).toBe(second.id);
      expect(got[1]?.data.equals(big)).toBe(true);
    }
    await Promise.all(recipients.map((r) => r.client.close()));
    await sender.close();
  });

  it('never queues a second copy for a retry with the same id, from the same or a fresh client', async () => {
    const first = await connect('alice', 'a1', [relayA.url]);
    const id = 'retry-01';
    expect(await first.client.send(['device:d4'], 'once', { id })).toEqual({
      id,
      recipients: 1,
      duplicates: 0,
    });
    expect(await first.client.send(['device:d4'], 'once', { id })).toEqual({
      id,
      recipients: 1,
      duplicates: 1,
    });
    expect(await queueLength('d4')).toBe(1);
    await first.client.close();

    // A fresh client of the same device (a sender that restarted) on the other relay.
    const fresh = await connect('alice', 'a1', [relayB.url]);
    expect(await fresh.client.send(['device:d4'], 'once', { id })).toEqual({
      id,
      recipients: 1,
      duplicates: 1,
    });
    expect(await queueLength('d4')).toBe(1);

    // Fan-out retries are de-duplicated per recipient too.
    const team = await fresh.client.send(['workspace:team'], 'team once', { id: 'retry-02' });
    expect(team.duplicates).toBe(0);
    const again = await fresh.client.send(['workspace:team'], 'team once', { id: 'retry-02' });
    expect(again).toEqual({
      id: 'retry-02',
      recipients: team.recipients,
      duplicates: team.recipients,
    });

    const receiver = await connect('dave', 'd4', [relayA.url]);
    await waitFor(() => receiver.got.length >= 1, 'delivery');
    await waitFor(async () => (await queueLength('d4')) === 0, 'ack');
    // Even after delivery and ack, a late retry queues nothing.
    expect(await fresh.client.send(['device:d4'], 'once', { id })).toEqual({
      id,
      recipients: 1,
      duplicates: 1,
    });
    await sleep(300);
    expect(receiver.got.map((m) => m.id)).toEqual([id]);
    expect(await queueLength('d4')).toBe(0);
    await Promise.all([receiver.client.close(), fresh.client.close()]);
  });

  it('settles both calls when the application retries a send that is still in flight', async () => {
    const { client: sender } = await connect('alice', 'a1', [relayA.url]);
    const [one, two] = await Promise.all([
      sender.send(['device:d7'], 'twice', { id: 'retry-03' }),
      sender.send(['device:d7'], 'twice', { id: 'retry-03' }),
    ]);
    expect(one).toEqual({ id: 'retry-03', recipients: 1, duplicates: 0 });
    expect(two).toEqual(one);
    expect(await queueLength('d7')).toBe(1);
    await sender.close();
  });

  it('wakes a device connected to another relay pod, and serves an offline device from any pod', async () => {
    const sender = await connect('erin', 'e1', [relayA.url]);
    const online = await connect('frank', 'f1', [relayB.url]);
    const live = await sender.client.send(['device:f1'], 'cross-pod live');
    await waitFor(() => online.got.length >= 1, 'cross-pod wake-up', 3000);
    expect(online.got.map((m) => m.id)).toEqual([live.id]);

    const queued = await sender.client.send(['device:f2'], 'cross-pod queued');
    expect(await queueLength('f2')).toBe(1);
    const offline = await connect('frank', 'f2', [relayB.url]);
    await waitFor(() => offline.got.length >= 1, 'offline delivery on the other pod');
    expect(offline.got.map((m) => m.id)).toEqual([queued.id]);
    // Sends in the other direction (B → A) wake the sender's pod just the same.
    const back = await online.client.send(['device:e1'], 'reply');
    await waitFor(() => sender.got.length >= 1, 'reply delivered on pod A', 3000);
    expect(sender.got.map((m) => m.id)).toEqual([back.id]);
    await Promise.all([sender.client.close(), online.client.close(), offline.client.close()]);
  });

  it('displaces the older connection of a device with close code 4110, across pods', async () => {
    for (const [firstRelay, secondRelay] of [
      [relayA, relayA],
      [relayA, relayB],
    ] as const) {
      const older = await connect('dave', 'd5', [firstRelay.url]);
      const fatal = new Promise<Error>((resolve) => older.client.once('fatal', resolve));
      const closes: number[] = [];
      older.client.on('disconnected', (closed: { code: number }) => closes.push(closed.code));

      const newer = await connect('dave', 'd5', [secondRelay.url]);
      const error = await fatal;
      if (!(error instanceof ConnectionRefused)) throw error;
      expect(error.code).toBe(CloseCode.displaced);
      expect(closes).toEqual([CloseCode.displaced]);

      // The newer connection is the one that receives from now on; the older stays down.
      const { client: sender } = await connect('alice', 'a1', [relayB.url]);
      const receipt = await sender.send(['device:d5'], 'after displacement');
      await waitFor(() => newer.got.length >= 1, 'delivery to the newer connection');
      expect(newer.got.map((m) => m.id)).toEqual([receipt.id]);
      expect(older.got).toEqual([]);
      expect(older.client.connected).toBe(false);
      await Promise.all([newer.client.close(), sender.close(), older.client.close()]);
    }
  });

  it('skips an unreachable relay and stays on WebSocket with the next one', async () => {
    const down = `ws://127.0.0.1:${await freePort()}`;
    const got: ReceivedMessage[] = [];
    const client = new GroveClient({
      relays: [down, relayB.url],
      token: await tokenFor(domain, 'frank', 'f2'),
      backoff: { initialMs: 50, maxMs: 500 },
      onMessage: (message) => {
        got.push(message);
      },
    });
    stack.track(client);
    const closes: LinkClosed[] = [];
    client.on('disconnected', (closed: LinkClosed) => closes.push(closed));
    const welcome = new Promise<{ domain: string }>((resolve) => client.once('connected', resolve));
    await client.start();
    // A refused TCP connection says nothing about WebSocket being blocked on this network:
    // the welcome comes over WebSocket (a long-poll link makes up an empty one).
    expect((await welcome).domain).toBe(DOMAIN);
    expect(closes.map((closed) => closed.transportFailed)).toEqual([false]);
    expect(await relayB.metric('grove_relay_connections{transport="long-poll"}')).toBe(0);
    const { client: sender } = await connect('alice', 'a1', [relayA.url]);
    const receipt = await sender.send(['device:f2'], 'over websocket');
    await waitFor(() => got.length >= 1, 'delivery');
    expect(got.map((m) => m.id)).toEqual([receipt.id]);
    await Promise.all([client.close(), sender.close()]);
  });

  it('never signals a resync to a device that connects while messages for it keep arriving', async () => {
    const { client: sender } = await connect('frank', 'f1', [relayA.url]);
    const stopSending = new AbortController();
    const sends: Promise<unknown>[] = [];
    const sendLoop = (async () => {
      // Under the domain's default send rate (200/s) and frame budget.
      for (let i = 0; !stopSending.signal.aborted && i < 400; i++) {
        sends.push(sender.send(['device:f2'], `m${i}`));
        await sleep(6);
      }
    })();
    const resyncs: string[] = [];
    let epoch: string | undefined;
    try {
      // Connect again and again while wake-ups arrive, each time with the epoch seen last.
      for (let round = 0; round < 15; round++) {
        const { client } = await connect(
          'frank',
          'f2',
          [relayB.url],
          epoch === undefined ? {} : { epoch },
        );
        client.on('resync', (event: { reason: string }) => resyncs.push(event.reason));
        await sleep(20);
        epoch = client.epoch;
        await client.close();
      }
    } finally {
      stopSending.abort();
      await sendLoop;
      await Promise.all(sends);
    }
    expect(resyncs).toEqual([]);
  });

  it('tells a device started with a stale epoch to resync, and not one with the current epoch', async () => {
    const first = await connect('dave', 'd6', [relayA.url]);
    const epoch = first.client.epoch;
    expect(typeof epoch).toBe('string');
    await first.client.close();

    const resyncs: unknown[] = [];
    const current = new GroveClient({
      relays: [relayB.url],
      token: await tokenFor(domain, 'dave', 'd6'),
      ...(epoch === undefined ? {} : { epoch }),
    });
    stack.track(current);
    current.on('resync', (event) => resyncs.push(event));
    await current.start();
    await sleep(100);
    expect(resyncs).toEqual([]);
    await current.close();

    const stale = new GroveClient({
      relays: [relayB.url],
      token: await tokenFor(domain, 'dave', 'd6'),
      epoch: 'stale-epoch',
    });
    stack.track(stale);
    const resync = new Promise((resolve) => stale.once('resync', resolve));
    await stale.start();
    expect(await resync).toEqual({ reason: 'epoch' });
    expect(stale.epoch).toBe(epoch);
    await stale.close();
  });

  it('signals resync to a connected device whose queue was recreated, then delivers into the new queue', async () => {
    const receiver = await connect('erin', 'e2', [relayA.url]);
    const epoch = receiver.client.epoch;
    const resync = new Promise((resolve) => receiver.client.once('resync', resolve));
    // The queue disappears under the connection (as if it had expired in Redis).
    const keys = deviceKeys(DOMAIN, 'e2');
    await inspect.del(keys.meta, keys.queue, keys.ids);
    const { client: sender } = await connect('alice', 'a1', [relayB.url]);
    const receipt = await sender.send(['device:e2'], 'into a new queue');
    expect(await resync).toEqual({ reason: 'epoch' });
    await waitFor(() => receiver.got.length >= 1, 'delivery after resync');
    expect(receiver.got.map((m) => m.id)).toEqual([receipt.id]);
    expect(receiver.client.epoch).not.toBe(epoch);
    await waitFor(async () => (await queueLength('e2')) === 0, 'ack in the new epoch');
    await Promise.all([receiver.client.close(), sender.close()]);
  });
});
