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

/** The longest pause between two reconnect attempts. */
export const MAX_RECONNECT_DELAY_MS = 500;
/** How long one connect attempt may take before it counts as failed. */
export const CONNECT_TIMEOUT_MS = 2000;

/**
 * The pause before reconnect attempt `times` (1, 2, …): 50 ms doubling to 500 ms, ±20 % so
 * that a fleet of relays does not knock on a restarted Redis in lockstep. Short on purpose:
 * when a Redis pod is replaced, every relay waits for its next attempt after Redis is back,
 * so the cap is the longest traffic pause this adds (it was 2 s). Attempts against a Redis
 * that is still down cost one refused connection or DNS miss each.
 */
export function reconnectDelay(times: number, random: () => number = Math.random): number {
  const base = Math.min(50 * 2 ** Math.max(0, times - 1), MAX_RECONNECT_DELAY_MS);
  return Math.round(base * (0.8 + 0.4 * random()));
}

/**
 * Opens a command connection or, with `subscriber`, a connection
 * for sharded pub/sub. Commands are auto-pipelined: concurrent fan-out enqueues to many
 * devices go out in one write per node. Commands fail fast while Redis is down (so a
 * send is refused rather than hanging) and the client keeps reconnecting (reconnectDelay).
 */
export function connectRedis(target: RedisTarget, role: 'commands' | 'subscriber'): RedisClient {
  const retryStrategy = (times: number) => reconnectDelay(times);
  const common: RedisOptions = {
    enableAutoPipelining: role === 'commands',
    maxRetriesPerRequest: 2,
    // A replaced pod's old address may not answer at all (no refusal): give up on it quickly.
    connectTimeout: CONNECT_TIMEOUT_MS,
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
  // Errors are reported through the commands that fail, the readiness probe and RedisHealth
  // (redis-health.ts); without a listener ioredis would print every reconnect attempt.
  client.on('error', () => undefined);
  return client;
}
