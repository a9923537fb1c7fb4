import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis, type Cluster } from 'ioredis';
import type { PresenceChange } from '../../client/sdk/grove-client.js';
import { deviceKeys } from '../../contracts/redis/keys.js';
import { sleep, waitFor } from '../../test/support/ports.js';
import type { RedisCluster } from '../../test/support/redis-server.js';
import type { RelayProcess } from '../../test/support/relay-process.js';
import { startRelayStack, type RelayStack } from '../../test/support/relay-stack.js';

const DOMAIN = 'acme';

describe('core flows on a 3-master Redis Cluster', () => {
  let stack: RelayStack<RedisCluster>;
  let cluster: RedisCluster;
  let inspect: Cluster;
  let relayA: RelayProcess;
  let relayB: RelayProcess;

  const connect = (identity: string, device: string, relays: string[]) =>
    stack.client(identity, device, { relays });

  const queueLength = (device: string) => inspect.llen(deviceKeys(DOMAIN, device).queue);
  /** The port of the master that owns `key`. */
  async function ownerPort(key: string): Promise<number | undefined> {
    const slot = await inspect.cluster('KEYSLOT', key);
    const slots = await inspect.cluster('SLOTS');
    return slots.find(([from, to]) => slot >= from && slot <= to)?.[2]?.[1];
  }

  // Devices named so that their keys spread over all three masters (checked below).
  const members = [
    { id: 'alice', devices: ['a1', 'a2', 'a3'] },
    { id: 'bob', devices: ['b1', 'b2', 'b3'] },
    { id: 'carol', devices: ['c1', 'c2', 'c3'] },
  ];

  beforeAll(async () => {
    stack = await startRelayStack({
      redis: 'cluster',
      relays: 2,
      seed: {
        [DOMAIN]: {
          identities: {
            ...Object.fromEntries(members.map((m) => [m.id, m.devices])),
            dave: ['d1', 'd2'],
          },
          workspaces: { team: ['alice', 'bob', 'carol'] },
        },
      },
      // dave, no member of the team, sends its fan-outs.
      limits: { [DOMAIN]: { workspaceSend: 'domain' } },
    });
    [cluster, inspect] = [stack.redis, stack.inspect];
    [relayA, relayB] = [stack.relay(0), stack.relay(1)];
  }, 60_000);

  afterAll(async () => {
    await stack.stop();
  });

  it('spreads device queues over every master', async () => {
    const owners = new Set<number | undefined>();
    for (const device of members.flatMap((m) => m.devices)) {
      owners.add(await ownerPort(deviceKeys(DOMAIN, device).queue));
    }
    expect(owners).toEqual(new Set(cluster.nodes.map((node) => node.port)));
  });

  it('delivers an offline backlog exactly once, in order, through a relay other than the sender', async () => {
    const { client: sender } = await connect('dave', 'd1', [relayA.url]);
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push((await sender.send(['device:b1'], `backlog ${i}`)).id);
    expect(await queueLength('b1')).toBe(10);
    const receiver = await connect('bob', 'b1', [relayB.url]);
    await waitFor(() => receiver.got.length >= 10, 'backlog');
    expect(receiver.got.map((m) => m.id)).toEqual(ids);
    await waitFor(async () => (await queueLength('b1')) === 0, 'acks');
    await Promise.all([sender.close(), receiver.client.close()]);
  });

  it('fans out to every device of every member across all shards, acking after every queue has it', async () => {
    const { client: sender } = await connect('alice', 'a1', [relayA.url]);
    const receipt = await sender.send(['workspace:team'], 'sharded fan-out');
    expect(receipt).toEqual({ id: receipt.id, recipients: 8, duplicates: 0 });
    const recipients = ['a2', 'a3', 'b2', 'b3', 'c1', 'c2', 'c3', 'b1'];
    const lengths = await Promise.all(recipients.map(queueLength));
    expect(lengths).toEqual(recipients.map(() => 1));
    expect(await queueLength('a1')).toBe(0);

    const again = await sender.send(['workspace:team'], 'sharded fan-out', { id: receipt.id });
    expect(again).toEqual({ id: receipt.id, recipients: 8, duplicates: 8 });
    expect(await Promise.all(recipients.map(queueLength))).toEqual(recipients.map(() => 1));

    const connected = await Promise.all(
      recipients.map((device, i) =>
        connect(members.find((m) => m.devices.includes(device))?.id ?? '', device, [
          i % 2 === 0 ? relayA.url : relayB.url,
        ]),
      ),
    );
    await waitFor(() => connected.every((r) => r.got.length >= 1), 'every recipient');
    await sleep(200);
    for (const { got } of connected) expect(got.map((m) => m.id)).toEqual([receipt.id]);
    await Promise.all([sender.close(), ...connected.map((r) => r.client.close())]);
  });

  it('wakes a device online on another relay through sharded pub/sub, for devices on every shard', async () => {
    const { client: sender } = await connect('dave', 'd2', [relayA.url]);
    const devices = ['a2', 'b2', 'c2'];
    const online = await Promise.all(
      devices.map((device) =>
        connect(members.find((m) => m.devices.includes(device))?.id ?? '', device, [relayB.url]),
      ),
    );
    const receipts = await Promise.all(
      devices.map((device) => sender.send([`device:${device}`], 'wake')),
    );
    await waitFor(() => online.every((r) => r.got.length >= 1), 'wake-ups on every shard', 5000);
    online.forEach(({ got }, i) => expect(got.map((m) => m.id)).toEqual([receipts[i]?.id]));
    await Promise.all([sender.close(), ...online.map((r) => r.client.close())]);
  });

  it('retries sends and fan-outs through a master restart and keeps waking the online device', async () => {
    const { client: sender } = await connect('dave', 'd2', [relayA.url]);
    const receiver = await connect('alice', 'a3', [relayB.url]);
    const first = await sender.send(['device:a3'], 'before');
    await waitFor(() => receiver.got.length >= 1, 'first delivery');
    const port = await ownerPort(deviceKeys(DOMAIN, 'a3').queue);
    const node = cluster.nodes.find((n) => n.port === port);
    if (node === undefined) throw new Error('no master owns the queue of a3');
    await node.kill();
    const during = sender.send(['device:a3'], 'during the restart');
    // A fan-out over all shards while one is down: acked only once every queue has it.
    const team = sender.send(['workspace:team'], 'to every shard during the restart');
    await sleep(1000);
    await node.launch();
    const receipt = await during;
    expect(receipt.duplicates).toBe(0);
    const teamReceipt = await team;
    expect(teamReceipt.recipients).toBe(9);
    const offline = ['a1', 'a2', 'b1', 'b2', 'b3', 'c1', 'c2', 'c3'];
    expect(await Promise.all(offline.map(queueLength))).toEqual(offline.map(() => 1));
    await waitFor(() => receiver.got.length >= 3, 'delivery after the restart', 10_000);
    const after = await sender.send(['device:a3'], 'after the restart');
    await waitFor(() => receiver.got.length >= 4, 'wake-up after the restart', 10_000);
    await sleep(200);
    const ids = receiver.got.map((m) => m.id);
    // The two retried sends may be queued in either order; each arrives once.
    expect([ids[0], [...ids.slice(1, 3)].sort(), ids[3], ids.length]).toEqual([
      first.id,
      [receipt.id, teamReceipt.id].sort(),
      after.id,
      4,
    ]);
    await Promise.all([sender.close(), receiver.client.close()]);
  });

  it('delivers messages whose wake-ups were published while a shard subscriber reconnected', async () => {
    const { client: sender } = await connect('dave', 'd2', [relayA.url]);
    const receiver = await connect('dave', 'd1', [relayB.url]);
    const first = await sender.send(['device:d1'], 'before');
    await waitFor(() => receiver.got.length >= 1, 'first delivery');
    await Promise.all(
      cluster.startupNodes.map(async ({ port }) => {
        const node = new Redis(port, '127.0.0.1');
        try {
          await node.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
        } finally {
          node.disconnect();
        }
      }),
    );
    const lost = await sender.send(['device:d1'], 'while resubscribing');
    await waitFor(() => receiver.got.length >= 2, 'delivery without a further wake-up', 5000);
    expect(receiver.got.map((m) => m.id)).toEqual([first.id, lost.id]);
    await Promise.all([sender.close(), receiver.client.close()]);
  });

  it('reports presence across relays and takes a kill -9 relay devices offline', async () => {
    const relayC = await stack.addRelay();
    try {
      const { client: watching } = await connect('dave', 'd1', [relayA.url]);
      const events: PresenceChange[] = [];
      watching.on('presence', (event: PresenceChange) => events.push(event));
      watching.watch(['carol']);
      await sleep(100);
      const carol = await connect('carol', 'c3', [relayB.url]);
      await waitFor(() => events.length >= 1, 'online');
      carol.client.setStatus('idle');
      await waitFor(() => events.length >= 2, 'idle');
      await carol.client.close();
      await waitFor(() => events.length >= 3, 'offline');
      await connect('carol', 'c1', [relayC.url]);
      await waitFor(() => events.length >= 4, 'online on relay C');
      await relayC.kill9();
      await waitFor(() => events.length >= 5, 'offline after the crash', 6000);
      expect(events).toEqual([
        { identity: 'carol', device: 'c3', state: 'online', status: 'active' },
        { identity: 'carol', device: 'c3', state: 'online', status: 'idle' },
        { identity: 'carol', device: 'c3', state: 'offline' },
        { identity: 'carol', device: 'c1', state: 'online', status: 'active' },
        { identity: 'carol', device: 'c1', state: 'offline' },
      ]);
      await watching.close();
    } finally {
      await relayC.kill9();
    }
  });
});
