import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { RawClient } from '../../test/support/raw-client.js';
import type { RedisServer } from '../../test/support/redis-server.js';
import { startRelayStack, type RelayStack } from '../../test/support/relay-stack.js';

// Issue 12, item 9: presence ids are checked against the id pattern, and how many identities
// one request or one connection watches is bounded (Policy relay.maxWatchedIdentities).

const ids = (count: number, prefix = 'who') =>
  Array.from({ length: count }, (_, i) => `${prefix}${i}`);

describe('presence bounds', () => {
  let stack: RelayStack<RedisServer>;
  const raws: RawClient[] = [];

  beforeAll(async () => {
    const members = { identities: { alice: ['a1'], bob: ['b1'] } };
    stack = await startRelayStack({
      seed: { acme: members, small: members },
      limits: { small: { maxWatchedIdentities: 5 } },
    });
  });

  afterAll(async () => {
    for (const raw of raws) raw.close();
    await stack.stop();
  });

  const presence = async (domain: string, identities: string) =>
    fetch(
      // Commas as they are: 7,500 short ids then fit in the 16 KiB Node allows a request line.
      `${stack.relay().httpUrl}/v1/poll/presence?identities=${identities.split(',').map(encodeURIComponent).join(',')}`,
      { headers: { authorization: `Bearer ${await stack.token(domain, 'alice', 'a1')}` } },
    );

  it('refuses long-poll presence ids that are not ids, naming the first', async () => {
    const response = await presence('acme', 'bob,Not*An:Id,{x}');
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      error: { code: 'BAD_FRAME', message: expect.stringContaining('"Not*An:Id"') },
    });
  });

  it('refuses more long-poll presence ids than maxWatchedIdentities', async () => {
    expect((await presence('small', ids(5).join(','))).status).toBe(200);
    const response = await presence('small', ids(6).join(','));
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      error: {
        code: 'WATCH_LIMIT_EXCEEDED',
        message: "6 identities asked; this domain's limit is 5 (maxWatchedIdentities)",
      },
    });
  });

  it('stays responsive under 100 requests of 7,500 ids each (default bound 1,000)', async () => {
    // As in issue 12: ids short enough for 7,500 of them to fit in a request line.
    const query = Array.from({ length: 7500 }, () => 'z').join(',');
    const started = Date.now();
    const flood = Promise.all(
      Array.from({ length: 100 }, async () => (await presence('acme', query)).status),
    );
    await new Promise((resolve) => setTimeout(resolve, 20));
    const probeStarted = Date.now();
    await fetch(`${stack.relay().httpUrl}/healthz`);
    const healthzMs = Date.now() - probeStarted;
    const statuses = await flood;
    process.stdout.write(
      `100 × 7,500 presence ids: ${Date.now() - started} ms in all, /healthz took ${healthzMs} ms, status ${statuses[0]}\n`,
    );
    expect(new Set(statuses)).toEqual(new Set([400]));
  });

  it('bounds what one WebSocket connection watches, across watch frames', async () => {
    const alice = await RawClient.hello(stack.relay(), await stack.token('small', 'alice', 'a1'));
    raws.push(alice);
    alice.send({ t: 'watch', identities: ['bob', 'p1', 'p2'] });
    alice.send({ t: 'watch', identities: ['bob', 'p3', 'p4'] });
    alice.send({ t: 'watch', identities: ['p5'] });
    alice.send({ t: 'ping' });
    await alice.next('pong');
    expect(alice.of('error')).toEqual([
      {
        t: 'error',
        code: 'WATCH_LIMIT_EXCEEDED',
        message: "watching 6 identities; this domain's limit is 5 (maxWatchedIdentities)",
      },
    ]);
    // Unwatching makes room again.
    alice.send({ t: 'unwatch', identities: ['p1'] });
    alice.send({ t: 'watch', identities: ['p5'] });
    alice.send({ t: 'ping' });
    await alice.next('pong', 1);
    expect(alice.of('error')).toHaveLength(1);
  });

  it('refuses the 100,000-subscription flood of issue 12 past the first 1,000', async () => {
    const alice = await RawClient.hello(stack.relay(), await stack.token('acme', 'alice', 'a1'));
    raws.push(alice);
    const started = Date.now();
    for (let frame = 0; frame < 100; frame++) {
      alice.send({ t: 'watch', identities: ids(1000, `f${frame}-`) });
    }
    alice.send({ t: 'ping' });
    await alice.next('pong', 0, 30_000);
    process.stdout.write(`100 watch frames of 1,000 ids: ${Date.now() - started} ms\n`);
    expect(alice.of('error')).toHaveLength(99);
  }, 60_000);
});
