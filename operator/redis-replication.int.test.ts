// What the operator reports of a RelayPool's replicated Redis: the primary the Sentinels name
// and each replica's lag, read from real redis-server and Sentinel processes, before and after
// a failover.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parseReplication } from '../contracts/redis/replica-acks.js';
import { waitFor } from '../test/support/ports.js';
import { RedisSentinelGroup } from '../test/support/redis-sentinel.js';
import { Redis } from 'ioredis';
import {
  readRedisReplication,
  replicationStatus,
  repointChainedReplicas,
} from './redis-replication.js';

let group: RedisSentinelGroup;

beforeAll(async () => {
  group = await RedisSentinelGroup.start({ replicas: 2, sentinels: 3, downAfterMs: 1000 });
}, 120_000);

afterAll(async () => {
  await group.stop();
});

describe('reading the replication of a Redis behind Sentinels', () => {
  it('points a replica that follows another replica back at the primary', async () => {
    const primary = await group.primary();
    const [first, second] = group.replicasOf(primary);
    if (first === undefined || second === undefined) throw new Error('two replicas expected');
    // A chain as a rolling restart leaves it: the second replica follows the first.
    const client = new Redis({ port: second.port, lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await client.connect();
      await client.call('REPLICAOF', '127.0.0.1', String(first.port));
    } finally {
      client.disconnect();
    }
    await waitFor(
      async () => (await readRedisReplication(group.target)).replicas.length === 1 || undefined,
      'the primary to list one replica',
      20_000,
      100,
    );
    const servers = group.servers.map((s) => ({ host: '127.0.0.1', port: s.port }));
    expect(await repointChainedReplicas(group.target, servers)).toEqual([
      `127.0.0.1:${second.port}`,
    ]);
    const repaired = await waitFor(
      async () => {
        const status = await readRedisReplication(group.target);
        return status.replicas.filter((r) => r.state === 'online').length === 2 && status;
      },
      'both replicas on the primary again',
      20_000,
      100,
    );
    expect(repaired.primary).toBe(`127.0.0.1:${primary.port}`);
    // Nothing chained any more: nothing to do.
    expect(await repointChainedReplicas(group.target, servers)).toEqual([]);
  }, 60_000);

  it('names the primary and its replicas in sync, and the new primary after a failover', async () => {
    const first = await group.primary();
    const status = await readRedisReplication(group.target);
    expect(status.primary).toBe(`127.0.0.1:${first.port}`);
    expect(status.replicas.map((r) => r.pod).sort()).toEqual(
      group
        .replicasOf(first)
        .map((s) => `127.0.0.1:${s.port}`)
        .sort(),
    );
    expect(status.replicas.every((r) => r.state === 'online' && r.lagBytes >= 0)).toBe(true);

    await first.kill();
    const promoted = await group.waitForNewPrimary(first);
    const after = await waitFor(
      async () => {
        const current = await readRedisReplication(group.target);
        return current.primary === `127.0.0.1:${promoted.port}` && current;
      },
      'the new primary reported',
      20_000,
      200,
    );
    // The old primary is down: one replica left.
    expect(after.replicas.length).toBeLessThanOrEqual(1);
    await first.launch();
  }, 90_000);

  it('rejects, naming the master, when no Sentinel answers', async () => {
    await expect(
      readRedisReplication({ url: 'sentinel://127.0.0.1:1/grove', cluster: false }, 300),
    ).rejects.toThrow(/no Sentinel of grove named a primary/);
  });

  it('names pods by the host name they announce, and counts the lag in bytes', () => {
    const info = parseReplication(
      [
        'role:master',
        'slave0:ip=main-redis-1.main-redis.grove.svc,port=6379,state=online,offset=900,lag=0',
        'slave1:ip=main-redis-2.main-redis.grove.svc,port=6379,state=send_bulk,offset=0,lag=3',
        'master_repl_offset:1000',
      ].join('\r\n'),
    );
    expect(
      replicationStatus({ host: 'main-redis-0.main-redis.grove.svc', port: 6379 }, info),
    ).toEqual({
      primary: 'main-redis-0',
      replicas: [
        { pod: 'main-redis-1', state: 'online', lagBytes: 100, lastAckSeconds: 0 },
        { pod: 'main-redis-2', state: 'send_bulk', lagBytes: 1000, lastAckSeconds: 3 },
      ],
    });
  });
});
