import type { Domain } from '../../crds/domain.js';
import type { RelayPool } from '../../crds/relaypool.js';
import type { RedisTarget } from '../../contracts/redis/connection.js';
import { FIELD_MANAGER } from '../builders/labels.js';
import { builtinRedisUrl } from '../builders/relaypool/relay-config.js';
import { REDIS_PASSWORD_KEY } from '../builders/relaypool/redis-auth.js';
import { relayPoolNames } from '../builders/relaypool/names.js';
import type { KubeObject } from '../../kube/kube-object.js';
import { resourceTypes } from '../../kube/resource-types.js';
import { cachedRelayPool } from './cache-queries.js';
import type { ReconcileContext } from './context.js';
import { applyTarget, describeError } from './reconcile-helpers.js';
import { storeOfPool } from './domain-store.js';

/**
 * A Domain's queues, presence and directory live in its RelayPools' Redis, where owner
 * references cannot reach: this finalizer purges them before the Domain goes away.
 */
export const PURGE_FINALIZER = 'grove.dev/purge-domain-data';

export function hasPurgeFinalizer(object: KubeObject): boolean {
  return (object.metadata.finalizers ?? []).includes(PURGE_FINALIZER);
}

/**
 * Adds or removes the operator's finalizer with server-side apply: the operator's field
 * manager owns just that entry of the set, so other finalizers are never touched.
 */
export async function setPurgeFinalizer(
  ctx: ReconcileContext,
  object: KubeObject,
  present: boolean,
): Promise<void> {
  const target = applyTarget(object);
  await ctx.api.apply(
    {
      ...target,
      metadata: { ...target.metadata, finalizers: present ? [PURGE_FINALIZER] : [] },
    },
    { fieldManager: FIELD_MANAGER, force: true },
  );
}

async function secretValue(
  ctx: ReconcileContext,
  namespace: string | undefined,
  name: string,
  key: string,
): Promise<string> {
  const secret = await ctx.api.get(resourceTypes.secrets, namespace, name);
  const encoded = (secret?.data as Record<string, string> | undefined)?.[key];
  if (encoded === undefined) {
    throw new Error(`Secret ${namespace ?? ''}/${name} has no key "${key}"`);
  }
  return Buffer.from(encoded, 'base64').toString('utf8');
}

/** How to reach a pool's own Redis, external or built-in (not a borrowed one: see redisOwnerOf). */
export async function redisTargetOf(ctx: ReconcileContext, pool: RelayPool): Promise<RedisTarget> {
  const namespace = pool.metadata.namespace;
  const { redis } = pool.spec;
  if ('relayPool' in redis) {
    throw new Error(
      `RelayPool ${pool.metadata.name} has no Redis of its own: it uses RelayPool ${redis.relayPool.name}'s`,
    );
  }
  if ('external' in redis) {
    const ref = redis.external.passwordSecretRef;
    return {
      url: redis.external.url,
      cluster: redis.external.cluster,
      ...(ref === undefined
        ? {}
        : { password: await secretValue(ctx, namespace, ref.name, ref.key) }),
    };
  }
  const password = await secretValue(
    ctx,
    namespace,
    relayPoolNames(pool.metadata.name).redisAuth,
    REDIS_PASSWORD_KEY,
  );
  const url = builtinRedisUrl(pool);
  // With highAvailability the URL names the Sentinels, which ask for the same password.
  return {
    url,
    cluster: false,
    password,
    ...(url.startsWith('sentinel://') ? { sentinelPassword: password } : {}),
  };
}

/**
 * The pool whose Redis holds a pool's data: itself, or with spec.redis.relayPool the named
 * pool; undefined when that is missing, being deleted (its Redis goes with it) or unusable.
 */
function redisOwnerOf(
  ctx: ReconcileContext,
  namespace: string | undefined,
  pool: RelayPool,
): RelayPool | undefined {
  if (!('relayPool' in pool.spec.redis)) return pool;
  const named = cachedRelayPool(ctx, namespace, pool.spec.redis.relayPool.name);
  if (named === undefined || named.object.metadata.deletionTimestamp !== undefined)
    return undefined;
  return 'builtin' in named.pool.spec.redis ? named.pool : undefined;
}

/**
 * Purges the domain's data from the store of every RelayPool it names that still exists (a
 * deleted pool's built-in Redis is gone with it), once per store: pools that share one (the
 * same external Redis, or a built-in Redis borrowed with spec.redis.relayPool) are purged
 * through the first of them. Then releases the Domain. A failure keeps the finalizer and says,
 * in a Warning Event, how to let the Domain go without purging.
 */
export async function finalizeDomain(
  ctx: ReconcileContext,
  object: KubeObject,
  domain: Domain | undefined,
): Promise<void> {
  const name = object.metadata.name;
  const namespace = object.metadata.namespace;
  const poolNames = domain?.spec.relayPools ?? [];
  const purged = new Set<string>();
  for (const poolName of poolNames) {
    const cached = cachedRelayPool(ctx, namespace, poolName);
    if (cached === undefined || cached.object.metadata.deletionTimestamp !== undefined) continue;
    const owner = redisOwnerOf(ctx, namespace, cached.pool);
    if (owner === undefined) continue;
    const store = storeOfPool(cached.pool).key;
    if (purged.has(store)) continue;
    try {
      const removed = await ctx.purgeDomainData(await redisTargetOf(ctx, owner), name);
      purged.add(store);
      const from =
        owner.metadata.name === poolName
          ? `RelayPool ${poolName}`
          : `the built-in Redis of RelayPool ${owner.metadata.name} (used by ${poolName})`;
      ctx.events.record(
        object,
        'Normal',
        'DataPurged',
        `removed ${removed} Redis keys of domain ${name} from ${from}`,
      );
    } catch (error) {
      ctx.events.record(
        object,
        'Warning',
        'PurgeFailed',
        `cannot purge the domain's data from RelayPool ${poolName}'s Redis: ${describeError(error)}. ` +
          `Retrying; to delete the Domain without purging, remove the finalizer ${PURGE_FINALIZER}`,
      );
      throw error;
    }
  }
  await setPurgeFinalizer(ctx, object, false);
}
