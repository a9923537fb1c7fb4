import { Redis } from 'ioredis';
import { redisTopology, type RedisTarget } from '../contracts/redis/connection.js';
import { parseReplication, type ReplicationInfo } from '../contracts/redis/replica-acks.js';

/** One replica of a pool's Redis, as its primary reports it (RelayPool status.redis). */
export interface RedisReplicaStatus {
  pod: string;
  /** online, wait_bgsave, send_bulk…: `online` is in sync. */
  state: string;
  /** Bytes of the replication stream the replica has not acknowledged. */
  lagBytes: number;
  /** Seconds since its last acknowledgement to the primary. */
  lastAckSeconds: number;
}

/** Which pod is the primary and how far behind each replica is. */
export interface RedisReplicationStatus {
  primary: string;
  replicas: RedisReplicaStatus[];
}

/** At most this many replicas are reported (the CRD allows 4). */
const MAX_REPORTED_REPLICAS = 8;

/**
 * The status from the primary's address and its INFO replication: a pod is named by the first
 * label of the host name it announces (`main-redis-1.main-redis.ns.svc` → `main-redis-1`),
 * else by host:port.
 */
export function replicationStatus(
  primary: { host: string; port: number },
  info: ReplicationInfo,
): RedisReplicationStatus {
  return {
    primary: podOf(primary.host, primary.port),
    replicas: info.replicas.slice(0, MAX_REPORTED_REPLICAS).map((replica) => ({
      pod: podOf(replica.ip, replica.port),
      state: replica.state,
      lagBytes: Math.max(0, info.masterReplOffset - replica.offset),
      lastAckSeconds: replica.lag,
    })),
  };
}

function podOf(host: string, port: number): string {
  // An IP address has no pod name in it.
  if (/^[\d.]+$/.test(host) || host.includes(':')) return `${host}:${port}`;
  return host.split('.')[0] ?? host;
}

async function ask<T>(
  host: string,
  port: number,
  password: string | undefined,
  timeoutMs: number,
  question: (client: Redis) => Promise<T>,
): Promise<T> {
  const client = new Redis({
    host,
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    ...(password === undefined ? {} : { password }),
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await question(client);
  } finally {
    client.disconnect();
  }
}

/**
 * Asks the Sentinels of a sentinel:// target which server is the primary (the first that
 * answers), then that server for INFO replication. Short-lived connections, each step bounded
 * by `timeoutMs`; rejects when no Sentinel names a primary or the primary does not answer.
 */
export async function readRedisReplication(
  target: RedisTarget,
  timeoutMs = 2000,
): Promise<RedisReplicationStatus> {
  const topology = redisTopology(target);
  if (topology.kind !== 'sentinel') throw new Error('not a sentinel:// target');
  let primary: { host: string; port: number } | undefined;
  let lastError: unknown;
  for (const sentinel of topology.sentinels) {
    try {
      const answer = await ask(
        sentinel.host,
        sentinel.port,
        target.sentinelPassword,
        timeoutMs,
        (client) => client.call('SENTINEL', 'get-master-addr-by-name', topology.masterName),
      );
      if (Array.isArray(answer) && typeof answer[0] === 'string') {
        primary = { host: answer[0], port: Number(answer[1]) };
        break;
      }
    } catch (error) {
      lastError = error;
    }
  }
  if (primary === undefined) {
    const why = lastError instanceof Error ? `: ${lastError.message}` : '';
    throw new Error(`no Sentinel of ${topology.masterName} named a primary${why}`);
  }
  const info = await ask(primary.host, primary.port, target.password, timeoutMs, (client) =>
    client.info('replication'),
  );
  return replicationStatus(primary, parseReplication(info));
}
