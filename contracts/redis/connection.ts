import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';

export interface RedisTarget {
  /** `redis://[user:pass@]host:port[/db]`, or for a cluster a comma-separated list of `host:port` seeds. */
  url: string;
  cluster: boolean;
  password?: string | undefined;
}

/** A command or subscriber connection; Lua scripts run through script-runner.ts. */
export type RedisClient = Redis | Cluster;

function seeds(url: string): { host: string; port: number }[] {
  return url.split(',').map((seed) => {
    const withoutScheme = seed.trim().replace(/^rediss?:\/\//, '');
    const [host, port] = withoutScheme.split(':');
    return { host: host ?? '127.0.0.1', port: Number(port ?? 6379) };
  });
}

/**
 * Opens a command connection or, with `subscriber`, a connection
 * for sharded pub/sub. Commands are auto-pipelined: concurrent fan-out enqueues to many
 * devices go out in one write per node. Commands fail fast while Redis is down (so a
 * send is refused rather than hanging) and the client keeps reconnecting.
 */
export function connectRedis(target: RedisTarget, role: 'commands' | 'subscriber'): RedisClient {
  const retryStrategy = (times: number) => Math.min(50 * 2 ** Math.min(times, 6), 2000);
  const common: RedisOptions = {
    enableAutoPipelining: role === 'commands',
    maxRetriesPerRequest: 2,
    retryStrategy,
    connectionName: `grove-${role}`,
    ...(target.password === undefined ? {} : { password: target.password }),
  };
  let client: Redis | Cluster;
  if (target.cluster) {
    const options: ClusterOptions = {
      redisOptions: common,
      enableAutoPipelining: role === 'commands',
      shardedSubscribers: role === 'subscriber',
      clusterRetryStrategy: retryStrategy,
      clusterNodeRetryStrategy: retryStrategy,
    };
    client = new Cluster(seeds(target.url), options);
  } else {
    client = new Redis(target.url, common);
  }
  // Errors are reported through the commands that fail and the readiness probe; without a
  // listener ioredis would print every reconnect attempt.
  client.on('error', () => undefined);
  return client;
}
