import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import WebSocket from 'ws';
import {
  GroveClient,
  SendRefused,
  type PresenceChange,
  type ReceivedMessage,
} from '../../client/sdk/grove-client.js';
import { sleep, waitFor } from '../../test/support/ports.js';
import { tokenFor, type RelayProcess, type TestDomain } from '../../test/support/relay-process.js';
import { startRelayStack, type RelayStack } from '../../test/support/relay-stack.js';
import { RawClient } from '../../test/support/raw-client.js';

/** A client frame as the WebSocket protocol requires: FIN, text opcode, masked payload. */
function maskedTextFrame(text: string): Buffer {
  const payload = Buffer.from(text, 'utf8');
  const mask = randomBytes(4);
  const header =
    payload.length < 126
      ? Buffer.from([0x81, 0x80 | payload.length])
      : Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 0xff]);
  const masked = Buffer.from(payload.map((byte, i) => byte ^ (mask[i % 4] ?? 0)));
  return Buffer.concat([header, mask, masked]);
}

/**
 * A peer that does the WebSocket handshake and hello by hand over plain TCP, then reads
 * whatever comes but never answers a ping: what a half-open or wedged client looks like.
 */
async function silentPeer(
  port: number,
  token: string,
): Promise<{ socket: Socket; ended: Promise<void> }> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let received = '';
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString('latin1');
  });
  socket.on('error', () => undefined);
  const ended = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.write(
    [
      'GET /v1/connect HTTP/1.1',
      `Host: 127.0.0.1:${port}`,
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
      'Sec-WebSocket-Version: 13',
      '',
      '',
    ].join('\r\n'),
  );
  await waitFor(() => received.startsWith('HTTP/1.1 101'), 'the 101 upgrade');
  socket.write(maskedTextFrame(JSON.stringify({ t: 'hello', token })));
  await waitFor(() => received.includes('"t":"welcome"'), 'the welcome frame');
  return { socket, ended };
}

const MAX_FRAMES_PER_SECOND = 50;
const MAX_BAD_FRAMES = 5;
const PING_INTERVAL_MS = 300;

describe('relay under bad input', () => {
  let stack: RelayStack;
  let relay: RelayProcess;
  let acme: TestDomain;
  let alice: GroveClient;
  let bob: GroveClient;
  const toBob: ReceivedMessage[] = [];
  const presence: PresenceChange[] = [];
  const raws: RawClient[] = [];
  let probes = 0;

  async function raw(identity: string, device: string): Promise<RawClient> {
    const client = await RawClient.hello(relay, await tokenFor(acme, identity, device));
    raws.push(client);
    return client;
  }

  async function opened(): Promise<RawClient> {
    const client = await RawClient.open(relay);
    raws.push(client);
    return client;
  }

  const metric = (sample: string) => relay.metric(sample);

  beforeAll(async () => {
    stack = await startRelayStack({
      seed: {
        acme: {
          identities: { alice: ['a1'], bob: ['b1'], carol: ['c1', 'c2', 'c3', 'c4'] },
          workspaces: { team: ['alice', 'bob'] },
        },
      },
      limits: { acme: { maxMessageBytes: 1000, maxQueuedBytes: 1_000_000 } },
      relayConfig: {
        connection: {
          helloTimeoutMs: 500,
          pingIntervalMs: PING_INTERVAL_MS,
          maxFramesPerSecond: MAX_FRAMES_PER_SECOND,
          maxBadFrames: MAX_BAD_FRAMES,
        },
      },
    });
    [relay, acme] = [stack.relay(), stack.domain('acme')];
    bob = new GroveClient({
      relays: [relay.url],
      token: await tokenFor(acme, 'bob', 'b1'),
      transport: 'websocket',
      onMessage: (m) => {
        toBob.push(m);
      },
    });
    alice = new GroveClient({
      relays: [relay.url],
      token: await tokenFor(acme, 'alice', 'a1'),
      transport: 'websocket',
    });
    alice.on('presence', (change: PresenceChange) => presence.push(change));
    await Promise.all([alice.start(), bob.start()]);
    alice.watch(['carol']);
  });

  /** The well-behaved pair on the same relay still sends and receives; the relay is healthy. */
  afterEach(async () => {
    for (const client of raws.splice(0)) client.close();
    expect(relay.running).toBe(true);
    const health = await fetch(`${relay.httpUrl}/healthz`);
    expect(health.status).toBe(200);
    const id = `probe-${++probes}`;
    await expect(alice.send(['identity:bob'], id, { id })).resolves.toMatchObject({
      recipients: 1,
    });
    await waitFor(() => toBob.some((m) => m.id === id), `the probe ${id} at bob`);
    expect(alice.connected && bob.connected).toBe(true);
  });

  afterAll(async () => {
    for (const client of raws) client.close();
    await Promise.all([alice.close(), bob.close()]);
    await stack.stop();
  });

  describe('invalid frames after hello', () => {
    it('answers non-JSON, unknown types, wrong field types and binary frames with BAD_FRAME', async () => {
      const client = await raw('carol', 'c1');
      client.send('this is not json');
      client.send({ t: 'teleport', to: 'mars' });
      client.send({ t: 'ack', upTo: 'seven' });
      client.send(Buffer.from([0x00, 0xff, 0x10]));
      await client.next('error', 3);
      expect(client.of('error')).toEqual([
        { t: 'error', code: 'BAD_FRAME', message: 'frame is not valid JSON' },
        { t: 'error', code: 'BAD_FRAME', message: expect.stringMatching(/^t: /) },
        { t: 'error', code: 'BAD_FRAME', message: expect.stringMatching(/^upTo: /) },
        {
          t: 'error',
          code: 'BAD_FRAME',
          message: 'binary frames are not part of the protocol; send JSON text',
        },
      ]);
      client.send({ t: 'ping' });
      await client.next('pong');
      expect(client.ws.readyState).toBe(WebSocket.OPEN);
    });

    it(`closes with 4120 after ${MAX_BAD_FRAMES} invalid frames and acts on nothing after`, async () => {
      const before = await metric('grove_relay_messages_in_total');
      const client = await raw('carol', 'c1');
      for (let i = 0; i < MAX_BAD_FRAMES; i++) client.send(`garbage ${i}`);
      client.send({ t: 'send', id: 'after-close', to: ['device:b1'], data: 'aGk=' });
      expect(await client.closed).toEqual({ code: 4120, reason: 'too many invalid frames' });
      expect(client.of('error')).toHaveLength(MAX_BAD_FRAMES);
      expect(client.of('sent')).toEqual([]);
      await sleep(100);
      expect(await metric('grove_relay_messages_in_total')).toBe(before);
      expect(toBob.some((m) => m.id === 'after-close')).toBe(false);
    });

    it('refuses a second hello as BAD_FRAME and counts the connection once', async () => {
      const before = await metric('grove_relay_connections{transport="websocket"}');
      const client = await opened();
      const token = await tokenFor(acme, 'carol', 'c2');
      client.send({ t: 'hello', token });
      client.send({ t: 'hello', token });
      await client.next('error');
      expect(client.of('welcome')).toHaveLength(1);
      expect(client.of('error')).toEqual([
        { t: 'error', code: 'BAD_FRAME', message: 'hello was already received' },
      ]);
      expect(await metric('grove_relay_connections{transport="websocket"}')).toBe(before + 1);
    });
  });

  describe('the first frame', () => {
    it.each([
      ['a ping', JSON.stringify({ t: 'ping' }), 'EXPECTED_HELLO'],
      [
        'a send',
        JSON.stringify({ t: 'send', id: 'x', to: ['device:b1'], data: '' }),
        'EXPECTED_HELLO',
      ],
      ['text that is not JSON', 'hello?', 'BAD_FRAME'],
      [
        'a hello whose token is not a string',
        JSON.stringify({ t: 'hello', token: 42 }),
        'BAD_FRAME',
      ],
    ])('closes with 4120 when it is %s', async (_name, text, code) => {
      const client = await opened();
      client.send(text);
      expect((await client.closed).code).toBe(4120);
      expect(client.of('error')).toMatchObject([{ t: 'error', code }]);
      expect(client.of('welcome')).toEqual([]);
    });

    it('closes with 4120 when it is binary', async () => {
      const client = await opened();
      client.send(Buffer.from('{"t":"hello"}'));
      expect((await client.closed).code).toBe(4120);
      expect(client.of('error')).toMatchObject([{ code: 'BAD_FRAME' }]);
    });

    it('closes with 4003 when no hello arrives within helloTimeoutMs', async () => {
      const started = Date.now();
      const client = await opened();
      expect(await client.closed).toEqual({ code: 4003, reason: 'no hello within the deadline' });
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(450);
      expect(elapsed).toBeLessThan(3000);
    });
  });

  describe('frame size and rate', () => {
    it("closes with 1009 on a frame over the relay's maxPayload", async () => {
      const client = await raw('carol', 'c1');
      // maxPayload: 1000-byte messages in base64 plus 64 KiB of envelope.
      client.send('x'.repeat(200 * 1024));
      expect((await client.closed).code).toBe(1009);
    });

    it('closes with 1009 on an oversized frame before hello too', async () => {
      const client = await opened();
      client.send(Buffer.alloc(200 * 1024, 0x20).toString());
      expect((await client.closed).code).toBe(1009);
    });

    it(`closes a flood over ${MAX_FRAMES_PER_SECOND} frames per second with 4122`, async () => {
      const client = await raw('carol', 'c1');
      for (let i = 0; i < 200; i++) client.send({ t: 'ping' });
      expect((await client.closed).code).toBe(4122);
      expect(client.of('pong').length).toBeLessThan(MAX_FRAMES_PER_SECOND);
    });

    it('acts on no frame of a flood once it closed the connection', async () => {
      const before = await metric('grove_relay_messages_in_total');
      const client = await raw('carol', 'c3');
      for (let i = 0; i < 300; i++) {
        client.send({ t: 'send', id: `flood-${i}`, to: ['device:c4'], data: 'aGk=' });
      }
      expect((await client.closed).code).toBe(4122);
      await sleep(300);
      const accepted = (await metric('grove_relay_messages_in_total')) - before;
      expect(accepted).toBeLessThan(MAX_FRAMES_PER_SECOND);
    });
  });

  describe('a peer that stops answering', () => {
    it('is dropped after unanswered pings and its device goes offline', async () => {
      const before = await metric('grove_relay_closes_total{code="4003"}');
      presence.length = 0;
      const peer = await silentPeer(relay.port, await tokenFor(acme, 'carol', 'c2'));
      await waitFor(
        () => presence.some((p) => p.device === 'c2' && p.state === 'online'),
        'carol c2 online',
      );
      const started = Date.now();
      await waitFor(
        () => presence.some((p) => p.device === 'c2' && p.state === 'offline'),
        'carol c2 offline',
        5000,
      );
      expect(Date.now() - started).toBeLessThan(PING_INTERVAL_MS * 5);
      await peer.ended;
      expect((await metric('grove_relay_closes_total{code="4003"}')) - before).toBe(1);
    });

    it('is dropped when a WebSocket client stops reading its socket', async () => {
      presence.length = 0;
      const client = await raw('carol', 'c4');
      await waitFor(
        () => presence.some((p) => p.device === 'c4' && p.state === 'online'),
        'carol c4 online',
      );
      (client.ws as unknown as { _socket: { pause(): void } })._socket.pause();
      await waitFor(
        () => presence.some((p) => p.device === 'c4' && p.state === 'offline'),
        'carol c4 offline',
        5000,
      );
    });
  });

  describe('recipients', () => {
    it('refuses unknown recipients with UNKNOWN_RECIPIENT, listing each, and queues nothing', async () => {
      const before = await metric('grove_relay_messages_in_total');
      const client = await raw('carol', 'c1');
      client.send({
        t: 'send',
        id: 'to-nowhere',
        to: ['device:b1', 'device:zz', 'identity:ghost', 'workspace:void'],
        data: 'aGk=',
      });
      expect(await client.next('error')).toEqual({
        t: 'error',
        id: 'to-nowhere',
        code: 'UNKNOWN_RECIPIENT',
        message: 'no such recipient in domain "acme": device:zz, identity:ghost, workspace:void',
      });
      expect(await metric('grove_relay_messages_in_total')).toBe(before);
      expect(toBob.some((m) => m.id === 'to-nowhere')).toBe(false);
    });

    it('refuses a malformed recipient with BAD_FRAME naming the field and the message id', async () => {
      const client = await raw('carol', 'c1');
      client.send({ t: 'send', id: 'bad-to', to: ['bob'], data: 'aGk=' });
      expect(await client.next('error')).toEqual({
        t: 'error',
        id: 'bad-to',
        code: 'BAD_FRAME',
        message: 'to.0: recipient must be device:ID, identity:ID or workspace:ID',
      });
    });

    it('makes an SDK send to a malformed recipient fail instead of hanging', async () => {
      const carol = new GroveClient({
        relays: [relay.url],
        token: await tokenFor(acme, 'carol', 'c1'),
        transport: 'websocket',
      });
      try {
        await carol.start();
        const outcome = await Promise.race([
          carol.send(['bob'], 'x').then(
            () => 'sent',
            (error: unknown) => error,
          ),
          sleep(3000).then(() => 'still pending after 3 s'),
        ]);
        expect(outcome).toBeInstanceOf(SendRefused);
        expect(outcome).toMatchObject({ code: 'BAD_FRAME' });
        await expect(carol.send(['identity:ghost'], 'x')).rejects.toMatchObject({
          code: 'UNKNOWN_RECIPIENT',
        });
        expect(carol.pendingSends).toBe(0);
      } finally {
        await carol.close();
      }
    });
  });

  describe('long-poll', () => {
    const poll = (init: RequestInit = {}, path = '/v1/poll?wait=0') =>
      fetch(`${relay.httpUrl}${path}`, init);

    it.each([
      ['no Authorization header', {}],
      ['a Basic scheme', { authorization: 'Basic YWxpY2U6cGFzcw==' }],
      ['an empty bearer token', { authorization: 'Bearer ' }],
      ['a garbage bearer token', { authorization: 'Bearer garbage' }],
    ])('answers %s with 401 AUTH_MALFORMED', async (_name, headers) => {
      for (const response of [
        await poll({ headers }),
        await poll(
          {
            method: 'POST',
            headers: { ...headers, 'content-type': 'application/json' },
            body: JSON.stringify({ id: 'x', to: ['device:b1'], data: '' }),
          },
          '/v1/poll/send',
        ),
      ]) {
        expect(response.status).toBe(401);
        expect(await response.json()).toEqual({
          error: { code: 'AUTH_MALFORMED', message: expect.any(String) },
        });
      }
    });

    it('answers a body that is not JSON with 400 BAD_FRAME', async () => {
      const token = await tokenFor(acme, 'carol', 'c1');
      const response = await poll(
        {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: '{"id": "x", to: ',
        },
        '/v1/poll/send',
      );
      expect(response.status).toBe(400);
      expect(await response.json()).toEqual({
        error: { code: 'BAD_FRAME', message: expect.any(String) },
      });
    });

    it('answers a JSON body of the wrong shape with 400 BAD_FRAME naming the field', async () => {
      const token = await tokenFor(acme, 'carol', 'c1');
      const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
      const send = await poll(
        { method: 'POST', headers, body: JSON.stringify({ id: 'x', to: 'device:b1', data: '' }) },
        '/v1/poll/send',
      );
      expect(send.status).toBe(400);
      expect(await send.json()).toEqual({
        error: { code: 'BAD_FRAME', message: expect.stringMatching(/^to: /) },
      });
      const ack = await poll(
        { method: 'POST', headers, body: JSON.stringify({ upTo: -1, epoch: 'e' }) },
        '/v1/poll/ack',
      );
      expect(ack.status).toBe(400);
      expect(await ack.json()).toMatchObject({ error: { code: 'BAD_FRAME' } });
      const query = await poll({ headers }, '/v1/poll?wait=soon');
      expect(query.status).toBe(400);
      expect(await query.json()).toMatchObject({ error: { code: 'BAD_FRAME' } });
    });

    it("answers a body over the relay's body limit with 413 MESSAGE_TOO_LARGE", async () => {
      const token = await tokenFor(acme, 'carol', 'c1');
      const response = await poll(
        {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ id: 'huge', to: ['device:b1'], data: 'A'.repeat(200 * 1024) }),
        },
        '/v1/poll/send',
      );
      expect(response.status).toBe(413);
      expect(await response.json()).toEqual({
        error: { code: 'MESSAGE_TOO_LARGE', message: expect.any(String) },
      });
    });

    it('answers unknown recipients with 404 UNKNOWN_RECIPIENT', async () => {
      const token = await tokenFor(acme, 'carol', 'c1');
      const response = await poll(
        {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ id: 'lp-ghost', to: ['identity:ghost'], data: '' }),
        },
        '/v1/poll/send',
      );
      expect(response.status).toBe(404);
      expect(await response.json()).toMatchObject({ error: { code: 'UNKNOWN_RECIPIENT' } });
    });
  });
});
