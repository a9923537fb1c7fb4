import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { deviceKeys } from '../../contracts/redis/keys.js';
import { RawClient } from '../../test/support/raw-client.js';
import type { RedisServer } from '../../test/support/redis-server.js';
import { startRelayStack, type RelayStack } from '../../test/support/relay-stack.js';

// A liveness bug found when the device connection was split: an ack that Redis did not take
// was never sent again, so with the in-flight window full, delivery stopped until the device
// reconnected. The relay now retries the ack until Redis takes it.

describe('an ack that Redis did not take', () => {
  let stack: RelayStack<RedisServer>;

  beforeAll(async () => {
    stack = await startRelayStack({
      seed: { acme: { identities: { alice: ['a1'], bob: ['b1'] } } },
      limits: { acme: { maxInFlight: 2 } },
    });
  });

  afterAll(async () => {
    await stack.stop();
  });

  it('is sent again once Redis is back, and delivery goes on without a reconnect', async () => {
    const alice = await stack.client('alice', 'a1');
    for (let i = 1; i <= 5; i++) await alice.client.send(['device:b1'], `m${i}`, { id: `m${i}` });
    await alice.client.close();
    const bob = await RawClient.hello(stack.relay(), await stack.token('acme', 'bob', 'b1'));
    await bob.next('msg', 1);
    // The window (maxInFlight 2) is full: nothing more comes before an ack.
    expect(bob.of('msg').map((frame) => frame['id'])).toEqual(['m1', 'm2']);

    await stack.redis.kill();
    bob.send({ t: 'ack', upTo: 2 });
    // Long enough for the relay's ack to fail (commands fail fast while Redis is down).
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await stack.redis.launch();

    await bob.next('msg', 2, 15_000);
    await bob.next('msg', 3, 5000);
    expect(bob.of('msg').map((frame) => frame['id'])).toEqual(['m1', 'm2', 'm3', 'm4']);
    expect(await stack.inspect.hget(deviceKeys('acme', 'b1').meta, 'head')).toBe('3');
    bob.close();
  }, 60_000);
});
