import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { GroveClient, type ReceivedMessage } from '../../client/sdk/grove-client.js';
import { RedisServer } from '../../test/support/redis-server.js';
import {
  makeDomain,
  RelayProcess,
  seedDirectory,
  tokenFor,
  type TestDomain,
} from '../../test/support/relay-process.js';
import { waitFor } from '../../test/support/ports.js';

describe('relay smoke', () => {
  let redis: RedisServer;
  let relay: RelayProcess;
  let domain: TestDomain;

  beforeAll(async () => {
    redis = await RedisServer.start();
    domain = await makeDomain('acme');
    await seedDirectory({ url: redis.url, cluster: false }, 'acme', {
      identities: [
        { id: 'alice', devices: ['a1'] },
        { id: 'bob', devices: ['b1'] },
      ],
      workspaces: [],
    });
    relay = await RelayProcess.start({
      redis: { url: redis.url, cluster: false },
      domains: [domain],
    });
  });

  afterAll(async () => {
    await relay.kill9();
    await redis.stop();
  });

  it('delivers a message to an online device', async () => {
    const got: ReceivedMessage[] = [];
    const bob = new GroveClient({
      relays: [relay.url],
      token: await tokenFor(domain, 'bob', 'b1'),
      onMessage: (m) => {
        got.push(m);
      },
    });
    const alice = new GroveClient({
      relays: [relay.url],
      token: await tokenFor(domain, 'alice', 'a1'),
    });
    await Promise.all([bob.start(), alice.start()]);
    const receipt = await alice.send(['identity:bob'], 'hi');
    expect(receipt.recipients).toBe(1);
    await waitFor(() => got.length === 1, 'delivery');
    expect(got[0]?.data.toString()).toBe('hi');
    await Promise.all([alice.close(), bob.close()]);
  });
});
