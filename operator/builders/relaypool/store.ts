import type { BuiltinRedisHa, RelayPool } from '../../../crds/relaypool.js';
import type { RelayPoolBuildInput } from './input.js';
import { RelayPoolBuildError } from './names.js';
import { builtinRedisHa } from './redis-ha.js';

/**
 * The pool whose built-in Redis the relays use: the pool itself (spec.redis.builtin), or the
 * pool spec.redis.relayPool names (input.storePool, which the caller found and checked);
 * undefined for an external Redis. A borrowing pool without its store pool cannot be built:
 * relays pointing nowhere would only fail.
 */
export function redisPoolOf(input: RelayPoolBuildInput): RelayPool | undefined {
  return 'external' in input.pool.spec.redis ? undefined : builtinStorePool(input);
}

/** redisPoolOf for a pool known not to use an external Redis (a typed error if it does). */
export function builtinStorePool(input: RelayPoolBuildInput): RelayPool {
  const { pool, storePool } = input;
  const { redis } = pool.spec;
  if ('builtin' in redis) return pool;
  const name = 'external' in redis ? '' : redis.relayPool.name;
  if (
    storePool === undefined ||
    storePool.metadata.name !== name ||
    storePool.metadata.namespace !== pool.metadata.namespace ||
    !('builtin' in storePool.spec.redis)
  ) {
    throw new RelayPoolBuildError(
      'StorePoolUnresolved',
      `RelayPool "${pool.metadata.name}" uses the built-in Redis of RelayPool "${name}", which ` +
        'was not given (or has no built-in Redis): its relays would have no Redis to use',
    );
  }
  return storePool;
}

/** highAvailability of the Redis the relays use (their own pool's or the borrowed one's). */
export function redisHaOf(input: RelayPoolBuildInput): BuiltinRedisHa | undefined {
  const redisPool = redisPoolOf(input);
  return redisPool === undefined ? undefined : builtinRedisHa(redisPool);
}

/** Most pools that may use one pool's built-in Redis: each is a peer of its NetworkPolicy. */
export const MAX_STORE_BORROWERS = 16;
