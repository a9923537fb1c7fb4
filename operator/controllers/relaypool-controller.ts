import { createHash } from 'node:crypto';
import { relayPoolSchema, validateRelayPool, type RelayPool } from '../../crds/relaypool.js';
import { FIELD_MANAGER } from '../builders/labels.js';
import {
  REDIS_CONF_KEY,
  REDIS_PASSWORD_KEY,
  REPLICAS_HANDOVER_FIELD_MANAGER,
  buildRedisAuthSecret,
  buildRelayReplicasHandover,
  buildRelayPoolChildren,
  builtinRedisHa,
  observedRelayService,
  relayPoolExposure,
  relayPoolNames,
  relayPoolSelector,
} from '../builders/relaypool/index.js';
import { summarizeRelayPool, type WorkloadStatus } from '../builders/relaypool-status.js';
import type { KubeObject } from '../../kube/kube-object.js';
import { resourceTypes } from '../../kube/resource-types.js';
import type { ReconcileResult } from '../runtime/controller.js';
import { servedDomains } from './cache-queries.js';
import { applyChildren, pruneChildren } from './child-objects.js';
import type { ReconcileContext } from './context.js';
import { describeError, errorCode, loadForReconcile, writeStatus } from './reconcile-helpers.js';
import { redisTargetOf } from './domain-finalizer.js';
import { storeOfPool } from './domain-store.js';
import {
  admittedBorrowers,
  borrowersOf,
  checkStorePool,
  namedPool,
  type StorePoolProblem,
} from './store-pool.js';

function workloadStatus(object: KubeObject | undefined): WorkloadStatus | undefined {
  if (object === undefined) return undefined;
  const spec = (object.spec ?? {}) as { replicas?: number };
  const status = (object.status ?? {}) as {
    observedGeneration?: number;
    replicas?: number;
    readyReplicas?: number;
    updatedReplicas?: number;
  };
  return {
    ...(object.metadata.generation === undefined ? {} : { generation: object.metadata.generation }),
    ...(status.observedGeneration === undefined
      ? {}
      : { observedGeneration: status.observedGeneration }),
    ...(spec.replicas === undefined ? {} : { specReplicas: spec.replicas }),
    ...(status.replicas === undefined ? {} : { replicas: status.replicas }),
    ...(status.readyReplicas === undefined ? {} : { readyReplicas: status.readyReplicas }),
    ...(status.updatedReplicas === undefined ? {} : { updatedReplicas: status.updatedReplicas }),
  };
}

/**
 * Reads the built-in Redis password Secret, creating it with a random password once (and adding
 * the redis.conf fragment to a Secret made before it existed). Returns its name and a hash of
 * the password for the pod templates.
 */
async function ensureRedisAuth(
  ctx: ReconcileContext,
  pool: RelayPool,
  owner: KubeObject,
): Promise<{ name: string; hash: string }> {
  const name = relayPoolNames(pool.metadata.name).redisAuth;
  const existing = await ctx.api.get(resourceTypes.secrets, pool.metadata.namespace, name);
  const data = existing?.data as Record<string, string> | undefined;
  const stored = data?.[REDIS_PASSWORD_KEY];
  if (existing !== undefined && stored !== undefined) {
    const password = Buffer.from(stored, 'base64').toString('utf8');
    if (data?.[REDIS_CONF_KEY] === undefined) {
      const secret = buildRedisAuthSecret(pool, password);
      secret.metadata.resourceVersion = existing.metadata.resourceVersion;
      await ctx.api.replace(resourceTypes.secrets, secret);
    }
    return { name, hash: hashOf(password) };
  }
  // Missing, or emptied by hand: a new password (Redis and relays roll to it together).
  const password = ctx.randomPassword();
  const secret = buildRedisAuthSecret(pool, password);
  if (existing === undefined) {
    // A 409 (a previous leader made it first) throws: the retry reads that password.
    await ctx.api.create(resourceTypes.secrets, secret);
  } else {
    secret.metadata.resourceVersion = existing.metadata.resourceVersion;
    await ctx.api.replace(resourceTypes.secrets, secret);
  }
  ctx.events.record(
    owner,
    'Normal',
    'Created',
    `created Secret ${name} with a generated Redis password`,
  );
  return { name, hash: hashOf(password) };
}

function hashOf(password: string): string {
  return createHash('sha256').update(password).digest('hex').slice(0, 16);
}

/**
 * A borrowing pool's view of the named pool's Redis password Secret (never created here: the
 * named pool's reconcile makes it). Undefined until it exists.
 */
async function borrowedRedisAuth(
  ctx: ReconcileContext,
  storePool: RelayPool,
): Promise<{ name: string; hash: string } | undefined> {
  const name = relayPoolNames(storePool.metadata.name).redisAuth;
  const existing = await ctx.api.get(resourceTypes.secrets, storePool.metadata.namespace, name);
  const stored = (existing?.data as Record<string, string> | undefined)?.[REDIS_PASSWORD_KEY];
  if (stored === undefined) return undefined;
  return { name, hash: hashOf(Buffer.from(stored, 'base64').toString('utf8')) };
}

/**
 * spec.redis.relayPool: the named pool and its password Secret, or why they cannot be used
 * (then nothing is applied or pruned: relays are neither started pointing nowhere nor removed).
 */
async function resolveStore(
  ctx: ReconcileContext,
  pool: RelayPool,
  storeName: string,
): Promise<
  { storePool: RelayPool; auth: { name: string; hash: string } } | { problem: StorePoolProblem }
> {
  const namespace = pool.metadata.namespace;
  const checked = checkStorePool(
    pool,
    namedPool(ctx, namespace, storeName),
    borrowersOf(ctx.caches.relayPools, namespace, storeName),
  );
  if ('problem' in checked) return checked;
  const auth = await borrowedRedisAuth(ctx, checked.pool);
  if (auth === undefined) {
    return {
      problem: {
        reason: 'StorePoolNotReady',
        message:
          `waiting for Secret ${relayPoolNames(storeName).redisAuth}, the password of the ` +
          `built-in Redis of RelayPool "${storeName}" (the operator makes it with that pool)`,
      },
    };
  }
  return { storePool: checked.pool, auth };
}

/** How often a pool whose store pool cannot be used looks again (its changes also wake it). */
export const STORE_POOL_RECHECK_MS = 30 * 1000;

/** Whether `manager` owns the field at `path` of `object`, per its managedFields. */
export function ownsField(object: KubeObject, manager: string, path: readonly string[]): boolean {
  const entries = (
    object.metadata as { managedFields?: { manager?: string; fieldsV1?: unknown }[] }
  ).managedFields;
  return (entries ?? []).some((entry) => {
    if (entry.manager !== manager) return false;
    let node: unknown = entry.fieldsV1;
    for (const key of path) {
      node = (node as Record<string, unknown> | undefined)?.[`f:${key}`];
      if (node === undefined) return false;
    }
    return true;
  });
}

/**
 * When autoscaling is turned on, the operator's apply stops stating spec.replicas; as its only
 * owner, server-side apply would then reset it to 1 before the HPA acts. A second field manager
 * first claims the current value, so the count stays where it is until the HPA takes over.
 */
async function handOverReplicas(ctx: ReconcileContext, pool: RelayPool): Promise<void> {
  if (pool.spec.autoscaling === undefined) return;
  const name = relayPoolNames(pool.metadata.name).relay;
  const deployment = await ctx.api.get(resourceTypes.deployments, pool.metadata.namespace, name);
  const replicas = (deployment?.spec as { replicas?: number } | undefined)?.replicas;
  if (deployment === undefined || replicas === undefined) return;
  if (!ownsField(deployment, FIELD_MANAGER, ['spec', 'replicas'])) return;
  await ctx.api.apply(buildRelayReplicasHandover(pool, replicas), {
    fieldManager: REPLICAS_HANDOVER_FIELD_MANAGER,
    force: true,
  });
}

/**
 * RelayPool → ConfigMap (relay.json), built-in Redis (Secret, headless Service, StatefulSet),
 * relay Deployment, client Service, PodDisruptionBudget, HorizontalPodAutoscaler; then status.
 */
export async function reconcileRelayPool(
  ctx: ReconcileContext,
  namespace: string | undefined,
  name: string,
): Promise<ReconcileResult> {
  const loaded = await loadForReconcile(
    ctx,
    ctx.caches.relayPools,
    namespace,
    name,
    relayPoolSchema,
    validateRelayPool,
  );
  if (loaded === undefined) return undefined;
  const { object, value: pool } = loaded;
  const store = storeOfPool(pool).key;
  let storePool: RelayPool | undefined;
  let redisAuth: { name: string; hash: string } | undefined;
  if ('relayPool' in pool.spec.redis) {
    const resolved = await resolveStore(ctx, pool, pool.spec.redis.relayPool.name);
    if ('problem' in resolved) {
      await writeStatus(ctx, object, { store }, [
        { type: 'Ready', status: 'False', ...resolved.problem },
      ]);
      return { requeueAfterMs: STORE_POOL_RECHECK_MS };
    }
    ({ storePool } = resolved);
    redisAuth = resolved.auth;
  } else if ('builtin' in pool.spec.redis) {
    redisAuth = await ensureRedisAuth(ctx, pool, object);
  }
  // Only the pool's own password Secret is kept from pruning (a borrowed one is not its child).
  const redisPasswordSecret = storePool === undefined ? redisAuth?.name : undefined;
  const desired = buildRelayPoolChildren({
    pool,
    domains: servedDomains(ctx, pool),
    ...(storePool === undefined ? {} : { storePool }),
    ...('builtin' in pool.spec.redis
      ? {
          borrowers: admittedBorrowers(
            borrowersOf(ctx.caches.relayPools, pool.metadata.namespace, pool.metadata.name),
          ),
        }
      : {}),
    image: ctx.settings.image,
    redisImage: ctx.settings.redisImage,
    ...(ctx.settings.groveNamespaces === undefined
      ? {}
      : { groveNamespaces: ctx.settings.groveNamespaces }),
    ...(redisAuth === undefined
      ? {}
      : { redisPasswordSecret: redisAuth.name, redisAuthHash: redisAuth.hash }),
  });
  let applied: Map<string, KubeObject>;
  try {
    await handOverReplicas(ctx, pool);
    applied = await applyChildren(ctx, object, desired);
    await pruneChildren(
      ctx,
      object,
      desired,
      redisPasswordSecret === undefined ? [] : [`Secret/${redisPasswordSecret}`],
    );
  } catch (error) {
    // Conflicts are routine (someone wrote first) and retried at once; anything else the
    // user must see on the pool, not only in the operator's log.
    if (errorCode(error) !== 409) {
      await writeStatus(ctx, object, {}, [
        { type: 'Degraded', status: 'True', reason: 'ApplyFailed', message: describeError(error) },
      ]).catch(() => undefined);
    }
    throw error;
  }

  // The API server answers an apply with the whole object, status included: fresher than the cache.
  const names = relayPoolNames(pool.metadata.name);
  const summary = summarizeRelayPool({
    pool,
    relay: workloadStatus(applied.get(`Deployment/${names.relay}`)),
    redis: workloadStatus(applied.get(`StatefulSet/${names.redis}`)),
  });
  const service = applied.get(`Service/${names.relay}`);
  // Node addresses only matter to a NodePort pool that names no address of its own.
  const needsNodes =
    pool.spec.service.type === 'NodePort' &&
    (pool.spec.publicUrls ?? []).length === 0 &&
    pool.spec.ingress === undefined;
  const nodes = needsNodes ? await ctx.nodeAddresses?.() : undefined;
  const exposure = relayPoolExposure(pool, {
    ...(service === undefined ? {} : { service: observedRelayService(service) }),
    ...(nodes === undefined ? {} : { nodeAddresses: nodes }),
  });
  const replicated = builtinRedisHa(pool) !== undefined;
  const redis = replicated ? await redisReplication(ctx, pool) : undefined;
  await writeStatus(
    ctx,
    object,
    {
      replicas: summary.replicas,
      readyReplicas: summary.readyReplicas,
      endpoints: exposure.endpoints,
      clusterEndpoint: exposure.clusterEndpoint,
      selector: relayPoolSelector(pool),
      store,
      ...(redis === undefined ? {} : { redis }),
    },
    [...summary.conditions, exposure.exposed],
    ['Paused'],
  );
  // Nodes are not watched: look at their addresses again now and then; the replication lag
  // changes without any event either.
  if (replicated) return { requeueAfterMs: REPLICATION_RECHECK_MS };
  return needsNodes ? { requeueAfterMs: NODE_ADDRESS_RECHECK_MS } : undefined;
}

/** How often a replicated built-in Redis's primary and lag are read again. */
export const REPLICATION_RECHECK_MS = 30 * 1000;

/** status.redis of a pool with highAvailability: what the Sentinels and the primary say. */
async function redisReplication(
  ctx: ReconcileContext,
  pool: RelayPool,
): Promise<Record<string, unknown> | undefined> {
  if (ctx.readRedisReplication === undefined) return undefined;
  try {
    return { ...(await ctx.readRedisReplication(await redisTargetOf(ctx, pool))) };
  } catch (error) {
    // Not ready yet, or a failover under way: said in the status, read again shortly.
    return { error: describeError(error).slice(0, 1000) };
  }
}

/** How often a NodePort pool's node addresses are read again. */
export const NODE_ADDRESS_RECHECK_MS = 5 * 60 * 1000;
