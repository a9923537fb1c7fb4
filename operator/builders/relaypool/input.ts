import type { RelayLimits } from '../../../crds/relay-limits.js';
import type { RelayPool } from '../../../crds/relaypool.js';

/** A domain's public signing key, as relays list it (relayPublicKey of contracts/auth/device-token.ts). */
export interface RelayPublicKey {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  kid: string;
}

/** A Domain served by the pool, with its published keys and its merged limits. */
export interface ServedDomain {
  name: string;
  publicKeys: RelayPublicKey[];
  limits: RelayLimits;
}

export interface RelayPoolBuildInput {
  /** Parsed by relayPoolSchema (defaults applied), with metadata.name, namespace and uid set. */
  pool: RelayPool;
  /** Domains whose spec.relayPools names this pool, in any order. */
  domains: ServedDomain[];
  /** Relay image when spec.image is unset: the operator's own. */
  image: string;
  /** Image of the built-in Redis (Grove's image ships redis-server). */
  redisImage: string;
  /**
   * Secret holding the built-in Redis password under key "password"; default
   * `relayPoolNames(pool).redisAuth`, the Secret buildRedisAuthSecret makes.
   */
  redisPasswordSecret?: string;
  /**
   * A hash of the built-in Redis password (never the password): on both pod templates, so that
   * Redis and the relays restart together when the password Secret is replaced.
   */
  redisAuthHash?: string;
  /**
   * Namespaces Grove's operator, Manager and bridge pods run in besides the pool's own (the
   * chart's release namespace): the built-in Redis's NetworkPolicy admits them from there.
   */
  groveNamespaces?: readonly string[];
  /**
   * With spec.redis.relayPool: the pool it names, parsed, in the same namespace, with a
   * built-in Redis (the caller checks; the builders refuse anything else). Its relays use that
   * Redis, and `redisPasswordSecret` / `redisAuthHash` are then that pool's.
   */
  storePool?: RelayPool;
  /**
   * Pools whose spec.redis.relayPool names this one (at most MAX_STORE_BORROWERS): the built-in
   * Redis's NetworkPolicy admits their relays too.
   */
  borrowers?: readonly string[];
}
