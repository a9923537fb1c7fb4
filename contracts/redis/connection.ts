import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';

export interface RedisTarget {
  /**
   * `redis://[user:pass@]host:port[/db]`; for a cluster a comma-separated list of `host:port`
   * seeds; for a primary watched by Redis Sentinel `sentinel://host:port,host:port,…/MASTER`
   * (the Sentinels' addresses and the name they monitor the primary under).
   */
  url: string;
  cluster: boolean;
  password?: string | undefined;
  /** The Sentinels' own password (sentinel:// only), when they ask for one. */
  sentinelPassword?: string | undefined;
}

/** Where a RedisTarget points: one server, a cluster's seeds, or Sentinels and a master name. */
export type RedisTopology =
  | { kind: 'standalone'; url: string }
  | { kind: 'cluster'; seeds: { host: string; port: number }[] }
  | { kind: 'sentinel'; sentinels: { host: string; port: number }[]; masterName: string };

/** The default port of a Sentinel. */
export const SENTINEL_PORT = 26379;

/**
 * Reads a target's URL: `sentinel://h1:26379,h2:26379/mymaster` (port 26379 when omitted),
 * cluster seeds when `cluster` is set, else a `redis://` URL. Throws, naming the problem, on a
 * sentinel URL without a master name or with `cluster` set.
 */
export function redisTopology(target: Pick<RedisTarget, 'url' | 'cluster'>): RedisTopology {
  const sentinel = /^sentinel:\/\/([^/]*)\/([^/?#]*)$/.exec(target.url.trim());
  if (target.url.trim().startsWith('sentinel://')) {
    if (target.cluster) throw new Error('a sentinel:// URL cannot be a Redis Cluster');
    const hosts = sentinel?.[1] ?? '';
    const masterName = decodeURIComponent(sentinel?.[2] ?? '');
    if (sentinel === null || masterName === '' || hosts === '') {
      throw new Error(
        `a Sentinel URL is sentinel://HOST:PORT[,HOST:PORT…]/MASTER_NAME, got ${JSON.stringify(target.url)}`,
      );
    }
    return { kind: 'sentinel', sentinels: seeds(hosts, SENTINEL_PORT), masterName };
  }
  if (target.cluster) return { kind: 'cluster', seeds: seeds(target.url, 6379) };
  return { kind: 'standalone', url: target.url };
}

/** A command or subscriber connection; Lua scripts run through script-runner.ts. */
export type RedisClient = Redis | Cluster;

function seeds(url: string, defaultPort: number): { host: string; port: number }[] {
  return url.split(',').map((seed) => {
    const withoutScheme = seed.trim().replace(/^rediss?:\/\//, '');
    // [::1]:26379 as well as host:port
    const bracketed = /^\[([^\]]*)\](?::(\d+))?$/.exec(withoutScheme);
    if (bracketed !== null) {
      return { host: bracketed[1] ?? '::1', port: Number(bracketed[2] ?? defaultPort) };
    }
    const [host, port] = withoutScheme.split(':');
    return {
      host: host === undefined || host === '' ? '127.0.0.1' : host,
      port: Number(port ?? defaultPort),
    };
  });
}

/** The longest pause between two reconnect attempts. */
export const MAX_RECONNECT_DELAY_MS = 500;
/**
 * The pause before the failover detector connects again to a Sentinel it lost (ioredis's
 * default is 60 s, during which a restarted Sentinel's +switch-master goes unheard), ±20 %.
 */
export const SENTINEL_RECONNECT_DELAY_MS = 5000;
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
  return jittered(Math.min(50 * 2 ** Math.max(0, times - 1), MAX_RECONNECT_DELAY_MS), random);
}

/** `ms` ±20 %, in whole milliseconds. */
function jittered(ms: number, random: () => number = Math.random): number {
  return Math.round(ms * (0.8 + 0.4 * random()));
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
  const topology = redisTopology(target);
  let client: Redis | Cluster;
  if (topology.kind === 'cluster') {
    const options: ClusterOptions = {
      redisOptions: common,
      enableAutoPipelining: role === 'commands',
      shardedSubscribers: role === 'subscriber',
      clusterRetryStrategy: retryStrategy,
      clusterNodeRetryStrategy: retryStrategy,
    };
    client = new Cluster(topology.seeds, options);
  } else if (topology.kind === 'sentinel') {
    client = new Redis({
      ...common,
      sentinels: topology.sentinels,
      name: topology.masterName,
      role: 'master',
      ...(target.sentinelPassword === undefined
        ? {}
        : { sentinelPassword: target.sentinelPassword }),
      // Every Sentinel down: ask them again on the same short schedule.
      sentinelRetryStrategy: retryStrategy,
      sentinelCommandTimeout: CONNECT_TIMEOUT_MS,
      // Told of a failover by the Sentinels (+switch-master), drop the connection to the old
      // primary at once rather than when it stops answering.
      failoverDetector: true,
      sentinelReconnectStrategy: () => jittered(SENTINEL_RECONNECT_DELAY_MS),
      // A demoted primary answers writes with READONLY: reconnect (through the Sentinels, to
      // the new primary). The failed command is not resent: the caller sees it fail.
      reconnectOnError: (error: Error) => error.message.startsWith('READONLY'),
    });
    reconnectAfterGivingUp(client);
    listenToFailoverDetector(client);
  } else {
    client = new Redis(topology.url, common);
  }
  // Errors are reported through the commands that fail, the readiness probe and RedisHealth
  // (redis-health.ts); without a listener ioredis would print every reconnect attempt.
  client.on('error', () => undefined);
  return client;
}

/**
 * ioredis's failover detector opens connections of its own to the Sentinels and gives them no
 * 'error' listener, so each of their connection errors (a Sentinel restarting, say) was
 * printed to stderr as "[ioredis] Unhandled error event", outside the JSON logs (an open
 * ioredis issue, redis/ioredis#1829). Each such connection gets a listener here. Their errors
 * need no other handling: the detector reconnects them itself, and a failover it misses meanwhile
 * still ends the connection to the old primary. The connector is not public API: without the
 * method this expects, the connections stay as ioredis made them.
 */
export function listenToFailoverDetector(client: Redis): void {
  const connector = (client as unknown as { connector?: Record<string, unknown> }).connector;
  const connectToSentinel = connector?.connectToSentinel;
  if (connector === undefined || typeof connectToSentinel !== 'function') return;
  connector.connectToSentinel = (...args: unknown[]): unknown => {
    const sentinel = Reflect.apply(connectToSentinel, connector, args) as Redis;
    sentinel.on('error', () => undefined);
    return sentinel;
  };
}

/**
 * Connects `client` again whenever ioredis gives up on it ('end') without having been told to
 * close. With Sentinel it does give up: the failover detector of a connection to a primary
 * that died hears +switch-master and closes the connector while a reconnect attempt is asking
 * the Sentinels where the primary is; that attempt fails and ioredis ends the client for good
 * (status 'end', every command refused), so a relay would stay without Redis after a failover.
 */
export function reconnectAfterGivingUp(client: Redis): void {
  let closing = false;
  const disconnect = client.disconnect.bind(client);
  client.disconnect = (reconnect?: boolean) => {
    if (reconnect !== true) closing = true;
    disconnect(reconnect);
  };
  const quit = client.quit.bind(client);
  client.quit = (...args: Parameters<Redis['quit']>) => {
    closing = true;
    return quit(...args);
  };
  let attempt = 0;
  client.on('ready', () => (attempt = 0));
  client.on('end', () => {
    if (closing) return;
    const timer = setTimeout(() => {
      if (closing || client.status !== 'end') return;
      client.connect().catch(() => undefined);
    }, reconnectDelay(++attempt));
    timer.unref();
  });
}
