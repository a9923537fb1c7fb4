import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { Redis } from 'ioredis';
import type { GroveClientOptions } from '../sdk/grove-client.js';
import { deviceKeys } from '../../contracts/redis/keys.js';
import { sleep, waitFor } from '../../test/support/ports.js';
import type { RedisServer } from '../../test/support/redis-server.js';
import type { RelayProcess } from '../../test/support/relay-process.js';
import { startRelayStack, type RelayStack } from '../../test/support/relay-stack.js';

const DOMAIN = 'acme';

/**
 * A proxy as found on restrictive networks: plain HTTP requests are forwarded to the relay,
 * WebSocket upgrades are refused with 403.
 */
async function startBlockingProxy(target: number) {
  /** `loseSendResponses`: how many send responses to drop after the relay handled them. */
  /** `closingSends`: how many sends to answer as a relay shutting down does (503, not Grove). */
  /** `silentSends`: how many sends to swallow without ever answering (a vanished pod). */
  const seen = { upgrades: 0, requests: 0, loseSendResponses: 0, closingSends: 0, silentSends: 0 };
  const server: Server = createServer((incoming, outgoing) => {
    seen.requests++;
    if (incoming.url === '/v1/poll/send' && seen.silentSends > 0) {
      seen.silentSends--;
      incoming.resume();
      return;
    }
    if (incoming.url === '/v1/poll/send' && seen.closingSends > 0) {
      seen.closingSends--;
      incoming.resume();
      outgoing
        .writeHead(503, { 'content-type': 'application/json', connection: 'close' })
        .end('{"error":"Service Unavailable","message":"Service Unavailable","statusCode":503}');
      return;
    }
    const loseResponse = incoming.url === '/v1/poll/send' && seen.loseSendResponses > 0;
    if (loseResponse) seen.loseSendResponses--;
    const upstream = httpRequest(
      {
        host: '127.0.0.1',
        port: target,
        method: incoming.method,
        path: incoming.url,
        headers: incoming.headers,
      },
      (response) => {
        if (loseResponse) {
          outgoing.socket?.destroy();
          return;
        }
        outgoing.writeHead(response.statusCode ?? 502, response.headers);
        response.pipe(outgoing);
      },
    );
    upstream.on('error', () => outgoing.destroy());
    // A client that gives up on a long poll ends the upstream request too.
    outgoing.on('close', () => upstream.destroy());
    incoming.pipe(upstream);
  });
  server.on('upgrade', (_request, socket) => {
    seen.upgrades++;
    socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = address !== null && typeof address === 'object' ? address.port : 0;
  return {
    seen,
    url: `ws://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('SDK over HTTP long-poll', () => {
  let stack: RelayStack<RedisServer>;
  let inspect: Redis;
  let relay: RelayProcess;
  let proxy: Awaited<ReturnType<typeof startBlockingProxy>>;

  const connect = (identity: string, device: string, options: Partial<GroveClientOptions> = {}) =>
    stack.client(identity, device, { relays: [relay.httpUrl], ...options });

  const queueLength = (device: string) => inspect.llen(deviceKeys(DOMAIN, device).queue);
  const queueHead = async (device: string) =>
    Number(await inspect.hget(deviceKeys(DOMAIN, device).meta, 'head'));

  beforeAll(async () => {
    stack = await startRelayStack({
      seed: { [DOMAIN]: { identities: { alice: ['a1'], paula: ['p1', 'p2', 'p3', 'p4', 'p5'] } } },
    });
    [relay, inspect] = [stack.relay(), stack.inspect];
    proxy = await startBlockingProxy(relay.port);
  });

  afterAll(async () => {
    try {
      await stack.stop();
    } finally {
      await proxy.close();
    }
  });

  it('receives an offline backlog larger than one poll response exactly once, in order, advancing acks', async () => {
    const sender = await connect('alice', 'a1', { relays: [relay.url] });
    const ids: string[] = [];
    // 300 × 2 KiB is more than one response (256 KiB cap): several polls, each acking the last.
    const payload = 'x'.repeat(2048);
    for (let i = 0; i < 300; i++) {
      ids.push((await sender.client.send(['device:p1'], `${i} ${payload}`)).id);
    }
    expect(await queueLength('p1')).toBe(300);

    const poller = await connect('paula', 'p1', { transport: 'long-poll' });
    await waitFor(() => poller.got.length >= 300, 'the backlog', 15_000);
    expect(poller.got.map((m) => m.id)).toEqual(ids);
    expect(poller.got.map((m) => m.data.toString().split(' ')[0])).toEqual(
      ids.map((_, i) => `${i}`),
    );
    await waitFor(async () => (await queueLength('p1')) === 0, 'acks to reach Redis');
    expect(await queueHead('p1')).toBe((poller.got.at(-1)?.seq ?? 0) + 1);

    // A message sent while the poll waits wakes it at once.
    const sentAt = Date.now();
    const live = await sender.client.send(['device:p1'], 'live');
    await waitFor(() => poller.got.length >= 301, 'live delivery', 5000);
    expect(Date.now() - sentAt).toBeLessThan(2000);
    expect(poller.got.at(-1)?.id).toBe(live.id);
    await waitFor(async () => (await queueLength('p1')) === 0, 'ack of the live message');
    await poller.client.close();

    // Everything was acknowledged: a later poller of the device gets nothing again.
    const later = await connect('paula', 'p1', { transport: 'long-poll' });
    await sleep(500);
    expect(later.got).toEqual([]);
    await Promise.all([later.client.close(), sender.client.close()]);
  });

  it('sends over long-poll, acknowledged durably, and de-duplicated on retry', async () => {
    const poller = await connect('paula', 'p2', { transport: 'long-poll' });
    const receipt = await poller.client.send(['identity:alice'], 'from a poller', { id: 'lp-1' });
    expect(receipt).toEqual({ id: 'lp-1', recipients: 1, duplicates: 0 });
    expect(await queueLength('a1')).toBe(1);
    const retry = await poller.client.send(['identity:alice'], 'from a poller', { id: 'lp-1' });
    expect(retry).toEqual({ id: 'lp-1', recipients: 1, duplicates: 1 });
    expect(await queueLength('a1')).toBe(1);

    const alice = await connect('alice', 'a1', { relays: [relay.url] });
    await waitFor(() => alice.got.length >= 1, 'delivery to a WebSocket device');
    await sleep(200);
    expect(alice.got.map((m) => [m.id, m.data.toString(), m.from.device])).toEqual([
      ['lp-1', 'from a poller', 'p2'],
    ]);
    await Promise.all([poller.client.close(), alice.client.close()]);
  });

  it('retries a long-poll send whose response was lost on the way, queuing it once', async () => {
    const poller = await connect('paula', 'p4', {
      relays: [proxy.url.replace('ws:', 'http:')],
      transport: 'long-poll',
    });
    proxy.seen.loseSendResponses = 1;
    const receipt = await poller.client.send(['device:p1'], 'response lost', { id: 'lost-1' });
    expect(proxy.seen.loseSendResponses).toBe(0);
    // The first attempt was queued; the retry is recognised as its duplicate.
    expect(receipt).toEqual({ id: 'lost-1', recipients: 1, duplicates: 1 });
    expect(await queueLength('p1')).toBe(1);
    await poller.client.close();
  });

  it('resends a long-poll send answered 503 by a server shutting down, not refusing it', async () => {
    const poller = await connect('paula', 'p5', {
      relays: [proxy.url.replace('ws:', 'http:')],
      transport: 'long-poll',
    });
    proxy.seen.closingSends = 1;
    const receipt = await poller.client.send(['device:p1'], 'during a rollout', {
      id: 'closing-1',
    });
    expect(proxy.seen.closingSends).toBe(0);
    expect(receipt).toEqual({ id: 'closing-1', recipients: 1, duplicates: 0 });
    expect(poller.closes.at(-1)?.errorCode).toBe('HTTP_503');
    await poller.client.close();
  });

  it('gives up on a long-poll send nobody answers after its deadline and resends it', async () => {
    const poller = await connect('paula', 'p5', {
      relays: [proxy.url.replace('ws:', 'http:')],
      transport: 'long-poll',
    });
    proxy.seen.silentSends = 1;
    const started = Date.now();
    const receipt = await poller.client.send(['device:p1'], 'to a vanished pod', {
      id: 'silent-1',
    });
    expect(proxy.seen.silentSends).toBe(0);
    expect(receipt).toEqual({ id: 'silent-1', recipients: 1, duplicates: 0 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(10_000);
    expect(Date.now() - started).toBeLessThan(20_000);
    await poller.client.close();
  }, 40_000);

  it("falls back to long-poll by itself when a proxy refuses WebSocket upgrades ('auto')", async () => {
    const sender = await connect('alice', 'a1', { relays: [relay.url] });
    const backlog = await sender.client.send(['device:p3'], 'queued before');

    const behindProxy = await connect('paula', 'p3', { relays: [proxy.url], transport: 'auto' });
    expect(proxy.seen.upgrades).toBe(1);
    expect(behindProxy.closes).toHaveLength(1);
    expect(behindProxy.closes[0]?.transportFailed).toBe(true);
    await waitFor(() => behindProxy.got.length >= 1, 'the backlog through the proxy');

    const live = await sender.client.send(['device:p3'], 'live through the proxy');
    await waitFor(() => behindProxy.got.length >= 2, 'live delivery through the proxy', 5000);
    const reply = await behindProxy.client.send(['device:a1'], 'reply through the proxy');
    expect(reply.recipients).toBe(1);
    await waitFor(() => sender.got.length >= 1, 'reply delivered');

    expect(behindProxy.got.map((m) => m.id)).toEqual([backlog.id, live.id]);
    expect(sender.got.map((m) => m.id)).toEqual([reply.id]);
    await waitFor(async () => (await queueLength('p3')) === 0, 'acks through the proxy');
    // It stays on long-poll: no further upgrade attempts.
    expect(proxy.seen.upgrades).toBe(1);
    expect(proxy.seen.requests).toBeGreaterThan(2);
    await Promise.all([behindProxy.client.close(), sender.client.close()]);
  });
});
