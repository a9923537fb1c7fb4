/**
 * Desired state of a RelayPool's children: pure functions of the pool, the Domains it serves
 * and the images, returning plain objects for server-side apply. Same input, same bytes.
 */
import type { RelayPool } from '../../../crds/relaypool.js';
import type { KubeObject } from '../../../kube/kube-object.js';
import { labelKeys } from '../labels.js';
import type { RelayPoolBuildInput } from './input.js';
import { buildRelayIngress } from './ingress.js';
import { buildRedisClientService, buildRedisService, buildRedisStatefulSet } from './redis.js';
import { buildRedisPodDisruptionBudget } from './redis-ha.js';
import { buildRelayConfigMap } from './relay-config.js';
import {
  buildRelayDeployment,
  buildRelayHorizontalPodAutoscaler,
  buildRelayMetricsService,
  buildRelayPodDisruptionBudget,
  buildRelayService,
} from './relay.js';
import { buildRedisNetworkPolicy, buildRelayNetworkPolicy } from './network-policy.js';

export { canonicalJson, configHash } from './canonical-json.js';
export {
  MAX_NODE_ENDPOINTS,
  nodeAddresses,
  observedRelayService,
  relayPoolEndpoints,
  relayPoolExposure,
  type ObservedRelayService,
  type RelayPoolExposure,
  type RelayPoolObservedNetwork,
} from './endpoints.js';
export { buildRelayIngress } from './ingress.js';
export type { RelayPoolBuildInput, RelayPublicKey, ServedDomain } from './input.js';
export {
  commonLabels,
  relayPoolOwnerReference,
  selectorLabels,
  type RelayPoolComponent,
} from './metadata.js';
export {
  MAX_RELAY_POOL_NAME_LENGTH,
  RelayPoolBuildError,
  relayPoolNames,
  type RelayPoolBuildErrorReason,
  type RelayPoolNames,
} from './names.js';
export {
  REDIS_DATA_DIR,
  buildRedisClientService,
  buildRedisService,
  buildRedisStatefulSet,
} from './redis.js';
export {
  SENTINEL_MASTER_NAME,
  SENTINEL_PORT,
  buildRedisPodDisruptionBudget,
  builtinRedisHa,
  builtinSentinelUrl,
  redisPodCount,
  redisPodHosts,
} from './redis-ha.js';
export {
  REDIS_CONF_KEY,
  REDIS_PASSWORD_KEY,
  redisAuthConf,
  buildRedisAuthSecret,
  builtinRedisPasswordSecret,
  redisPasswordSource,
} from './redis-auth.js';
export {
  REDIS_PORT,
  RELAY_CONFIG_DIR,
  RELAY_CONFIG_FILE,
  RELAY_PORT,
  RELAY_TLS_DIR,
  buildRelayConfig,
  buildRelayConfigMap,
  builtinRedisUrl,
  renderRelayJson,
  type RelayJson,
  type RelayJsonDomain,
} from './relay-config.js';
export {
  RELAY_REDIS_PASSWORD_ENV,
  REPLICAS_HANDOVER_FIELD_MANAGER,
  TERMINATION_GRACE_MARGIN_SECONDS,
  buildRelayDeployment,
  buildRelayHorizontalPodAutoscaler,
  buildRelayMetricsService,
  buildRelayPodDisruptionBudget,
  buildRelayReplicasHandover,
  buildRelayService,
} from './relay.js';

export { MAX_STORE_BORROWERS, builtinStorePool, redisHaOf, redisPoolOf } from './store.js';
export {
  REDIS_CLIENT_COMPONENTS,
  RELAY_METRICS_PORT,
  buildRedisNetworkPolicy,
  buildRelayNetworkPolicy,
  redisUrlPort,
} from './network-policy.js';

/**
 * Every child of a pool except the Redis password Secret (whose password the caller makes),
 * in apply order: what a workload mounts or names exists before the workload, and the
 * Deployment before the autoscaler that scales it. Kinds a pool does not need (Redis objects
 * for external Redis, the autoscaler without autoscaling) are absent: the caller deletes
 * those it finds left over.
 */
export function buildRelayPoolChildren(input: RelayPoolBuildInput): KubeObject[] {
  const { pool } = input;
  return [
    // Policies first: no pod runs a moment without them.
    buildRedisNetworkPolicy(input),
    buildRelayNetworkPolicy(input),
    buildRelayConfigMap(input),
    buildRedisService(pool),
    buildRedisClientService(pool),
    buildRedisStatefulSet(input),
    buildRedisPodDisruptionBudget(pool),
    buildRelayDeployment(input),
    buildRelayService(pool),
    buildRelayMetricsService(pool),
    buildRelayIngress(pool),
    buildRelayPodDisruptionBudget(pool),
    buildRelayHorizontalPodAutoscaler(pool),
  ].filter((child): child is KubeObject => child !== undefined);
}

/** The relay pods' selector in string form: status.selector, for the scale subresource and HPA. */
export function relayPoolSelector(pool: RelayPool): string {
  return `${labelKeys.component}=relay,${labelKeys.instance}=${pool.metadata.name}`;
}
