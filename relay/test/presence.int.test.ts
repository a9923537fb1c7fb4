import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import type { GroveClient, PresenceChange } from '../../client/sdk/grove-client.js';
import { podKeys } from '../../contracts/redis/keys.js';
import { sleep, waitFor } from '../../test/support/ports.js';
import type { RedisServer } from '../../test/support/redis-server.js';
import { directoryKeys } from '../../contracts/redis/keys.js';
import type { RelayProcess } from '../../test/support/relay-process.js';
import { startRelayStack, type RelayStack } from '../../test/support/relay-stack.js';

const DOMAIN = 'acme';

describe('presence across relay pods', () => {
  let stack: RelayStack<RedisServer>;
  let redis: RedisServer;
  let relayA: RelayProcess;
  let relayB: RelayProcess;

  async function connect(identity: string, device: string, relays: string[]): Promise<GroveClient> {
    return (await stack.client(identity, device, { relays })).client;
  }

  /** A watcher that records every presence event it gets about `identity`. */
  async function watcher(relays: string[], identity: string) {
    const client = await connect('alice', 'a1', relays);
    const events: PresenceChange[] = [];
    client.on('presence', (event: PresenceChange) => events.push(event));
    client.watch([identity]);
    return { client, events };
  }

  beforeAll(async () => {
    stack = await startRelayStack({
      relays: 2,
      seed: {
        [DOMAIN]: { identities: { alice: ['a1'], bob: ['b1', 'b2'], carol: ['c1'], dan: ['d1'] } },
      },
    });
    [redis, relayA, relayB] = [stack.redis, stack.relay(0), stack.relay(1)];
  });

  afterAll(async () => {
    await stack.stop();
  });

  it('reports a device connecting, changing status and disconnecting on another pod', async () => {
    const { client: watching, events } = await watcher([relayA.url], 'bob');
    await sleep(200);
    expect(events).toEqual([]);

    const bob = await connect('bob', 'b1', [relayB.url]);
    await waitFor(() => events.length >= 1, 'online event');
    expect(events).toEqual([{ identity: 'bob', device: 'b1', state: 'online', status: 'active' }]);

    bob.setStatus('idle');
    await waitFor(() => events.length >= 2, 'status event');
    expect(events[1]).toEqual({ identity: 'bob', device: 'b1', state: 'online', status: 'idle' });

    // Setting the same status again changes nothing watchers can see.
    bob.setStatus('idle');
    await sleep(200);
    expect(events).toHaveLength(2);

    const inspect = new Redis(redis.url);
    const onlineSeen = await inspect.hget(directoryKeys(DOMAIN).lastSeen, 'b1');
    expect(onlineSeen).not.toBeNull();
    await bob.close();
    await waitFor(() => events.length >= 3, 'offline event');
    expect(events[2]).toEqual({ identity: 'bob', device: 'b1', state: 'offline' });
    // The Manager's "last seen" moves when the device goes offline.
    const offlineSeen = await inspect.hget(directoryKeys(DOMAIN).lastSeen, 'b1');
    inspect.disconnect();
    expect(Date.parse(offlineSeen ?? '')).toBeGreaterThanOrEqual(Date.parse(onlineSeen ?? ''));
    await sleep(200);
    expect(events).toHaveLength(3);
    await watching.close();
  });

  it('gives a new watcher the current presence of devices online on another pod', async () => {
    const bob = await connect('bob', 'b2', [relayB.url]);
    bob.setStatus('idle');
    await sleep(100);
    const { client: watching, events } = await watcher([relayA.url], 'bob');
    await waitFor(() => events.length >= 1, 'snapshot');
    expect(events).toEqual([{ identity: 'bob', device: 'b2', state: 'online', status: 'idle' }]);
    await bob.close();
    await waitFor(() => events.length >= 2, 'offline');
    expect(events[1]).toEqual({ identity: 'bob', device: 'b2', state: 'offline' });
    await watching.close();
  });

  it('restores the presence of its devices when a live relay was swept as dead, and sweeps it again when it dies', async () => {
    const relayD = await stack.addRelay();
    const inspect = new Redis(redis.url);
    try {
      const { client: watching, events } = await watcher([relayA.url], 'dan');
      await connect('dan', 'd1', [relayD.url]);
      await waitFor(() => events.length >= 1, 'online');
      // What other pods see when relay D misses its heartbeats (a long pause): a deadline in
      // the past. Keep it there (XX: never re-adding the pod once swept) until a sweeper has
      // taken its devices offline, as D's own heartbeats keep renewing it.
      await waitFor(
        async () => {
          await inspect.zadd(podKeys.pods, 'XX', 0, relayD.podId);
          return events.length >= 2;
        },
        'offline after the sweep',
        5000,
        5,
      );
      await waitFor(() => events.length >= 3, 'online again', 5000);

      // Now it really dies, soon after: its devices go offline within the usual bound.
      await relayD.kill9();
      const killedAt = Date.now();
      await waitFor(
        () => events.length >= 4 && events.at(-1)?.state === 'offline',
        'offline after the crash',
        8000,
        20,
      );
      expect(Date.now() - killedAt).toBeLessThan(5000);
      expect(events.slice(0, 3)).toEqual([
        { identity: 'dan', device: 'd1', state: 'online', status: 'active' },
        { identity: 'dan', device: 'd1', state: 'offline' },
        { identity: 'dan', device: 'd1', state: 'online', status: 'active' },
      ]);
      expect(events.at(-1)).toEqual({ identity: 'dan', device: 'd1', state: 'offline' });
      await watching.close();
    } finally {
      inspect.disconnect();
      await relayD.kill9();
    }
  });

  it('takes the devices of a kill -9 relay offline within the dead-pod bound', async () => {
    const relayC = await stack.addRelay();
    try {
      const { client: watching, events } = await watcher([relayA.url], 'carol');
      // Only relay C in the list: after the crash the device stays offline.
      await connect('carol', 'c1', [relayC.url]);
      await waitFor(() => events.length >= 1, 'online');
      expect(events[0]).toEqual({
        identity: 'carol',
        device: 'c1',
        state: 'online',
        status: 'active',
      });

      await relayC.kill9();
      const killedAt = Date.now();
      await waitFor(() => events.length >= 2, 'offline after the crash', 8000, 20);
      const elapsed = Date.now() - killedAt;
      expect(events[1]).toEqual({ identity: 'carol', device: 'c1', state: 'offline' });
      // deadAfterMs 2000 + sweepMs 500 + heartbeat slack.
      expect(elapsed).toBeLessThan(5000);
      await watching.close();
    } finally {
      await relayC.kill9();
    }
  });
});
