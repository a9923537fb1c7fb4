import { afterAll, beforeAll } from '@jest/globals';
import type { RedisTarget } from '../../contracts/redis/connection.js';
import { RedisCluster, RedisServer } from './redis-server.js';

/** A row of `describe.each` / `it.each`: the name, and the target once the servers run. */
export type RedisKindRow = [name: string, target: () => RedisTarget];

/**
 * Starts a single Redis and a 3-master Redis Cluster for the enclosing block (beforeAll,
 * stopped in afterAll) and returns one row for each, so the same tests run on both:
 *
 *     describe.each(withRedisKinds())('the store on %s', (_name, target) => { … });
 *
 * Called at the top of a file, the servers are shared by the whole file.
 */
export function withRedisKinds(): RedisKindRow[] {
  let server: RedisServer | undefined;
  let cluster: RedisCluster | undefined;
  beforeAll(async () => {
    // Each kept as soon as it runs: afterAll stops whatever started, even if the other failed.
    await Promise.all([
      RedisServer.start().then((started) => (server = started)),
      RedisCluster.start(3).then((started) => (cluster = started)),
    ]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([server?.stop(), cluster?.stop()]);
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('the Redis servers are not started yet');
    return value;
  };
  return [
    ['a single Redis', () => started(server).target],
    ['a Redis Cluster', () => started(cluster).target],
  ];
}
