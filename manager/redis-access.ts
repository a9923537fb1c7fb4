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
 * The Manager's Redis target when it uses a RelayPool's built-in Redis: with
 * highAvailability the pool's Sentinels (the primary moves between pods), else `fallback` (pod
 * 0, from --redis). Read once at start: a pool switched to highAvailability later keeps its
 * pod 0 as primary until a failover, and the Manager picks the Sentinels up at its next start.
 */
export async function poolRedisTarget(
  kube: KubeClient,
  pool: PoolRef,
  fallback: RedisTarget,
  log: Logger,
): Promise<RedisTarget> {
  try {
    const object = await kube.get(resourceTypes.relayPools, pool.namespace, pool.name);
    const parsed = relayPoolSchema.safeParse(object);
    if (parsed.success && 'relayPool' in parsed.data.spec.redis) {
      // Its password Secret and Redis are the named pool's: the chart grants and points the
      // Manager at the pool it is given, so say which one to give.
      const owner = parsed.data.spec.redis.relayPool.name;
      log.warn(
        `RelayPool ${pool.namespace}/${pool.name} has no Redis of its own: it uses the built-in ` +
          `Redis of RelayPool ${owner}. Point the Manager at ${owner} (the chart's ` +
          'manager.redis.relayPool, or --redis-relay-pool)',
        { relayPool: `${pool.namespace}/${pool.name}`, storePool: `${pool.namespace}/${owner}` },
      );
      return fallback;
    }
    if (!parsed.success || !('builtin' in parsed.data.spec.redis)) return fallback;
    if (parsed.data.spec.redis.builtin.highAvailability === undefined) return fallback;
    const url = builtinRedisUrl(parsed.data);
    log.info('the RelayPool’s Redis is replicated: connecting through its Sentinels', {
      relayPool: `${pool.namespace}/${pool.name}`,
      redis: url,
    });
    return { ...fallback, url, cluster: false };
  } catch {
    // The pool cannot be read (yet): --redis as given.
    return fallback;
  }
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
