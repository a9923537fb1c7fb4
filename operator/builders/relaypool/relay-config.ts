import type { V1ConfigMap } from '@kubernetes/client-node';
import { RELAY_LIMIT_KEYS, type RelayLimits } from '../../../crds/relay-limits.js';
import type { RelayPool } from '../../../crds/relaypool.js';
import type { RelayConfigInput } from '../../../relay/config.js';
import type { KubeObject } from '../../../kube/kube-object.js';
import { canonicalJson } from './canonical-json.js';
import type { RelayPoolBuildInput, RelayPublicKey } from './input.js';
import { childMetadata, type Plain } from './metadata.js';
import { poolIdentity, relayPoolNames } from './names.js';
import { builtinRedisHa, builtinSentinelUrl } from './redis-ha.js';
import { builtinStorePool } from './store.js';

export const RELAY_PORT = 8443;
export const REDIS_PORT = 6379;
/** Where relay pods mount the ConfigMap. */
export const RELAY_CONFIG_DIR = '/etc/grove';
export const RELAY_CONFIG_FILE = 'relay.json';
/** Where relay pods mount spec.tls.secretName (a kubernetes.io/tls Secret). */
export const RELAY_TLS_DIR = '/etc/grove/tls';

/** One served domain in relay.json. */
export interface RelayJsonDomain {
  name: string;
  publicKeys: RelayPublicKey[];
  limits: RelayLimits;
}

/**
 * relay.json as the operator writes it: what every pod of the pool shares. No podId (each pod
 * is told its own name in POD_NAME) and no Redis password (GROVE_REDIS_PASSWORD, from a Secret).
 */
export interface RelayJson {
  host: string;
  port: number;
  /** With spec.tls: the mounted Secret's files (relays reload them when they change). */
  tls?: { certFile: string; keyFile: string };
  redis: {
    url: string;
    cluster: boolean;
    /** Built-in Redis with highAvailability: sends wait for this many replicas. */
    replicaAcks?: { replicas: number; timeoutMs: number };
  };
  domains: RelayJsonDomain[];
  drain: { gracePeriodSeconds: number; batchSize: number; batchIntervalMs: number };
  /** Only what spec.connection sets: the relay keeps its defaults for the rest. */
  connection?: {
    headersTimeoutMs?: number;
    requestTimeoutMs?: number;
    idleTimeoutMs?: number;
    maxConnections?: number;
  };
}

/**
 * The in-cluster address of a pool's built-in Redis: its ClusterIP Service (redis.ts,
 * buildRedisClientService); with highAvailability, the Sentinels of every pod
 * (sentinel://…/grove).
 */
export function builtinRedisUrl(pool: RelayPool): string {
  if (builtinRedisHa(pool) !== undefined) return builtinSentinelUrl(pool);
  const { name, namespace } = poolIdentity(pool);
  const { redisClients } = relayPoolNames(name);
  return `redis://${redisClients}.${namespace}.svc:${REDIS_PORT}`;
}

function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

function byKid(a: { kid: string }, b: { kid: string }): number {
  return a.kid < b.kid ? -1 : a.kid > b.kid ? 1 : 0;
}

/**
 * relay.json's redis: an external Redis as given; a built-in one, the pool's own or the one it
 * borrows (spec.redis.relayPool), as that pool's own relays have it: same URL, same acks.
 */
function relayRedis(input: RelayPoolBuildInput): RelayJson['redis'] {
  const { redis } = input.pool.spec;
  if ('external' in redis) return { url: redis.external.url, cluster: redis.external.cluster };
  const redisPool = builtinStorePool(input);
  const ha = builtinRedisHa(redisPool);
  return {
    url: builtinRedisUrl(redisPool),
    cluster: false,
    ...(ha === undefined
      ? {}
      : {
          replicaAcks: {
            replicas: Math.min(ha.replicaAcks, ha.replicas),
            timeoutMs: ha.ackTimeoutMs,
          },
        }),
  };
}

export function buildRelayConfig(input: RelayPoolBuildInput): RelayJson {
  const { spec } = input.pool;
  const redis = relayRedis(input);
  // Sorted, and copied field by field: the pods roll whenever this text changes, so neither the
  // order the Domains were listed in nor extra JWK members (alg, use…) may change it. A domain
  // without keys yet (its signing key is still being made) is left out: it could verify no
  // token anyway, and relays reject a domain entry without keys.
  const domains = [...input.domains]
    .filter((domain) => domain.publicKeys.length > 0)
    .sort(byName)
    .map((domain) => ({
      name: domain.name,
      publicKeys: [...domain.publicKeys]
        .sort(byKid)
        .map((key) => ({ kty: key.kty, crv: key.crv, x: key.x, kid: key.kid })),
      limits: Object.fromEntries(
        RELAY_LIMIT_KEYS.map((key) => [key, domain.limits[key]]),
      ) as RelayLimits,
    }));
  const config = {
    host: '0.0.0.0',
    port: RELAY_PORT,
    ...(spec.tls === undefined
      ? {}
      : { tls: { certFile: `${RELAY_TLS_DIR}/tls.crt`, keyFile: `${RELAY_TLS_DIR}/tls.key` } }),
    redis,
    domains,
    drain: {
      gracePeriodSeconds: spec.drain.gracePeriodSeconds,
      batchSize: spec.drain.batchSize,
      batchIntervalMs: spec.drain.batchIntervalMs,
    },
    // Absent unless set, so a pool that sets nothing renders the relay.json it always did (and
    // its pods do not roll when the operator is upgraded).
    ...(spec.connection === undefined || Object.keys(spec.connection).length === 0
      ? {}
      : { connection: connectionOf(spec.connection) }),
  } satisfies RelayConfigInput;
  return config;
}

/** spec.connection copied field by field: only the fields relays read, only those set. */
function connectionOf(
  connection: NonNullable<RelayPool['spec']['connection']>,
): NonNullable<RelayJson['connection']> {
  const { headersTimeoutMs, requestTimeoutMs, idleTimeoutMs, maxConnections } = connection;
  return {
    ...(headersTimeoutMs === undefined ? {} : { headersTimeoutMs }),
    ...(requestTimeoutMs === undefined ? {} : { requestTimeoutMs }),
    ...(idleTimeoutMs === undefined ? {} : { idleTimeoutMs }),
    ...(maxConnections === undefined ? {} : { maxConnections }),
  };
}

/** The text of relay.json: canonical, indented, newline-terminated. */
export function renderRelayJson(config: RelayJson): string {
  return `${canonicalJson(config, 2)}\n`;
}

export function buildRelayConfigMap(input: RelayPoolBuildInput): KubeObject {
  const { pool } = input;
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: childMetadata(pool, relayPoolNames(pool.metadata.name).config, 'relay'),
    data: { [RELAY_CONFIG_FILE]: renderRelayJson(buildRelayConfig(input)) },
  } satisfies Plain<V1ConfigMap> & KubeObject;
}
