// Redis with replicas and Sentinel behind the relays: a send is acknowledged only once a replica
// has it (WAIT), so kill -9 of the primary under steady traffic loses nothing acknowledged; with
// no replica in sync, sends are refused (retryable) rather than acknowledged. Real processes:
// a primary, two replicas, three Sentinels, two `grove relay`s and SDK clients.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { GroveClient } from '../../client/sdk/grove-client.js';
import { sleep, waitFor } from '../../test/support/ports.js';
import { RawClient } from '../../test/support/raw-client.js';
import { RedisSentinelGroup } from '../../test/support/redis-sentinel.js';
import { RelayStack } from '../../test/support/relay-stack.js';

const SENDERS = ['s1', 's2', 's3', 's4'];
const RECEIVERS = ['r1', 'r2', 'r3', 'r4'];

let group: RedisSentinelGroup;
let stack: RelayStack<RedisSentinelGroup>;

beforeAll(async () => {
  group = await RedisSentinelGroup.start({ replicas: 2, sentinels: 3, downAfterMs: 1000 });
  const identities: Record<string, string[]> = {};
  for (const device of [...SENDERS, ...RECEIVERS]) identities[device] = [device];
  stack = await RelayStack.start(group, {
    relays: 2,
    seed: { acme: { identities } },
    relayConfig: { redis: { ...group.target, replicaAcks: { replicas: 1, timeoutMs: 1000 } } },
  });
}, 120_000);

afterAll(async () => {
  await stack.stop();
});

describe('a relay on Redis with replicas and Sentinel', () => {
  it('refuses sends (retryable) while no replica is in sync, and acknowledges them again once one is', async () => {
    const sender = await RawClient.hello(stack.relay(), await stack.token('acme', 's1', 's1'));
    try {
      const answer = (id: string) =>
        waitFor(
          () => sender.frames.find((f) => (f.t === 'sent' || f.t === 'error') && f.id === id),
          `an answer to ${id}`,
          10_000,
          10,
        );
      const send = (id: string) =>
        sender.send({
          t: 'send',
          id,
          to: ['device:r1'],
          data: Buffer.from(id).toString('base64'),
        });
      send('with-replicas');
      expect(await answer('with-replicas')).toMatchObject({ t: 'sent', recipients: 1 });

      const primary = await group.primary();
      const replicas = group.replicasOf(primary);
      await Promise.all(replicas.map((replica) => replica.kill()));
      const started = Date.now();
      send('no-replica');
      expect(await answer('no-replica')).toMatchObject({
        t: 'error',
        code: 'STORAGE_UNAVAILABLE',
        retryAfterMs: 500,
      });
      // Refused within the WAIT timeout (1 s) plus the machine, never acknowledged.
      expect(Date.now() - started).toBeLessThan(5000);
      // Once the relay has seen the replicas gone, refusals are immediate.
      await sleep(1500);
      const fast = Date.now();
      send('no-replica-2');
      expect(await answer('no-replica-2')).toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
      expect(Date.now() - fast).toBeLessThan(500);

      await Promise.all(replicas.map((replica) => replica.launch()));
      await waitFor(
        async () => (await group.replication(primary)).replicasOnline === replicas.length,
        'the replicas back in sync',
        20_000,
      );
      // The SDK's retry: the same id again, until acknowledged.
      let acked = false;
      for (let attempt = 0; !acked && attempt < 50; attempt++) {
        const id = 'no-replica';
        sender.frames.length = 0;
        send(id);
        acked = (await answer(id)).t === 'sent';
        if (!acked) await sleep(200);
      }
      expect(acked).toBe(true);
    } finally {
      sender.close();
    }
  }, 90_000);

  it('loses no acknowledged message when the primary is killed (kill -9) under steady traffic', async () => {
    const received = new Map<string, Set<string>>();
    const receivers: GroveClient[] = [];
    for (const device of RECEIVERS) {
      const got = new Set<string>();
      received.set(device, got);
      const { client } = await stack.client(device, device, {
        domain: 'acme',
        onMessage: (message) => {
          got.add(message.id);
        },
      });
      receivers.push(client);
    }
    const senders: GroveClient[] = [];
    for (const device of SENDERS) {
      senders.push((await stack.client(device, device, { domain: 'acme' })).client);
    }

    // Each sender sends to its receiver, one message after the other, as fast as acks come.
    const acked: { id: string; to: string; at: number }[] = [];
    let sending = true;
    let counter = 0;
    const loops = senders.map(async (client, i) => {
      const to = RECEIVERS[i] ?? 'r1';
      while (sending) {
        const id = `m-${i}-${String(counter++).padStart(6, '0')}`;
        await client.send([`device:${to}`], id, { id });
        acked.push({ id, to, at: Date.now() });
      }
    });

    await sleep(2000);
    const primary = await group.primary();
    const killedAt = Date.now();
    const ackedBeforeKill = acked.length;
    await primary.kill();
    const promoted = await group.waitForNewPrimary(primary);
    const promotedAt = Date.now();
    // Traffic resumes on the new primary; the old one comes back (a pod restarted with its
    // volume) and must rejoin as a replica, not as a second primary.
    await waitFor(
      () => acked.some((a) => a.at > promotedAt),
      'an acknowledgement after the failover',
      30_000,
    ).catch((error: unknown) => {
      // Say what the relays saw: alive or not, their last log lines.
      const relays = stack.relays.map(
        (relay) =>
          `relay ${relay.url} running=${String(relay.running)}:\n${relay.process.tail(40)}`,
      );
      throw new Error(`${String(error)}\n${relays.join('\n')}`);
    });
    await primary.launch();
    await waitFor(
      async () => {
        const state = await group.replication(primary);
        return state.role === 'slave' && state.linkUp;
      },
      'the old primary to rejoin as a replica',
      30_000,
      200,
    );
    await sleep(2000);
    sending = false;
    await Promise.all(loops);

    const delivered = () => acked.filter((a) => received.get(a.to)?.has(a.id) === true).length;
    await waitFor(
      () => delivered() === acked.length,
      'every acknowledged message delivered',
      60_000,
      100,
    ).catch(() => undefined);
    const lost = acked.filter((a) => received.get(a.to)?.has(a.id) !== true);
    // The longest time no send was acknowledged, around the kill.
    const times = [killedAt, ...acked.map((a) => a.at).filter((at) => at >= killedAt)].sort(
      (a, b) => a - b,
    );
    let outageMs = 0;
    for (let i = 1; i < times.length; i++) {
      outageMs = Math.max(outageMs, (times[i] ?? 0) - (times[i - 1] ?? 0));
    }
    const report = {
      acked: acked.length,
      ackedBeforeKill,
      delivered: delivered(),
      lost: lost.length,
      timeWithoutServiceMs: outageMs,
      failoverMs: promotedAt - killedAt,
      newPrimaryPort: promoted.port,
    };
    console.log(`primary kill -9 under traffic: ${JSON.stringify(report)}`);
    expect(lost.map((a) => a.id)).toEqual([]);
    expect(acked.length).toBeGreaterThan(ackedBeforeKill);
    expect(promoted).not.toBe(primary);
  }, 180_000);
});
