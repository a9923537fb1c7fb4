import type { Logger } from '../contracts/logger.js';
import type { RedisClient } from '../contracts/redis/connection.js';
import type { RedisHealth } from '../contracts/redis/redis-health.js';
import type { KubeClient } from '../kube/kube-client.js';
import type { KubeObject } from '../kube/kube-object.js';
import { resourceTypes } from '../kube/resource-types.js';
import type { RedisTarget } from '../contracts/redis/connection.js';
import { relayPoolSchema } from '../crds/relaypool.js';
import { builtinRedisUrl } from '../operator/builders/relaypool/relay-config.js';

/** `NAMESPACE/NAME` of the RelayPool whose built-in Redis the Manager uses. */
export interface PoolRef {
  namespace: string;
  name: string;
}

export function parsePoolRef(value: string): PoolRef | undefined {
  const match = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-a-z0-9]*[a-z0-9])?)$/.exec(value);
  if (match?.[1] === undefined || match[3] === undefined) return undefined;
  return { namespace: match[1], name: match[3] };
}

/** The Secret the operator keeps a pool's built-in Redis password in (key `password`). */
export const poolRedisAuthSecret = (pool: string): string => `${pool}-redis-auth`;

interface SecretObject extends KubeObject {
  data?: Record<string, string>;
}

/** How often the password Secret is looked for while Redis is not reachable. */
const PASSWORD_POLL_MS = 3000;

/**
 * The Manager on a RelayPool's built-in Redis, before and after that pool exists. The password
 * is read from the pool's Secret through the Kubernetes API (the Manager may `get` Secrets), not
 * from the pod's environment: the Manager starts and serves (degraded) before any RelayPool
 * exists, picks the password up the moment the operator creates it, and again after the Secret
 * is replaced (a Redis that refuses the old password). ioredis authenticates every reconnect
 * with `options.password`, so updating it is enough.
 */
export class PoolRedisAuth {
  private timer: NodeJS.Timeout | undefined;
  private secretFound: boolean | undefined;
  private stopped = false;

  constructor(
    private readonly kube: KubeClient,
    private readonly pool: PoolRef,
    private readonly log: Logger,
  ) {}

  /** The password, or undefined while the Secret (or its key) does not exist. */
  async password(): Promise<string | undefined> {
    const secret = await this.kube.get<SecretObject>(
      resourceTypes.secrets,
      this.pool.namespace,
      poolRedisAuthSecret(this.pool.name),
    );
    const data = secret?.data?.password;
    const found = data !== undefined && data !== '';
    if (found !== this.secretFound) {
      this.secretFound = found;
      if (found) {
        this.log.info('read the Redis password of the RelayPool', {
          relayPool: `${this.pool.namespace}/${this.pool.name}`,
          secret: poolRedisAuthSecret(this.pool.name),
        });
      }
    }
    return found ? Buffer.from(data, 'base64').toString('utf8') : undefined;
  }

  /** Whether the Secret was there at the last look (undefined: not looked yet). */
  get hasSecret(): boolean | undefined {
    return this.secretFound;
  }

  /**
   * Keeps `client`'s password current: now, every few seconds while Redis is not ready, and at
   * once when Redis refuses it (NOAUTH, WRONGPASS).
   */
  keepCurrent(client: RedisClient, health: RedisHealth): void {
    const refresh = async () => {
      try {
        const password = await this.password();
        setPassword(client, password);
      } catch (error) {
        this.log.warn('cannot read the Redis password Secret', {
          secret: `${this.pool.namespace}/${poolRedisAuthSecret(this.pool.name)}`,
          error: error instanceof Error ? error.message : String(error),
        });
      }
    };
    client.on('error', (error: unknown) => {
      if (error instanceof Error && /NOAUTH|WRONGPASS|invalid password/i.test(error.message)) {
        void refresh();
      }
    });
    const loop = () => {
      if (this.stopped) return;
      const next = health.state.up ? PASSWORD_POLL_MS * 10 : PASSWORD_POLL_MS;
      void refresh().finally(() => {
        if (!this.stopped) this.timer = setTimeout(loop, next);
      });
    };
    loop();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
  }
}

function setPassword(client: RedisClient, password: string | undefined): void {
  const options = client.options as {
    password?: string;
    sentinels?: unknown;
    sentinelPassword?: string;
    redisOptions?: { password?: string };
  };
  if ('redisOptions' in options && options.redisOptions !== undefined) {
    options.redisOptions.password = password;
  } else {
    options.password = password;
    // A replicated built-in Redis: its Sentinels ask for the same password.
    if (options.sentinels !== undefined) options.sentinelPassword = password;
  }
}

/**
 * The Redis target a RelayPool object calls for: with highAvailability the pool's Sentinels
 * (the primary moves between pods), else `fallback` (pod 0's address, from --redis). Also
 * for a pool that borrows another pool's Redis, whose name comes back in `borrowsFrom`.
 */
export function redisTargetOfPool(
  object: unknown,
  fallback: RedisTarget,
): { target: RedisTarget; borrowsFrom?: string } {
  const parsed = relayPoolSchema.safeParse(object);
  if (!parsed.success) return { target: fallback };
  const redis = parsed.data.spec.redis;
  if ('relayPool' in redis) return { target: fallback, borrowsFrom: redis.relayPool.name };
  if (!('builtin' in redis) || redis.builtin.highAvailability === undefined) {
    return { target: fallback };
  }
  return { target: { ...fallback, url: builtinRedisUrl(parsed.data), cluster: false } };
}

/**
 * The Manager's Redis target when it uses a RelayPool's built-in Redis, read at start (see
 * redisTargetOfPool). A Manager that started before its pool existed, or before the pool was
 * made replicated, is on pod 0; it follows the pool with watchPoolRedisTarget.
 */
export async function poolRedisTarget(
  kube: KubeClient,
  pool: PoolRef,
  fallback: RedisTarget,
  log: Logger,
): Promise<RedisTarget> {
  let object: KubeObject | undefined;
  try {
    object = await kube.get(resourceTypes.relayPools, pool.namespace, pool.name);
  } catch {
    // The pool cannot be read (yet): --redis as given.
    return fallback;
  }
  const { target, borrowsFrom } = redisTargetOfPool(object, fallback);
  if (borrowsFrom !== undefined) {
    // Its password Secret and Redis are the named pool's: the chart grants and points the
    // Manager at the pool it is given, so say which one to give.
    log.warn(
      `RelayPool ${pool.namespace}/${pool.name} has no Redis of its own: it uses the built-in ` +
        `Redis of RelayPool ${borrowsFrom}. Point the Manager at ${borrowsFrom} (the chart's ` +
        'manager.redis.relayPool, or --redis-relay-pool)',
      {
        relayPool: `${pool.namespace}/${pool.name}`,
        storePool: `${pool.namespace}/${borrowsFrom}`,
      },
    );
  }
  if (target !== fallback) {
    log.info('the RelayPool’s Redis is replicated: connecting through its Sentinels', {
      relayPool: `${pool.namespace}/${pool.name}`,
      redis: target.url,
    });
  }
  return target;
}

/** The RelayPools the Manager watches anyway (its KubeConfigSource). */
export interface RelayPoolWatch {
  relayPool(namespace: string, name: string): KubeObject | undefined;
  onRelayPool(handler: (pool: KubeObject) => void): void;
}

/**
 * Calls `changed` once, with the new target, when the pool (created, or changed) calls for
 * another Redis target than `current`. Without it a Manager that started before its pool
 * existed stays on pod 0, the fallback, and after the first failover pod 0 is a replica that
 * refuses its writes. A deleted pool changes nothing: the Manager keeps what it has.
 */
export function watchPoolRedisTarget(
  pools: RelayPoolWatch,
  pool: PoolRef,
  fallback: RedisTarget,
  current: RedisTarget,
  changed: (target: RedisTarget) => void,
): void {
  let told = false;
  const check = (object: KubeObject) => {
    if (told) return;
    if (object.metadata.namespace !== pool.namespace || object.metadata.name !== pool.name) return;
    const { target } = redisTargetOfPool(object, fallback);
    if (target.url === current.url) return;
    told = true;
    changed(target);
  };
  pools.onRelayPool(check);
  // Created between the read at start and now.
  const now = pools.relayPool(pool.namespace, pool.name);
  if (now !== undefined) check(now);
}

/**
 * PING that fails after `ms`. A client on Sentinels holds its commands for as long as none of
 * them answers (the pool's pods not started yet, say), and /readyz must answer meanwhile.
 */
export function pingWithin(ping: () => Promise<unknown>, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`Redis did not answer PING within ${String(ms)} ms`));
    }, ms);
    ping().then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/**
 * What a user is told while the Manager's Redis is unavailable (API answers, /readyz, the
 * log): why, and what to do, most specific first.
 */
export function storageProblem(input: {
  redisUrl: string;
  lastError: string | undefined;
  pool?: PoolRef;
  poolExists?: boolean;
  hasSecret?: boolean;
}): string {
  const { pool } = input;
  if (pool !== undefined) {
    const ref = `${pool.namespace}/${pool.name}`;
    if (input.poolExists === false) {
      return (
        `the Manager keeps its data in the built-in Redis of RelayPool ${ref}, which does not ` +
        `exist yet: create a RelayPool named ${pool.name} in namespace ${pool.namespace} ` +
        '(docs/helm.md), or point the chart’s manager.redis at another pool or an external Redis'
      );
    }
    if (input.hasSecret === false) {
      return (
        `RelayPool ${ref} has no Redis password Secret ${poolRedisAuthSecret(pool.name)} yet (the ` +
        'operator creates it): is the operator running?'
      );
    }
    return (
      `the built-in Redis of RelayPool ${ref} (${input.redisUrl}) does not answer yet` +
      `${input.lastError === undefined ? '' : ` (${input.lastError})`}: it starts with the pool; ` +
      `see kubectl get relaypool ${pool.name} -n ${pool.namespace}`
    );
  }
  return `Redis ${input.redisUrl} does not answer${
    input.lastError === undefined ? '' : ` (${input.lastError})`
  }; retry shortly`;
}
