import type { RelayPool } from '../../crds/relaypool.js';

/**
 * Which Redis a RelayPool's relays keep the queues and device directories in: the pool's own
 * built-in Redis, the built-in Redis of the pool spec.redis.relayPool names, or an external one
 * (its URL without credentials, default port and database filled in). Two pools share a store
 * when their keys are equal.
 */
export interface PoolStore {
  pool: string;
  key: string;
  /** For messages: "the built-in Redis of RelayPool \"home\"", "external Redis redis://r:6379/0". */
  description: string;
}

export function storeOfPool(pool: RelayPool): PoolStore {
  const name = pool.metadata.name;
  const redis = pool.spec.redis;
  if ('external' in redis) {
    const normalized = normalizeRedisUrl(redis.external.url);
    const kind = redis.external.cluster ? 'Redis Cluster' : 'Redis';
    return {
      pool: name,
      key: `external:${redis.external.cluster ? 'cluster:' : ''}${normalized}`,
      description: `external ${kind} ${normalized}`,
    };
  }
  // A borrowed built-in Redis is the named pool's store, whatever that pool turns out to be:
  // the borrowing pool itself is not Ready until the named pool has a built-in Redis.
  const owner = 'relayPool' in redis ? redis.relayPool.name : name;
  return {
    pool: name,
    key: `builtin:${pool.metadata.namespace ?? ''}/${owner}`,
    description: `the built-in Redis of RelayPool "${owner}"`,
  };
}

/** scheme://host:port/db, lower-case host, no user or password; the URL as given if unparsable. */
export function normalizeRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    const port = parsed.port === '' ? '6379' : parsed.port;
    const db = parsed.pathname.replace(/^\/+/, '').replace(/\/+$/, '');
    return `${parsed.protocol}//${parsed.hostname.toLowerCase()}:${port}/${db === '' ? '0' : db}`;
  } catch {
    return url;
  }
}

/** Why a Domain's pools cannot serve it together; undefined when they share one store. */
export interface StoreProblem {
  reason: 'RelayPoolsOnDifferentStores' | 'StoreChanged';
  message: string;
}

export interface DomainStoreCheck {
  /** The Domain's store: the recorded one, else the home pool's (undefined without pools). */
  store: PoolStore | undefined;
  /** The pools on that store, in the Domain's order: the only ones handed to devices. */
  pools: string[];
  problem: StoreProblem | undefined;
}

/**
 * Checks that every pool of a Domain (found ones, in spec order, home first) uses one store, and
 * that it is the store the Domain's data already lives on (`recorded`, status.store). A refusal
 * changes nothing: devices keep being given only the pools on the Domain's store.
 */
export function checkDomainStores(
  pools: readonly PoolStore[],
  recorded: string | undefined,
): DomainStoreCheck {
  const home = pools[0];
  if (home === undefined) {
    // No pool found (yet): the Domain stays where its data is.
    const store =
      recorded === undefined
        ? undefined
        : { pool: '', key: recorded, description: describeKey(recorded) };
    return { store, pools: [], problem: undefined };
  }
  const keys = new Set(pools.map((pool) => pool.key));
  const current =
    recorded === undefined
      ? home
      : (pools.find((pool) => pool.key === recorded) ?? {
          pool: '',
          key: recorded,
          description: describeKey(recorded),
        });
  const onStore = pools.filter((pool) => pool.key === current.key).map((pool) => pool.pool);
  if (recorded !== undefined && !keys.has(recorded)) {
    return {
      store: current,
      pools: onStore,
      problem: {
        reason: 'StoreChanged',
        message:
          `the Domain's queues and device directory live on ${current.description}, but no pool ` +
          `in spec.relayPools uses it any more (${list(pools)}). Grove does not move a Domain ` +
          'between stores by itself: put a pool on the old store back first, then follow ' +
          '"Moving a Domain between stores" in docs/architecture.md. Nothing was changed or deleted.',
      },
    };
  }
  if (keys.size > 1) {
    return {
      store: current,
      pools: onStore,
      problem: {
        reason: 'RelayPoolsOnDifferentStores',
        message:
          `every RelayPool of a Domain must use the same Redis (each pool's relays read the ` +
          `Domain's queues and device directory from it; a device moved to a pool on another ` +
          `store would be unknown there): ${list(pools)}. Point every pool at one store ` +
          '(spec.redis.external with the same URL, or spec.redis.relayPool naming the pool ' +
          'whose built-in Redis it is) or list only pools of one store. Nothing ' +
          `was changed: devices are given only ${onStore.map((p) => `"${p}"`).join(', ')}.`,
      },
    };
  }
  return { store: current, pools: onStore, problem: undefined };
}

function list(pools: readonly PoolStore[]): string {
  return pools.map((pool) => `"${pool.pool}" uses ${pool.description}`).join('; ');
}

function describeKey(key: string): string {
  if (key.startsWith('builtin:')) {
    const name = key.slice(key.indexOf('/') + 1);
    return `the built-in Redis of RelayPool "${name}"`;
  }
  return `external Redis ${key.replace(/^external:(cluster:)?/, '')}`;
}
