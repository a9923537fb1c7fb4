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

/** The primary the first Sentinel that answers names; rejects when none does. */
async function namedPrimary(
  sentinels: readonly { host: string; port: number }[],
  masterName: string,
  target: RedisTarget,
  timeoutMs: number,
): Promise<{ host: string; port: number }> {
  let lastError: unknown;
  for (const sentinel of sentinels) {
    try {
      const answer = await ask(
        sentinel.host,
        sentinel.port,
        target.sentinelPassword,
        timeoutMs,
        (client) => client.call('SENTINEL', 'get-master-addr-by-name', masterName),
      );
      if (Array.isArray(answer) && typeof answer[0] === 'string') {
        return { host: answer[0], port: Number(answer[1]) };
      }
    } catch (error) {
      lastError = error;
    }
  }
  const why = lastError instanceof Error ? `: ${lastError.message}` : '';
  throw new Error(`no Sentinel of ${masterName} named a primary${why}`);
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
  const primary = await namedPrimary(topology.sentinels, topology.masterName, target, timeoutMs);
  const info = await ask(primary.host, primary.port, target.password, timeoutMs, (client) =>
    client.info('replication'),
  );
  return replicationStatus(primary, parseReplication(info));
}

/**
 * Replicas that follow another replica instead of the primary, pointed back at the primary
 * (`REPLICAOF primary`); resolves with the `host:port` of each one re-pointed.
 *
 * Sentinel reconfigures only the replicas the primary lists. A pod that started as a replica of
 * a primary which then handed over itself (a rolling restart, where each restarted primary asks
 * for a failover) keeps replicating from the old primary, now a replica: a chain Sentinel never
 * repairs, whose end WAIT on the primary does not count and status.redis does not list (seen on
 * a real cluster). Only such chained replicas are touched: a server following something else
 * is left to Sentinel. Each server is asked with its own connection, bounded by `timeoutMs`; one
 * that does not answer (restarting) is skipped.
 */
export async function repointChainedReplicas(
  target: RedisTarget,
  servers: readonly { host: string; port: number }[],
  timeoutMs = 2000,
): Promise<string[]> {
  const topology = redisTopology(target);
  if (topology.kind !== 'sentinel') throw new Error('not a sentinel:// target');
  const primary = await namedPrimary(topology.sentinels, topology.masterName, target, timeoutMs);
  const info = parseReplication(
    await ask(primary.host, primary.port, target.password, timeoutMs, (client) =>
      client.info('replication'),
    ),
  );
  const address = (host: string, port: number) => `${host}:${port}`;
  const direct = new Set(info.replicas.map((r) => address(r.ip, r.port)));
  const repointed: string[] = [];
  for (const server of servers.slice(0, MAX_REPORTED_REPLICAS + 1)) {
    const self = address(server.host, server.port);
    if (self === address(primary.host, primary.port) || direct.has(self)) continue;
    try {
      await ask(server.host, server.port, target.password, timeoutMs, async (client) => {
        const own = parseReplication(await client.info('replication'));
        const follows =
          own.masterHost === undefined ? '' : address(own.masterHost, own.masterPort ?? 0);
        if (own.role !== 'slave' || !direct.has(follows)) return;
        await client.call('REPLICAOF', primary.host, String(primary.port));
        repointed.push(self);
      });
    } catch {
      // Not answering (starting, or gone): asked again at the next reconcile.
    }
  }
  return repointed;
}
