import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import {
  ackScript,
  claimScript,
  enqueueManyScript,
  enqueueScript,
  fetchScript,
  presenceOfflineScript,
  presenceOnlineScript,
} from './scripts.js';

export interface RedisTarget {
  /** `redis://[user:pass@]host:port[/db]`, or for a cluster a comma-separated list of `host:port` seeds. */
  url: string;
  cluster: boolean;
  password?: string | undefined;
}

type Reply = (string | number | null)[];

/** The Lua scripts as commands (ioredis sends EVALSHA and falls back to EVAL once). */
export interface GroveCommands {
  /** The number of keys comes first: three per device. */
  groveEnqueueMany(numberOfKeys: number, ...args: (string | number)[]): Promise<number[]>;
  groveEnqueue(
    meta: string,
    queue: string,
    ids: string,
    ...args: (string | number)[]
  ): Promise<number[]>;
  groveFetch(meta: string, queue: string, ...args: (string | number)[]): Promise<Reply>;
  groveAck(
    meta: string,
    queue: string,
    upTo: number,
    epoch: string,
    ...told: number[]
  ): Promise<number[]>;
  groveClaim(
    meta: string,
    queue: string,
    epoch: string,
    conn: string,
    channel: string,
  ): Promise<Reply>;
  grovePresenceOnline(key: string, ...args: string[]): Promise<number>;
  grovePresenceOffline(key: string, ...args: string[]): Promise<number>;
}

export type RedisClient = (Redis | Cluster) & GroveCommands;

const scripts: Record<keyof GroveCommands, { lua: string; keys?: number }> = {
  groveEnqueue: { lua: enqueueScript, keys: 3 },
  groveEnqueueMany: { lua: enqueueManyScript },
  groveFetch: { lua: fetchScript, keys: 2 },
  groveAck: { lua: ackScript, keys: 2 },
  groveClaim: { lua: claimScript, keys: 2 },
  grovePresenceOnline: { lua: presenceOnlineScript, keys: 1 },
  grovePresenceOffline: { lua: presenceOfflineScript, keys: 1 },
};

function seeds(url: string): { host: string; port: number }[] {
  return url.split(',').map((seed) => {
    const withoutScheme = seed.trim().replace(/^rediss?:\/\//, '');
    const [host, port] = withoutScheme.split(':');
    return { host: host ?? '127.0.0.1', port: Number(port ?? 6379) };
  });
}

/**
 * Opens a command connection (with the Grove scripts) or, with `subscriber`, a connection
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
  for (const [name, { lua, keys }] of Object.entries(scripts)) {
    client.defineCommand(name, keys === undefined ? { lua } : { lua, numberOfKeys: keys });
  }
  // Errors are reported through the commands that fail and the readiness probe; without a
  // listener ioredis would print every reconnect attempt.
  client.on('error', () => undefined);
  return client as RedisClient;
}
