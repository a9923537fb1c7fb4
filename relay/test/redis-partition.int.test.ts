// A relay cut off from Redis while the others still reach it (a network partition, a stuck
// connection): it sends its devices away after redis.closeDevicesAfterMs instead of holding
// them on a link where every send fails, and takes devices again once Redis is back.
// Real redis-server, `grove relay` processes, a TCP proxy between one relay and Redis.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import WebSocket from 'ws';
import { CloseCode } from '../../contracts/errors/close-codes.js';
import { sleep, waitFor } from '../../test/support/ports.js';
import type { RedisServer } from '../../test/support/redis-server.js';
import { RelayProcess } from '../../test/support/relay-process.js';
import { startRelayStack, type RelayStack } from '../../test/support/relay-stack.js';
import { TcpProxy } from '../../test/support/tcp-proxy.js';

const CLOSE_AFTER_MS = 1500;

let stack: RelayStack<RedisServer>;
let proxy: TcpProxy;
/** The relay behind the proxy. */
let cutRelay: RelayProcess;

beforeAll(async () => {
  stack = await startRelayStack({
    seed: { acme: { identities: { alice: ['a1'], bob: ['b1'], carol: ['c1'] } } },
  });
  proxy = await TcpProxy.start(Number(new URL(stack.target.url).port));
  cutRelay = await RelayProcess.start({
    redis: stack.target,
    domains: stack.domains,
    overrides: {
      redis: {
        ...stack.target,
        url: `redis://127.0.0.1:${String(proxy.port)}`,
        closeDevicesAfterMs: CLOSE_AFTER_MS,
      },
    },
  });
}, 60_000);

afterAll(async () => {
  await stack.stop();
  await cutRelay.kill9();
  await proxy.close();
});

async function readyz(relay: RelayProcess): Promise<number> {
  return (await fetch(`${relay.url.replace(/^ws/, 'http')}/readyz`)).status;
}

describe('relay › cut off from Redis', () => {
  it('sends its devices to a relay that reaches Redis, losing no acknowledged message', async () => {
    const receiver = await stack.client('bob', 'b1');
    // The cut relay first: the sender is on it.
    const sender = await stack.client('alice', 'a1', {
      relays: [cutRelay.url, stack.relay().url],
    });
    const acked: string[] = [];
    const state = { sending: true };
    const loop = (async () => {
      let n = 0;
      while (state.sending) {
        const receipt = await sender.client.send(['identity:bob'], `m${String(n++)}`);
        acked.push(receipt.id);
      }
    })();
    await waitFor(() => acked.length >= 50, 'sends through the relay behind the proxy', 10_000);
    const cutAt = Date.now();
    proxy.cut();
    const closed = await waitFor(
      () => sender.closes.find((close) => close.code === CloseCode.storageUnavailable),
      'the relay to close the sender with 4002',
      CLOSE_AFTER_MS + 5000,
    );
    const closedAfterMs = Date.now() - cutAt;
    expect(closed.reconnect).toBe(true);
    // Not before the bound (a Sentinel failover must close nothing), not long after it.
    expect(closedAfterMs).toBeGreaterThanOrEqual(CLOSE_AFTER_MS - 200);
    expect(closedAfterMs).toBeLessThan(CLOSE_AFTER_MS + 3000);
    const ackedAtClose = acked.length;
    await waitFor(() => acked.length >= ackedAtClose + 50, 'sends through the other relay', 10_000);
    state.sending = false;
    await loop;
    await waitFor(
      () => receiver.got.length >= acked.length,
      'every acknowledged message delivered',
      15_000,
    );
    const delivered = new Set(receiver.got.map((message) => message.id));
    expect(acked.filter((id) => !delivered.has(id))).toEqual([]);
    expect(sender.fatal).toEqual([]);
  }, 60_000);

  it('refuses new devices while cut off and takes them again once Redis is back', async () => {
    expect(await readyz(cutRelay)).toBe(503);
    const refused = new WebSocket(`${cutRelay.url}/v1/connect`, { perMessageDeflate: false });
    refused.on('error', () => undefined);
    const closes: number[] = [];
    refused.on('close', (code: number) => closes.push(code));
    expect(await waitFor(() => closes[0], 'the connection refused', 10_000)).toBe(
      CloseCode.notReady,
    );

    proxy.restore();
    await waitFor(async () => (await readyz(cutRelay)) === 200, 'the relay ready again', 20_000);
    // The storage check runs on a timer: give it a turn after Redis is back.
    await sleep(1000);
    const carol = await stack.client('carol', 'c1', { relays: [cutRelay.url], start: false });
    await Promise.race([
      carol.client.start(),
      sleep(10_000).then(() => {
        throw new Error(`no welcome from the relay: ${JSON.stringify(carol.closes)}`);
      }),
    ]);
    await carol.client.send(['identity:bob'], 'back');
    expect(carol.closes).toEqual([]);
  }, 60_000);
});
