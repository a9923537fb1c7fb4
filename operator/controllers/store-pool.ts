import { relayPoolSchema, type RelayPool } from '../../crds/relaypool.js';
import { MAX_STORE_BORROWERS } from '../builders/relaypool/index.js';
import type { ObjectCache, ReconcileContext } from './context.js';

/**
 * A pool with spec.redis.relayPool uses another pool's built-in Redis. These reasons say why it
 * cannot (condition Ready=False and a Warning Event); its relays are then neither started nor
 * changed, and nothing is deleted.
 */
export type StorePoolReason = 'StorePoolMissing' | 'StorePoolUnusable' | 'StorePoolNotReady';

export interface StorePoolProblem {
  reason: StorePoolReason;
  message: string;
}

/** What the cache holds under the name spec.redis.relayPool gives. */
export type NamedPool =
  | { state: 'missing' }
  | { state: 'deleting' }
  | { state: 'invalid' }
  | { state: 'found'; pool: RelayPool };

const UNCHANGED = 'No relay of this pool was started or changed for it, and nothing was deleted.';

/**
 * Whether `borrower` (a pool with spec.redis.relayPool) may use the named pool's built-in Redis.
 * `borrowersOfNamed`: every pool that names it, this one included. Pure, for unit tests.
 */
export function checkStorePool(
  borrower: RelayPool,
  named: NamedPool,
  borrowersOfNamed: readonly string[],
): { pool: RelayPool } | { problem: StorePoolProblem } {
  const self = borrower.metadata.name;
  const name = 'relayPool' in borrower.spec.redis ? borrower.spec.redis.relayPool.name : '';
  const namespace = borrower.metadata.namespace ?? '';
  const ref = `RelayPool "${name}" (spec.redis.relayPool.name)`;
  switch (named.state) {
    case 'missing':
      return {
        problem: {
          reason: 'StorePoolMissing',
          message:
            `${ref} does not exist in namespace ${namespace}: create it with a built-in Redis ` +
            `(spec.redis.builtin), or create this pool again naming another one. ${UNCHANGED}`,
        },
      };
    case 'deleting':
      return {
        problem: {
          reason: 'StorePoolMissing',
          message:
            `${ref} is being deleted, and its Redis with it: this pool's relays cannot reach the ` +
            `store any more. Create "${name}" again with a built-in Redis (its Redis volumes ` +
            `data-${name}-redis-N are kept, so its queues come back with it). ${UNCHANGED}`,
        },
      };
    case 'invalid':
      return {
        problem: {
          reason: 'StorePoolUnusable',
          message: `${ref} has a spec Grove cannot read: see its status. ${UNCHANGED}`,
        },
      };
    case 'found':
      break;
  }
  const { redis } = named.pool.spec;
  if ('external' in redis) {
    return {
      problem: {
        reason: 'StorePoolUnusable',
        message:
          `${ref} uses an external Redis, not a built-in one: to share it, create this pool ` +
          `with spec.redis.external and the same url (${redis.external.url}) instead. ${UNCHANGED}`,
      },
    };
  }
  if ('relayPool' in redis) {
    return {
      problem: {
        reason: 'StorePoolUnusable',
        message:
          `${ref} itself uses the built-in Redis of RelayPool "${redis.relayPool.name}": name ` +
          `"${redis.relayPool.name}" directly (create this pool again). ${UNCHANGED}`,
      },
    };
  }
  const admitted = admittedBorrowers(borrowersOfNamed);
  if (!admitted.includes(self)) {
    return {
      problem: {
        reason: 'StorePoolUnusable',
        message:
          `${borrowersOfNamed.length} RelayPools use the built-in Redis of ${ref}; at most ` +
          `${MAX_STORE_BORROWERS} may (the first by name are admitted by its NetworkPolicy). ` +
          UNCHANGED,
      },
    };
  }
  return { pool: named.pool };
}

/** The borrowers a pool's Redis admits: the first MAX_STORE_BORROWERS by name. */
export function admittedBorrowers(borrowers: readonly string[]): string[] {
  return [...new Set(borrowers)].sort().slice(0, MAX_STORE_BORROWERS);
}

/** What the cache holds under `name` in `namespace`. */
export function namedPool(
  ctx: ReconcileContext,
  namespace: string | undefined,
  name: string,
): NamedPool {
  const object = ctx.caches.relayPools.get(namespace, name);
  if (object === undefined) return { state: 'missing' };
  if (object.metadata.deletionTimestamp !== undefined) return { state: 'deleting' };
  const parsed = relayPoolSchema.safeParse(object);
  return parsed.success ? { state: 'found', pool: parsed.data } : { state: 'invalid' };
}

/** Names of the pools of the namespace whose spec.redis.relayPool names `name` (not deleting). */
export function borrowersOf(
  pools: ObjectCache,
  namespace: string | undefined,
  name: string,
): string[] {
  return pools
    .list(namespace)
    .filter((object) => object.metadata.deletionTimestamp === undefined)
    .filter((object) => borrowedPoolName(object.spec) === name)
    .map((object) => object.metadata.name)
    .sort();
}

/** spec.redis.relayPool.name of a pool's raw spec, if it has one. */
export function borrowedPoolName(spec: unknown): string | undefined {
  const redis = (spec as { redis?: { relayPool?: { name?: unknown } } } | undefined)?.redis;
  const name = redis?.relayPool?.name;
  return typeof name === 'string' ? name : undefined;
}
