import { MAX_RELAY_POOL_NAME_LENGTH, type RelayPool } from '../../../crds/relaypool.js';

/** Names of everything the operator creates for one RelayPool. */
export interface RelayPoolNames {
  /** Deployment, client Service, PodDisruptionBudget and HorizontalPodAutoscaler of the relays. */
  relay: string;
  /** Headless Service of the relays' metrics port, for Prometheus. */
  metrics: string;
  /** ConfigMap holding relay.json. */
  config: string;
  /** StatefulSet and headless Service of the built-in Redis. */
  redis: string;
  /** ClusterIP Service in front of the built-in Redis's pod 0: its clients' address. */
  redisClients: string;
  /** Secret holding the built-in Redis password (key "password"). */
  redisAuth: string;
}

export function relayPoolNames(poolName: string): RelayPoolNames {
  return {
    relay: `${poolName}-relay`,
    metrics: `${poolName}-metrics`,
    config: `${poolName}-relay-config`,
    redis: `${poolName}-redis`,
    redisClients: `${poolName}-redis-svc`,
    redisAuth: `${poolName}-redis-auth`,
  };
}

/**
 * Longest RelayPool name whose children all get valid names and labels (the CRD enforces it;
 * the builders check again for objects stored before it did). The tightest limit is not a name
 * but a label: the StatefulSet controller labels each Redis pod with
 * `controller-revision-hash: <statefulset name>-<hash of up to 10 characters>`, a label value
 * of at most 63 characters, so `${pool}-redis` may have at most 52 (the well-known 52-character
 * limit of StatefulSet names; past it, the pods are never created). The looser limits:
 * Service names are DNS labels (`${pool}-redis-svc` ≤ 63, so pool ≤ 53) and so is
 * the Redis pod hostname (`${pool}-redis-0` ≤ 63, so pool ≤ 55).
 */
export { MAX_RELAY_POOL_NAME_LENGTH };

export type RelayPoolBuildErrorReason =
  'NameTooLong' | 'MissingNamespace' | 'MissingUid' | 'StorePoolUnresolved' | 'TooManyBorrowers';

/** A RelayPool whose children cannot be built; `reason` is CamelCase, fit for a condition. */
export class RelayPoolBuildError extends Error {
  override readonly name = 'RelayPoolBuildError';

  constructor(
    readonly reason: RelayPoolBuildErrorReason,
    message: string,
  ) {
    super(message);
  }
}

/** Name and namespace of a pool, checked: every builder starts here. */
export function poolIdentity(pool: RelayPool): { name: string; namespace: string } {
  const { name, namespace } = pool.metadata;
  if (name.length > MAX_RELAY_POOL_NAME_LENGTH) {
    throw new RelayPoolBuildError(
      'NameTooLong',
      `RelayPool name "${name}" has ${name.length} characters, at most ${MAX_RELAY_POOL_NAME_LENGTH} fit: ` +
        `the pods of its Redis StatefulSet "${name}-redis" carry a controller-revision-hash label ` +
        `"${name}-redis-<hash>" that must fit in 63 characters; create the pool under a shorter name`,
    );
  }
  if (namespace === undefined || namespace === '') {
    throw new RelayPoolBuildError(
      'MissingNamespace',
      `RelayPool "${name}" has no metadata.namespace: its children are namespaced`,
    );
  }
  return { name, namespace };
}
