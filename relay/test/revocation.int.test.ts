import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Cluster, Redis } from 'ioredis';
import { ConnectionRefused, GroveClient } from '../../client/sdk/grove-client.js';
import { CloseCode } from '../../contracts/errors/close-codes.js';
import { directoryKeys } from '../../contracts/redis/keys.js';
import { revokeMessage } from '../../contracts/wire/directory-channel.js';
import { sleep, waitFor } from '../../test/support/ports.js';
import { RawClient } from '../../test/support/raw-client.js';
import type { RedisCluster, RedisServer } from '../../test/support/redis-server.js';
import { tokenFor, type RelayProcess, type TestDomain } from '../../test/support/relay-process.js';
import { startRelayStack, type RelayStack } from '../../test/support/relay-stack.js';

/** What the Manager does when it revokes a device: out of the directory, then the kick. */
async function revoke(redis: Redis | Cluster, domain: string, device: string): Promise<void> {
  const keys = directoryKeys(domain);
  await redis.hdel(keys.devices, device);
  await redis.spublish(keys.channel, revokeMessage(device));
}

async function usage(redis: Redis | Cluster, domain: string): Promise<number> {
  return Number((await redis.hget(directoryKeys(domain).usage, 'messagesRelayed')) ?? 0);
}

/** Sends `count` messages from `client` to identity `to`, each acknowledged before the next. */
async function sendMany(client: RawClient, to: string, count: number, prefix: string) {
  const before = client.of('sent').length;
  for (let i = 0; i < count; i++) {
    client.send({ t: 'send', id: `${prefix}-${i}`, to: [`identity:${to}`], data: 'aGk=' });
  }
  await waitFor(
    () => {
      const error = client.of('error')[0];
      if (error !== undefined) throw new Error(`send refused: ${JSON.stringify(error)}`);
      return client.of('sent').length >= before + count;
    },
    `${count} "sent" frames`,
    5000,
    10,
  );
}

const identities = { alice: ['a1', 'a2', 'a3'], bob: ['b1'], carol: ['c1'] };

describe('device revocation and usage counters (single Redis, two relays)', () => {
  let stack: RelayStack<RedisServer>;
  let redis: Redis;
  let relayA: RelayProcess;
  let relayB: RelayProcess;
  let acme: TestDomain;
  let beta: TestDomain;
  const open: RawClient[] = [];

  beforeAll(async () => {
    stack = await startRelayStack({
      relays: 2,
      seed: { acme: { identities }, beta: { identities } },
    });
    [redis, relayA, relayB] = [stack.inspect, stack.relay(0), stack.relay(1)];
    [acme, beta] = [stack.domain('acme'), stack.domain('beta')];
  }, 60_000);

  afterAll(async () => {
    for (const client of open) client.close();
    await stack.stop();
  });

  it('closes a revoked WebSocket device with 4105 within a second, and refuses it after', async () => {
    const device = await RawClient.hello(relayB, await tokenFor(acme, 'alice', 'a1'));
    open.push(device);
    const started = Date.now();
    await revoke(redis, 'acme', 'a1');
    const closed = await device.closed;
    expect(Date.now() - started).toBeLessThan(1000);
    expect(closed.code).toBe(CloseCode.revoked);
    expect(device.of('error').map((frame) => frame.code)).toEqual(['AUTH_REVOKED']);

    // Both relays heard the revocation, though the device never connected to relay A.
    for (const relay of [relayB, relayA]) {
      const again = await RawClient.open(relay);
      open.push(again);
      again.send({ t: 'hello', token: await tokenFor(acme, 'alice', 'a1') });
      expect((await again.closed).code).toBe(CloseCode.revoked);
      expect(again.of('welcome')).toEqual([]);
    }
  });

  it('leaves the other devices of the same identity connected', async () => {
    const revoked = await RawClient.hello(relayA, await tokenFor(acme, 'alice', 'a2'));
    const sibling = await RawClient.hello(relayA, await tokenFor(acme, 'alice', 'a3'));
    open.push(revoked, sibling);
    await revoke(redis, 'acme', 'a2');
    expect((await revoked.closed).code).toBe(CloseCode.revoked);
    await sleep(200);
    sibling.send({ t: 'ping' });
    await sibling.next('pong');
    expect(sibling.ws.readyState).toBe(sibling.ws.OPEN);
  });

  it('answers a waiting long poll of a revoked device with 403 AUTH_REVOKED', async () => {
    const token = await tokenFor(acme, 'bob', 'b1');
    const headers = { authorization: `Bearer ${token}` };
    const waiting = fetch(`${relayA.httpUrl}/v1/poll?wait=20`, { headers });
    await sleep(300);
    const started = Date.now();
    await revoke(redis, 'acme', 'b1');
    const response = await waiting;
    expect(Date.now() - started).toBeLessThan(1000);
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ error: { code: 'AUTH_REVOKED' } });
    const next = await fetch(`${relayA.httpUrl}/v1/poll?wait=0`, { headers });
    expect(next.status).toBe(403);
  });

  it('makes the SDK stop for good with an AUTH_REVOKED error', async () => {
    const client = new GroveClient({
      relays: [relayB.url, relayA.url],
      token: await tokenFor(acme, 'carol', 'c1'),
      backoff: { initialMs: 20, maxMs: 50 },
    });
    let disconnects = 0;
    client.on('disconnected', () => disconnects++);
    const fatal = new Promise<ConnectionRefused>((resolve) => client.once('fatal', resolve));
    await client.start();
    await revoke(redis, 'acme', 'c1');
    const error = await fatal;
    expect(error.code).toBe(4105);
    expect(error.errorCode).toBe('AUTH_REVOKED');
    expect(error.message).toMatch(/^AUTH_REVOKED: /);
    await sleep(300);
    // No reconnect attempt: a second link would have reported a second disconnect.
    expect(disconnects).toBe(1);
    await expect(client.send(['alice'], 'hi')).rejects.toThrow('client is closed');
    await client.close();
  });

  it('closes a device removed from the directory while its relay was not subscribed', async () => {
    const device = await RawClient.hello(relayB, await tokenFor(acme, 'alice', 'a3'));
    open.push(device);
    // The revocation is missed: the relays' subscriber connections are cut and no
    // `revoke:` message is published; the check after resubscribing must find it.
    await redis.hdel(directoryKeys('acme').devices, 'a3');
    expect(Number(await redis.call('CLIENT', 'KILL', 'TYPE', 'pubsub'))).toBeGreaterThanOrEqual(2);
    const closed = await Promise.race([device.closed, sleep(5000).then(() => undefined)]);
    expect(closed?.code).toBe(CloseCode.revoked);
  });

  it('counts accepted sends per domain in Redis within about a second, retries once', async () => {
    const sender = await RawClient.hello(relayA, await tokenFor(beta, 'bob', 'b1'));
    const other = await RawClient.hello(relayB, await tokenFor(beta, 'carol', 'c1'));
    open.push(sender, other);
    expect(await usage(redis, 'beta')).toBe(0);
    await sendMany(sender, 'alice', 30, 'x');
    await sendMany(other, 'alice', 12, 'y');
    // A retry of an acknowledged send queues nothing and is not counted again.
    await sendMany(sender, 'alice', 1, 'x');
    const sentAt = Date.now();
    await waitFor(async () => (await usage(redis, 'beta')) === 42, 'usage of 42', 2500, 50);
    expect(Date.now() - sentAt).toBeLessThan(2500);
    await sleep(1200);
    expect(await usage(redis, 'beta')).toBe(42);
    expect(await usage(redis, 'acme')).toBe(0);
  });

  it('has every send counted once it has drained', async () => {
    const relayC = await stack.addRelay({
      domains: ['beta'],
      config: { drain: { gracePeriodSeconds: 10, batchSize: 100, batchIntervalMs: 0 } },
    });
    try {
      const sender = await RawClient.hello(relayC, await tokenFor(beta, 'alice', 'a1'));
      open.push(sender);
      const before = await usage(redis, 'beta');
      await sendMany(sender, 'bob', 5, 'z');
      // Sent within the relay's first second: the periodic flush has not run yet.
      expect(await relayC.terminate()).toBe(0);
      expect(await usage(redis, 'beta')).toBe(before + 5);
    } finally {
      await relayC.kill9();
    }
  });
});

describe('device revocation and usage counters on a 3-master Redis Cluster', () => {
  let stack: RelayStack<RedisCluster>;
  let redis: Cluster;
  let relayA: RelayProcess;
  let relayB: RelayProcess;
  let acme: TestDomain;
  const open: RawClient[] = [];

  beforeAll(async () => {
    stack = await startRelayStack({ redis: 'cluster', relays: 2, seed: { acme: { identities } } });
    [redis, relayA, relayB] = [stack.inspect, stack.relay(0), stack.relay(1)];
    acme = stack.domain('acme');
  }, 60_000);

  afterAll(async () => {
    for (const client of open) client.close();
    await stack.stop();
  });

  it('closes a revoked device with 4105 within a second on every relay', async () => {
    const onA = await RawClient.hello(relayA, await tokenFor(acme, 'alice', 'a1'));
    const onB = await RawClient.hello(relayB, await tokenFor(acme, 'bob', 'b1'));
    open.push(onA, onB);
    const started = Date.now();
    await revoke(redis, 'acme', 'b1');
    expect((await onB.closed).code).toBe(CloseCode.revoked);
    expect(Date.now() - started).toBeLessThan(1000);
    const again = await RawClient.open(relayA);
    open.push(again);
    again.send({ t: 'hello', token: await tokenFor(acme, 'bob', 'b1') });
    expect((await again.closed).code).toBe(CloseCode.revoked);
    expect(onA.ws.readyState).toBe(onA.ws.OPEN);
  });

  it('counts accepted sends in the domain usage hash', async () => {
    const sender = await RawClient.hello(relayB, await tokenFor(acme, 'carol', 'c1'));
    open.push(sender);
    await sendMany(sender, 'alice', 20, 'u');
    await waitFor(async () => (await usage(redis, 'acme')) === 20, 'usage of 20', 2500, 50);
  });
});
