// Issue 12, item 6, on the SDK's side: a 4110 ("displaced") close ends the client for good only
// when a newer connection of the device took over, as the relay says in the close reason
// (`claim N`, compared with the claim of this connection's welcome). A hand-made relay sends
// the closes.

import { afterEach, describe, expect, it } from '@jest/globals';
import { once } from 'node:events';
import { WebSocketServer, type WebSocket } from 'ws';
import { CloseCode } from '../../contracts/errors/close-codes.js';
import { ConnectionRefused, GroveClient } from '../sdk/grove-client.js';
import { sleep, waitFor } from '../../test/support/ports.js';

/** A relay that welcomes with claim `claims[i]` and then acts out `then[i]` on connection i. */
async function fakeRelay(
  script: { claim?: number; close?: { code: number; reason: string } }[],
): Promise<{ url: string; connections: () => number; close: () => Promise<void> }> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  let count = 0;
  server.on('connection', (ws: WebSocket) => {
    const step = script[Math.min(count, script.length - 1)] ?? {};
    count++;
    ws.once('message', () => {
      ws.send(
        JSON.stringify({
          t: 'welcome',
          domain: 'acme',
          identity: 'erin',
          device: 'e1',
          epoch: 'e',
          head: 1,
          drops: 0,
          resync: false,
          limits: {},
          ...(step.claim === undefined ? {} : { claim: step.claim }),
        }),
      );
      if (step.close !== undefined) {
        const { code, reason } = step.close;
        setTimeout(() => ws.close(code, reason), 20);
      }
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `ws://127.0.0.1:${port}`,
    connections: () => count,
    close: () =>
      new Promise((resolve) => {
        for (const client of server.clients) client.terminate();
        server.close(() => resolve());
      }),
  };
}

describe('the SDK on a 4110 close', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  async function clientOf(url: string) {
    const client = new GroveClient({
      relays: [url],
      token: 'token',
      transport: 'websocket',
      backoff: { initialMs: 20, maxMs: 50 },
    });
    const fatal: unknown[] = [];
    client.on('fatal', (error: unknown) => fatal.push(error));
    cleanup.push(() => client.close());
    await client.start();
    return { client, fatal };
  }

  it('reconnects when the claim that closed it is not newer than its own', async () => {
    const relay = await fakeRelay([
      {
        claim: 5,
        close: { code: CloseCode.displaced, reason: 'displaced by a newer connection (claim 3)' },
      },
      { claim: 6 },
    ]);
    cleanup.push(relay.close);
    const { client, fatal } = await clientOf(relay.url);
    await waitFor(() => relay.connections() === 2 && client.connected, 'a second connection');
    expect(fatal).toEqual([]);
  });

  it('gives up when a newer connection displaced it', async () => {
    const relay = await fakeRelay([
      {
        claim: 5,
        close: { code: CloseCode.displaced, reason: 'displaced by a newer connection (claim 9)' },
      },
    ]);
    cleanup.push(relay.close);
    const { fatal } = await clientOf(relay.url);
    await waitFor(() => fatal.length === 1, 'fatal');
    expect(fatal[0]).toBeInstanceOf(ConnectionRefused);
    expect(fatal[0]).toMatchObject({ code: CloseCode.displaced });
    await sleep(200);
    expect(relay.connections()).toBe(1);
  });

  it('gives up on a 4110 that carries no claim (a relay from before claims were ordered)', async () => {
    const relay = await fakeRelay([
      { close: { code: CloseCode.displaced, reason: 'this device connected again elsewhere' } },
    ]);
    cleanup.push(relay.close);
    const { fatal } = await clientOf(relay.url);
    await waitFor(() => fatal.length === 1, 'fatal');
    expect(relay.connections()).toBe(1);
  });
});
