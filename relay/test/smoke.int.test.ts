import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { GroveClient, type ReceivedMessage } from '../../client/sdk/grove-client.js';
import { waitFor } from '../../test/support/ports.js';
import { startRelayStack, type RelayStack } from '../../test/support/relay-stack.js';

describe('relay smoke', () => {
  let stack: RelayStack;

  beforeAll(async () => {
    stack = await startRelayStack({
      seed: { acme: { identities: { alice: ['a1'], bob: ['b1'] } } },
    });
  });

  afterAll(async () => {
    await stack.stop();
  });

  it('delivers a message to an online device', async () => {
    const got: ReceivedMessage[] = [];
    const bob = new GroveClient({
      relays: [stack.relay().url],
      token: await stack.token('acme', 'bob', 'b1'),
      onMessage: (m) => {
        got.push(m);
      },
    });
    const alice = new GroveClient({
      relays: [stack.relay().url],
      token: await stack.token('acme', 'alice', 'a1'),
    });
    await Promise.all([bob.start(), alice.start()]);
    const receipt = await alice.send(['identity:bob'], 'hi');
    expect(receipt.recipients).toBe(1);
    await waitFor(() => got.length === 1, 'delivery');
    expect(got[0]?.data.toString()).toBe('hi');
    await Promise.all([alice.close(), bob.close()]);
  });
});
