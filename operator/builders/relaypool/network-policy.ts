import type {
  V1LabelSelector,
  V1NetworkPolicyPeer,
  V1NetworkPolicyPort,
} from '@kubernetes/client-node';
import { DEFAULT_METRICS_PORT } from '../../../contracts/metrics-server.js';
import type { MetricsPeer, RelayPool } from '../../../crds/relaypool.js';
import type { KubeObject } from '../../../kube/kube-object.js';
import { labelKeys } from '../labels.js';
import type { RelayPoolBuildInput } from './input.js';
import { childMetadata, selectorLabels, type Plain } from './metadata.js';
import { RelayPoolBuildError, poolIdentity, relayPoolNames } from './names.js';
import { REDIS_PORT, RELAY_PORT } from './relay-config.js';
import { SENTINEL_PORT, builtinRedisHa } from './redis-ha.js';
import { MAX_STORE_BORROWERS, builtinStorePool } from './store.js';

/** Port of the relays' /metrics (relay.json leaves metrics.port at the relay's default). */
export const RELAY_METRICS_PORT = DEFAULT_METRICS_PORT;

/**
 * Pods that may reach a built-in Redis besides the pool's relays, by their
 * app.kubernetes.io/component label: the operator (purges a Domain's keys), the Manager (its
 * store) and Data Bridge pods (archives).
 */
export const REDIS_CLIENT_COMPONENTS = ['operator', 'manager', 'bridge'] as const;

/** The label every namespace carries with its own name (Kubernetes ≥ 1.22). */
const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

/**
 * A NetworkPolicy as it is on the wire. Not Plain<V1NetworkPolicy>: @kubernetes/client-node
 * names the ingress rule's `from` field `_from` in its model.
 */
interface NetworkPolicyObject extends KubeObject {
  spec: {
    podSelector: Plain<V1LabelSelector>;
    policyTypes: ('Ingress' | 'Egress')[];
    ingress: { from?: Plain<V1NetworkPolicyPeer>[]; ports?: Plain<V1NetworkPolicyPort>[] }[];
    /** Absent with policyTypes Egress: nothing out (the API server drops an empty list). */
    egress?: { to?: Plain<V1NetworkPolicyPeer>[]; ports?: Plain<V1NetworkPolicyPort>[] }[];
  };
}

type EgressRule = NonNullable<NetworkPolicyObject['spec']['egress']>[number];

const tcp = (port: number): Plain<V1NetworkPolicyPort> => ({ protocol: 'TCP', port });

/** DNS to any resolver: cluster DNS runs in kube-system on most clusters, but not all. */
const dnsEgress: EgressRule = {
  ports: [
    { protocol: 'UDP', port: 53 },
    { protocol: 'TCP', port: 53 },
  ],
};

/** The built-in Redis's ports: Redis, and with highAvailability the Sentinels'. */
function redisPorts(pool: RelayPool): Plain<V1NetworkPolicyPort>[] {
  return builtinRedisHa(pool) === undefined
    ? [tcp(REDIS_PORT)]
    : [tcp(REDIS_PORT), tcp(SENTINEL_PORT)];
}

/** The port of an external Redis URL (redis:// or rediss://, default 6379). */
export function redisUrlPort(url: string): number {
  try {
    const port = new URL(url).port;
    return port === '' ? REDIS_PORT : Number(port);
  } catch {
    return REDIS_PORT;
  }
}

/** Namespaces by name (each once, sorted). */
export function namespacesIn(names: readonly string[]): Plain<V1LabelSelector> {
  return {
    matchExpressions: [
      { key: NAMESPACE_NAME_LABEL, operator: 'In', values: [...new Set(names)].sort() },
    ],
  };
}

/** The peers of a `metricsFrom` list; every pod of the object's namespace when omitted. */
export function metricsScrapers(
  metricsFrom: readonly MetricsPeer[] | undefined,
): Plain<V1NetworkPolicyPeer>[] {
  if (metricsFrom === undefined) return [{ podSelector: {} }];
  return metricsFrom.map((peer) => ({
    // A peer with neither selector would mean "every pod in the namespace" to Kubernetes
    // only with podSelector set: state it, so the peer is never empty.
    podSelector: peer.podSelector ?? {},
    ...(peer.namespaceSelector === undefined ? {} : { namespaceSelector: peer.namespaceSelector }),
  }));
}

/**
 * The relay pods' NetworkPolicy: the relay port from anywhere (clients come from the internet,
 * an Ingress controller or a load balancer); the metrics port from spec.networkPolicy
 * .metricsFrom, else from pods of the pool's namespace; out only to the pool's Redis and DNS.
 * Undefined when spec.networkPolicy.enabled is false.
 */
export function buildRelayNetworkPolicy(input: RelayPoolBuildInput): KubeObject | undefined {
  const { pool } = input;
  const { name } = poolIdentity(pool);
  const { networkPolicy } = pool.spec;
  if (!networkPolicy.enabled) return undefined;
  const scrapers = metricsScrapers(networkPolicy.metricsFrom);
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: childMetadata(pool, relayPoolNames(name).relay, 'relay'),
    spec: {
      podSelector: { matchLabels: selectorLabels(name, 'relay') },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [{ ports: [tcp(RELAY_PORT)] }, { from: scrapers, ports: [tcp(RELAY_METRICS_PORT)] }],
      egress: [redisEgress(input), dnsEgress],
    },
  } satisfies NetworkPolicyObject;
}

function redisEgress(input: RelayPoolBuildInput): EgressRule {
  const { redis } = input.pool.spec;
  if ('external' in redis) {
    // An external Redis has no pod to select: its port, at any address. Redis Cluster nodes
    // are reached on the seed's port (docs/operator.md, "NetworkPolicies").
    return { ports: [tcp(redisUrlPort(redis.external.url))] };
  }
  // The pool's own Redis pods, or those of the pool it borrows (same namespace).
  const redisPool = builtinStorePool(input);
  return {
    to: [{ podSelector: { matchLabels: selectorLabels(redisPool.metadata.name, 'redis') } }],
    ports: redisPorts(redisPool),
  };
}

/** input.borrowers, checked and sorted: each one's relays are a peer of the Redis policy. */
function borrowersOf(input: RelayPoolBuildInput): string[] {
  const borrowers = [...new Set(input.borrowers ?? [])].sort();
  if (borrowers.length > MAX_STORE_BORROWERS) {
    throw new RelayPoolBuildError(
      'TooManyBorrowers',
      `${borrowers.length} RelayPools use the built-in Redis of RelayPool "${input.pool.metadata.name}", ` +
        `at most ${MAX_STORE_BORROWERS} may`,
    );
  }
  return borrowers;
}

/**
 * The built-in Redis's NetworkPolicy: its port only from the pool's relays, the relays of the
 * pools that borrow it (`input.borrowers`), and from Grove's
 * operator, Manager and bridge pods (REDIS_CLIENT_COMPONENTS) in the pool's namespace or in
 * `input.groveNamespaces`; nothing out (a single Redis calls no one). Undefined for an external
 * Redis or when spec.networkPolicy.enabled is false.
 */
export function buildRedisNetworkPolicy(input: RelayPoolBuildInput): KubeObject | undefined {
  const { pool } = input;
  const { name, namespace } = poolIdentity(pool);
  if (!pool.spec.networkPolicy.enabled || !('builtin' in pool.spec.redis)) return undefined;
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: childMetadata(pool, relayPoolNames(name).redis, 'redis'),
    spec: {
      podSelector: { matchLabels: selectorLabels(name, 'redis') },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [
        {
          from: [
            { podSelector: { matchLabels: selectorLabels(name, 'relay') } },
            // Pools that use this Redis (spec.redis.relayPool), in the same namespace.
            ...borrowersOf(input).map((borrower) => ({
              podSelector: { matchLabels: selectorLabels(borrower, 'relay') },
            })),
            {
              podSelector: {
                matchExpressions: [
                  {
                    key: labelKeys.component,
                    operator: 'In',
                    values: [...REDIS_CLIENT_COMPONENTS],
                  },
                ],
              },
              namespaceSelector: namespacesIn([namespace, ...(input.groveNamespaces ?? [])]),
            },
          ],
          ports: redisPorts(pool),
        },
        // highAvailability: replication and the Sentinels talk among the Redis pods.
        ...(builtinRedisHa(pool) === undefined
          ? []
          : [
              {
                from: [{ podSelector: { matchLabels: selectorLabels(name, 'redis') } }],
                ports: redisPorts(pool),
              },
            ]),
      ],
      // No egress rules: a single Redis calls no one. With highAvailability: the other Redis
      // pods, and DNS (they know each other by name).
      ...(builtinRedisHa(pool) === undefined
        ? {}
        : {
            egress: [
              {
                to: [{ podSelector: { matchLabels: selectorLabels(name, 'redis') } }],
                ports: redisPorts(pool),
              },
              dnsEgress,
            ],
          }),
    },
  } satisfies NetworkPolicyObject;
}
