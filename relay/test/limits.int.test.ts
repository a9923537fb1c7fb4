import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import WebSocket from 'ws';
import { GroveClient, SendRefused, type ReceivedMessage } from '../../client/sdk/grove-client.js';
import type { RelayLimits } from '../../crds/relay-limits.js';
import { deviceKeys } from '../../contracts/redis/keys.js';
import { sleep, waitFor } from '../../test/support/ports.js';
import { tokenFor, type RelayProcess, type TestDomain } from '../../test/support/relay-process.js';
import { startRelayStack, type RelayStack } from '../../test/support/relay-stack.js';
import { RawClient } from '../../test/support/raw-client.js';

const base64Of = (bytes: number) => Buffer.alloc(bytes, 0x61).toString('base64');

describe('relay limits', () => {
  let stack: RelayStack;
  let relay: RelayProcess;
  const raws: RawClient[] = [];

  const domainOf = (name: string): TestDomain => stack.domain(name);

  async function sdk(
    domain: string,
    identity: string,
    device: string,
    onMessage?: (message: ReceivedMessage) => void,
  ): Promise<GroveClient> {
    const client = new GroveClient({
      relays: [relay.url],
      token: await tokenFor(domainOf(domain), identity, device),
      transport: 'websocket',
      ...(onMessage === undefined ? {} : { onMessage }),
    });
    stack.track(client);
    return client;
  }

  async function raw(domain: string, identity: string, device: string): Promise<RawClient> {
    const client = await RawClient.hello(relay, await tokenFor(domainOf(domain), identity, device));
    raws.push(client);
    return client;
  }

  const drops = (reason: 'quota' | 'expired') =>
    relay.metric(`grove_relay_queue_drops_total{reason="${reason}"}`);

  beforeAll(async () => {
    const limits: Record<string, Partial<RelayLimits>> = {
      size: { maxMessageBytes: 1000 },
      // One sender fills these queues: no per-sender share (mailbox-share.int.test.ts has it).
      quota: { maxQueuedMessages: 3, senderQueueSharePercent: 100 },
      qbytes: { maxMessageBytes: 1000, maxQueuedBytes: 2000, senderQueueSharePercent: 100 },
      ttl: {},
      window: { maxInFlight: 5 },
      rate: { sendRatePerSecond: 10, sendBurst: 2 },
      // Slow enough that no token comes back during the test, however slow the machine.
      slowrate: { sendRatePerSecond: 0.5, sendBurst: 2 },
      slow: {},
    };
    const members = { identities: { alice: ['a1'], bob: ['b1', 'b2', 'b3'] } };
    stack = await startRelayStack({
      seed: Object.fromEntries(Object.keys(limits).map((name) => [name, members])),
      limits,
      relayConfig: { connection: { maxBufferedBytes: 65536, slowConsumerTimeoutMs: 1000 } },
    });
    relay = stack.relay();
  });

  afterAll(async () => {
    for (const client of raws) client.close();
    await stack.stop();
  });

  describe('message size (maxMessageBytes)', () => {
    it('refuses one byte over the limit with MESSAGE_TOO_LARGE and keeps the connection usable', async () => {
      const alice = await raw('size', 'alice', 'a1');
      alice.send({ t: 'send', id: 'big', to: ['device:b1'], data: base64Of(1001) });
      const error = await alice.next('error');
      expect(error).toMatchObject({ t: 'error', id: 'big', code: 'MESSAGE_TOO_LARGE' });
      expect(error['message']).toBe("message is 1001 bytes; this domain's limit is 1000");
      alice.send({ t: 'send', id: 'fits', to: ['device:b1'], data: base64Of(1000) });
      expect(await alice.next('sent')).toEqual({
        t: 'sent',
        id: 'fits',
        recipients: 1,
        duplicates: 0,
      });
      expect(alice.ws.readyState).toBe(WebSocket.OPEN);
      expect(alice.of('error')).toHaveLength(1);
    });

    it('makes the SDK reject an oversized send as refused, without retrying it', async () => {
      const alice = await sdk('size', 'alice', 'a1');
      await alice.start();
      const refused = alice.send(['device:b1'], Buffer.alloc(1001));
      await expect(refused).rejects.toBeInstanceOf(SendRefused);
      await expect(refused).rejects.toMatchObject({ code: 'MESSAGE_TOO_LARGE' });
      expect(alice.pendingSends).toBe(0);
      await expect(alice.send(['device:b1'], Buffer.alloc(1000))).resolves.toMatchObject({
        recipients: 1,
      });
    });

    it('answers an oversized long-poll send with 413 and the error body', async () => {
      const token = await tokenFor(domainOf('size'), 'alice', 'a1');
      const post = (data: string) =>
        fetch(`${relay.httpUrl}/v1/poll/send`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ id: `lp-${data.length}`, to: ['device:b1'], data }),
        });
      const tooLarge = await post(base64Of(1001));
      expect(tooLarge.status).toBe(413);
      expect(await tooLarge.json()).toEqual({
        error: {
          code: 'MESSAGE_TOO_LARGE',
          message: "message is 1001 bytes; this domain's limit is 1000",
        },
      });
      const fits = await post(base64Of(1000));
      expect(fits.status).toBe(200);
      expect(await fits.json()).toEqual({ id: 'lp-1336', recipients: 1, duplicates: 0 });
    });
  });

  describe('queue length and bytes per device', () => {
    it('drops the oldest beyond maxQueuedMessages, counts it, and tells the device at connect', async () => {
      const before = await drops('quota');
      const alice = await sdk('quota', 'alice', 'a1');
      await alice.start();
      for (let i = 1; i <= 5; i++) await alice.send(['device:b1'], `m${i}`, { id: `quota-${i}` });
      expect((await drops('quota')) - before).toBe(2);

      const got: string[] = [];
      const resyncs: string[] = [];
      const bob = await sdk('quota', 'bob', 'b1', (m) => got.push(m.id));
      bob.on('resync', (event: { reason: string }) => resyncs.push(event.reason));
      await bob.start();
      await waitFor(() => got.length === 3, 'three queued messages');
      await waitFor(() => resyncs.length > 0, 'a resync event');
      expect(got).toEqual(['quota-3', 'quota-4', 'quota-5']);
      expect(resyncs).toEqual(['dropped']);
    });

    it('signals drops again at the next connect until the device acknowledged past the signal', async () => {
      const alice = await sdk('quota', 'alice', 'a1');
      await alice.start();
      for (let i = 1; i <= 4; i++) await alice.send(['device:b3'], `m${i}`, { id: `again-${i}` });
      const first = await raw('quota', 'bob', 'b3');
      await first.next('msg', 2);
      expect(first.of('resync')).toEqual([
        { t: 'resync', reason: 'dropped', epoch: expect.any(String), drops: 1 },
      ]);
      first.close();
      await first.closed;

      const second = await raw('quota', 'bob', 'b3');
      await second.next('msg', 2);
      expect(second.of('resync')).toHaveLength(1);
      second.send({ t: 'ack', upTo: 4 });
      await sleep(200);
      second.close();
      await second.closed;

      const third = await raw('quota', 'bob', 'b3');
      await sleep(200);
      expect(third.of('resync')).toEqual([]);
      expect(third.of('msg')).toEqual([]);
    });

    it('tells a connected device with a resync frame when its unacked messages are dropped', async () => {
      const bob = await raw('quota', 'bob', 'b2');
      const alice = await sdk('quota', 'alice', 'a1');
      await alice.start();
      const before = await drops('quota');
      for (let i = 1; i <= 3; i++) await alice.send(['device:b2'], `m${i}`, { id: `live-${i}` });
      await bob.next('msg', 2);
      expect(bob.of('resync')).toEqual([]);
      await alice.send(['device:b2'], 'm4', { id: 'live-4' });
      const resync = await bob.next('resync');
      expect(resync).toEqual({
        t: 'resync',
        reason: 'dropped',
        epoch: bob.of('welcome')[0]?.['epoch'],
        drops: 1,
      });
      expect((await drops('quota')) - before).toBe(1);
      expect((await bob.next('msg', 3))['id']).toBe('live-4');
      // The dropped message cannot be acked any more; acking the newest still works.
      bob.send({ t: 'ack', upTo: 4 });
    });

    it('drops the oldest beyond maxQueuedBytes, counting every byte a message costs', async () => {
      const before = await drops('quota');
      const alice = await sdk('qbytes', 'alice', 'a1');
      await alice.start();
      // A 400-byte payload costs about 800 bytes queued: its entry (the base64 data, the
      // message JSON with its recipient list, 64 bytes) and its de-duplication record.
      for (let i = 1; i <= 3; i++)
        await alice.send(['device:b1'], Buffer.alloc(400), { id: `bytes-${i}` });
      expect((await drops('quota')) - before).toBe(1);
      const meta = await stack.inspect.hmget(deviceKeys('qbytes', 'b1').meta, 'bytes', 'ibytes');
      const held = Number(meta[0]) + Number(meta[1]);
      expect(held).toBeGreaterThan(1500);
      expect(held).toBeLessThanOrEqual(2000);

      const bob = await raw('qbytes', 'bob', 'b1');
      await bob.next('msg', 1);
      await sleep(100);
      expect(bob.of('msg').map((m) => m['id'])).toEqual(['bytes-2', 'bytes-3']);
      expect(bob.of('resync')).toMatchObject([{ reason: 'dropped', drops: 1 }]);
    });
  });

  describe('retention and ttl', () => {
    it('turns a message past its ttl into a skip frame, counted as expired, never a msg', async () => {
      const alice = await sdk('ttl', 'alice', 'a1');
      await alice.start();
      await alice.send(['device:b1'], 'short-lived', { id: 'ttl-1', ttl: 1 });
      await alice.send(['device:b1'], 'lasting', { id: 'ttl-2' });
      const before = await drops('expired');
      await sleep(1100);
      const bob = await raw('ttl', 'bob', 'b1');
      await bob.next('msg');
      await sleep(100);
      expect(bob.frames.map((f) => f.t)).toEqual(['welcome', 'skip', 'msg']);
      expect(bob.of('skip')).toEqual([{ t: 'skip', seq: 1, reason: 'expired' }]);
      expect(bob.of('msg')).toMatchObject([{ seq: 2, id: 'ttl-2' }]);
      expect((await drops('expired')) - before).toBe(1);
    });

    it("makes the SDK emit 'resync' with reason 'expired' and deliver only what is live", async () => {
      const alice = await sdk('ttl', 'alice', 'a1');
      await alice.start();
      await alice.send(['device:b2'], 'short-lived', { id: 'sdk-ttl-1', ttl: 1 });
      await alice.send(['device:b2'], 'lasting', { id: 'sdk-ttl-2' });
      const before = await drops('expired');
      await sleep(1100);
      const got: string[] = [];
      const resyncs: string[] = [];
      const bob = await sdk('ttl', 'bob', 'b2', (m) => got.push(m.id));
      bob.on('resync', (event: { reason: string }) => resyncs.push(event.reason));
      await bob.start();
      await waitFor(() => got.length === 1, 'the live message');
      expect(got).toEqual(['sdk-ttl-2']);
      expect(resyncs).toEqual(['expired']);
      expect((await drops('expired')) - before).toBe(1);
      // Acked: a later connection of the device sees neither again.
      await bob.close();
      const again = await raw('ttl', 'bob', 'b2');
      await sleep(200);
      expect(again.frames.map((f) => f.t)).toEqual(['welcome']);
    });
  });

  describe('unacked in-flight window (maxInFlight)', () => {
    it('sends exactly maxInFlight messages to a device that does not ack, then more per ack', async () => {
      const alice = await sdk('window', 'alice', 'a1');
      await alice.start();
      for (let i = 1; i <= 12; i++) await alice.send(['device:b1'], `m${i}`, { id: `w-${i}` });
      const bob = await raw('window', 'bob', 'b1');
      await bob.next('msg', 4);
      await sleep(300);
      expect(bob.of('msg').map((m) => m['seq'])).toEqual([1, 2, 3, 4, 5]);

      bob.send({ t: 'ack', upTo: 2 });
      await bob.next('msg', 6);
      await sleep(300);
      expect(bob.of('msg').map((m) => m['seq'])).toEqual([1, 2, 3, 4, 5, 6, 7]);

      // An ack past what was sent is clamped: it cannot open the window wider.
      bob.send({ t: 'ack', upTo: 1000 });
      await bob.next('msg', 11);
      await sleep(300);
      expect(bob.of('msg').map((m) => m['seq'])).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    });

    it('announces the window in the welcome limits', async () => {
      const bob = await raw('window', 'bob', 'b2');
      expect(bob.of('welcome')[0]?.['limits']).toMatchObject({ maxInFlight: 5 });
    });
  });

  describe('send rate per device', () => {
    it('refuses sends beyond the burst with RATE_LIMITED and a retryAfterMs', async () => {
      const alice = await raw('rate', 'alice', 'a1');
      for (let i = 1; i <= 5; i++) {
        alice.send({ t: 'send', id: `r-${i}`, to: ['device:b1'], data: 'aGk=' });
      }
      await alice.next('error', 2);
      await alice.next('sent', 1);
      expect(alice.of('sent').map((f) => f['id'])).toEqual(['r-1', 'r-2']);
      const errors = alice.of('error');
      expect(errors.map((f) => [f['id'], f['code']])).toEqual([
        ['r-3', 'RATE_LIMITED'],
        ['r-4', 'RATE_LIMITED'],
        ['r-5', 'RATE_LIMITED'],
      ]);
      for (const error of errors) {
        expect(error['retryAfterMs']).toBeGreaterThan(0);
        expect(error['retryAfterMs']).toBeLessThanOrEqual(100);
      }
    });

    it('limits long-poll sends of a device by the same rate', async () => {
      const token = await tokenFor(domainOf('slowrate'), 'alice', 'a1');
      const statuses: number[] = [];
      let retryAfter: string | null = null;
      for (let i = 1; i <= 5; i++) {
        const response = await fetch(`${relay.httpUrl}/v1/poll/send`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ id: `lp-rate-${i}`, to: ['device:b1'], data: 'aGk=' }),
        });
        statuses.push(response.status);
        if (response.status === 429) {
          retryAfter = response.headers.get('retry-after');
          expect(await response.json()).toMatchObject({ error: { code: 'RATE_LIMITED' } });
        }
      }
      expect(statuses).toEqual([200, 200, 429, 429, 429]);
      expect(retryAfter).toBe('2');

      // The same device over WebSocket, on a new connection, gets no fresh burst.
      const ws = await raw('slowrate', 'alice', 'a1');
      ws.send({ t: 'send', id: 'ws-after-lp', to: ['device:b1'], data: 'aGk=' });
      expect(await ws.next('error')).toMatchObject({ id: 'ws-after-lp', code: 'RATE_LIMITED' });
    });

    it('makes the SDK retry rate-limited sends until every one is delivered', async () => {
      const got: string[] = [];
      const bob = await sdk('rate', 'bob', 'b2', (m) => got.push(m.id));
      const alice = await sdk('rate', 'alice', 'a1');
      await Promise.all([bob.start(), alice.start()]);
      const started = Date.now();
      const ids = Array.from({ length: 8 }, (_, i) => `sdk-rate-${i}`);
      const receipts = await Promise.all(ids.map((id) => alice.send(['device:b2'], id, { id })));
      expect(receipts.map((r) => r.recipients)).toEqual(ids.map(() => 1));
      // 2 at once, then 6 more at 10/s.
      expect(Date.now() - started).toBeGreaterThanOrEqual(500);
      await waitFor(() => got.length === ids.length, 'every message');
      expect([...got].sort()).toEqual([...ids].sort());
    });
  });

  describe('slow consumer', () => {
    it('closes a device that stops reading with 4001 and keeps its messages queued', async () => {
      const alice = await sdk('slow', 'alice', 'a1');
      await alice.start();
      const ids = Array.from({ length: 16 }, (_, i) => `slow-${i}`);
      for (const id of ids) await alice.send(['device:b1'], Buffer.alloc(512 * 1024, 1), { id });

      const before = await relay.metric('grove_relay_closes_total{code="4001"}');
      const ws = new WebSocket(`${relay.url}/v1/connect`, { perMessageDeflate: false });
      ws.on('error', () => undefined);
      const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
      await once(ws, 'open');
      ws.send(JSON.stringify({ t: 'hello', token: await tokenFor(domainOf('slow'), 'bob', 'b1') }));
      // Stop reading the socket: the relay's send buffer fills and stays full.
      const socket = (ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
      socket.pause();
      await waitFor(
        async () => (await relay.metric('grove_relay_closes_total{code="4001"}')) > before,
        'the slow-consumer close',
        5000,
      );
      socket.resume();
      expect(await closed).toBe(4001);

      const got: string[] = [];
      const bob = await sdk('slow', 'bob', 'b1', (m) => got.push(m.id));
      await bob.start();
      await waitFor(
        () => got.length === ids.length,
        'every queued message after reconnect',
        15_000,
      );
      expect(got).toEqual(ids);
    });
  });
});
