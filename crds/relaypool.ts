import { z } from 'zod';
import {
  apiVersionSchema,
  conditionsSchema,
  dnsLabelSchema,
  dnsSubdomainSchema,
  labelSelectorSchema,
  objectMetaSchema,
  qualifiedNameSchema,
  quantitySchema,
  resourceRequirementsSchema,
  secretKeySelectorSchema,
} from './common.js';
import { celRules, listOfUniqueValues } from './crd-meta.js';

export const publicUrlPattern = /^(wss?|https?):\/\/[^\s/?#]+(\/[^\s?#]*)?$/;
export const redisUrlPattern = /^rediss?:\/\/[^\s]+$/;

export const relayServiceSchema = z
  .strictObject({
    type: z
      .enum(['ClusterIP', 'NodePort', 'LoadBalancer'])
      .default('ClusterIP')
      .describe(
        'Kubernetes Service type in front of the relay pods (default ClusterIP: reachable only ' +
          'inside the cluster). NodePort: clients reach every node at nodePort; LoadBalancer: the ' +
          "cloud's load balancer address. The operator publishes the resulting address in status.endpoints.",
      ),
    port: z
      .int()
      .min(1)
      .max(65535)
      .default(443)
      .describe('Service port clients connect to (default 443).'),
    nodePort: z
      .int()
      .min(1)
      .max(65535)
      .optional()
      .describe(
        "Node port of a NodePort or LoadBalancer Service (within the cluster's node port range, " +
          '30000-32767 by default); Kubernetes picks one when omitted.',
      ),
    externalTrafficPolicy: z
      .enum(['Cluster', 'Local'])
      .optional()
      .describe(
        'externalTrafficPolicy of a NodePort or LoadBalancer Service. Local keeps client source ' +
          'addresses and skips a hop, but only nodes that run a relay pod answer.',
      ),
    annotations: z
      .record(qualifiedNameSchema, z.string())
      .optional()
      .describe('Annotations added to the Service, e.g. for a cloud load balancer.'),
  })
  .describe('The Service that load-balances client connections over the relay pods.')
  .meta(
    celRules(
      {
        rule: "!has(self.nodePort) || self.type != 'ClusterIP'",
        message: 'nodePort needs type NodePort or LoadBalancer',
        fieldPath: '.nodePort',
      },
      {
        rule: "!has(self.externalTrafficPolicy) || self.type != 'ClusterIP'",
        message: 'externalTrafficPolicy needs type NodePort or LoadBalancer',
        fieldPath: '.externalTrafficPolicy',
      },
    ),
  );

export const relayIngressSchema = z
  .strictObject({
    host: dnsSubdomainSchema.describe(
      'Host name clients use, e.g. relays.example.com; the Ingress routes all of it (/v1/connect ' +
        'WebSocket upgrades and the long-poll requests) to the relay Service.',
    ),
    className: z
      .string()
      .min(1)
      .max(253)
      .optional()
      .describe('ingressClassName; the cluster default class when omitted.'),
    annotations: z
      .record(qualifiedNameSchema, z.string())
      .optional()
      .describe(
        'Annotations of the Ingress, e.g. cert-manager.io/cluster-issuer, or the controller’s ' +
          'read timeout (keep it above 60 s: long polls wait 25 s, WebSocket pings come every 15 s).',
      ),
    tls: z
      .strictObject({
        secretName: dnsSubdomainSchema.describe(
          'kubernetes.io/tls Secret with the certificate for host (cert-manager can create it ' +
            'from an annotation).',
        ),
      })
      .optional()
      .describe('TLS ends at the Ingress: clients are given wss://host. Without it, ws://host.'),
  })
  .describe(
    'An Ingress in front of the relay Service: clients are given ws(s)://host instead of the ' +
      'Service address. Needs an Ingress controller that passes WebSocket upgrades (most do).',
  );

export const relayTlsSchema = z
  .strictObject({
    secretName: dnsSubdomainSchema.describe(
      'kubernetes.io/tls Secret (tls.crt, tls.key) in the pool’s namespace; relays read it from a ' +
        'mounted volume and reload it when it changes (no restart), e.g. when cert-manager renews it.',
    ),
  })
  .describe(
    'TLS ends at the relay pods: they serve wss:// and https:// with this certificate, and ' +
      'clients are given wss:// addresses.',
  );

/**
 * Pool names are shorter than other names: the operator derives child names from them, and the
 * longest, the built-in Redis StatefulSet's `controller-revision-hash` label value
 * (`<pool>-redis-<10-char hash>`), must stay a 63-character label value.
 */
export const MAX_RELAY_POOL_NAME_LENGTH = 46;

export const MAX_REDIS_REPLICAS = 4;

export const builtinRedisHaSchema = z
  .strictObject({
    replicas: z
      .int()
      .min(2)
      .max(MAX_REDIS_REPLICAS)
      .default(2)
      .describe(
        'Replicas of the primary (2 to 4, default 2), each a pod with its own volume and a ' +
          'Sentinel; with the primary, at least three pods, so a majority of Sentinels remains ' +
          'when one pod is lost. Can be raised, not lowered.',
      ),
    replicaAcks: z
      .int()
      .min(0)
      .max(MAX_REDIS_REPLICAS)
      .default(1)
      .describe(
        'A send is acknowledged only once this many replicas have it in their AOF (WAITAOF; ' +
          'default 1; at most replicas). While fewer replicas are in sync, sends are refused ' +
          '(retryable), never acknowledged. 0: the primary alone (a failover may lose ' +
          'acknowledged messages).',
      ),
    ackTimeoutMs: z
      .int()
      .min(100)
      .max(10000)
      .default(1000)
      .describe('How long a send waits for the replicas before it is refused (default 1000).'),
    downAfterMilliseconds: z
      .int()
      .min(1000)
      .max(60000)
      .default(5000)
      .describe(
        "How long the primary may be silent before the Sentinels fail over (Sentinel's " +
          'down-after-milliseconds, default 5000).',
      ),
  })
  .describe('A Redis primary with replicas, and a Sentinel in each pod.')
  .meta(
    celRules(
      {
        rule: '!has(self.replicaAcks) || !has(self.replicas) || self.replicaAcks <= self.replicas',
        message: 'replicaAcks cannot be more than replicas',
        fieldPath: '.replicaAcks',
      },
      {
        // Removing pods removes the highest ordinals, the primary possibly among them, while
        // the remaining Sentinels keep counting the removed ones' votes: on a real cluster the
        // store was left with no primary and no failover possible.
        rule: '!has(self.replicas) || !has(oldSelf.replicas) || self.replicas >= oldSelf.replicas',
        message:
          'replicas cannot be lowered: the Sentinels would keep counting the removed pods, the primary ' +
          'possibly among them; create a new RelayPool with fewer replicas and move the Domains to it',
        fieldPath: '.replicas',
      },
    ),
  );

export const builtinRedisSchema = z
  .strictObject({
    storage: quantitySchema
      .default('1Gi')
      .describe('Size of the Redis persistent volume (default 1Gi).'),
    storageClassName: dnsSubdomainSchema
      .optional()
      .describe('StorageClass of the volume; the cluster default when omitted.'),
    appendfsync: z
      .enum(['always', 'everysec'])
      .default('always')
      .describe(
        'AOF fsync policy. always: an acknowledged message survives a Redis crash; everysec: faster, ' +
          'but up to one second of acknowledged messages can be lost (default always).',
      ),
    resources: resourceRequirementsSchema.optional().describe('Compute resources of Redis.'),
    highAvailability: builtinRedisHaSchema
      .optional()
      .describe(
        'Replicas of the Redis, watched by Redis Sentinel: the primary can be lost without an ' +
          'acknowledged message (docs/architecture.md#durability-per-setting). Absent: one Redis pod.',
      ),
  })
  .describe('A single Redis with AOF persistence, run by the operator as a StatefulSet.')
  .meta(
    celRules(
      {
        // Back to one pod, pod 0 may be a replica that is behind the primary: refused.
        rule: 'has(self.highAvailability) || !has(oldSelf.highAvailability)',
        message:
          'highAvailability cannot be removed: pod 0 may not be the primary; create a new RelayPool instead',
        fieldPath: '.highAvailability',
      },
      {
        // A StatefulSet's volume claim template cannot change, nor can a bound volume's class.
        rule:
          'has(self.storageClassName) == has(oldSelf.storageClassName) && ' +
          '(!has(self.storageClassName) || self.storageClassName == oldSelf.storageClassName)',
        message:
          'storageClassName cannot be changed after creation: the Redis volume already exists',
        fieldPath: '.storageClassName',
      },
      {
        // volumeClaimTemplates of a StatefulSet are immutable: the operator could not apply it.
        rule: '!has(oldSelf.storage) || (has(self.storage) && self.storage == oldSelf.storage)',
        message:
          'storage cannot be changed after creation: expand the PersistentVolumeClaim data-<pool>-redis-0 ' +
          'directly, if its StorageClass allows expansion',
        fieldPath: '.storage',
      },
    ),
  );

export const externalRedisSchema = z
  .strictObject({
    url: z
      .string()
      .max(2048)
      .regex(redisUrlPattern, 'must be a redis:// or rediss:// URL')
      .describe(
        'redis:// or rediss:// (TLS) URL of the Redis server, or of any node of a Redis Cluster. ' +
          'Put the password in passwordSecretRef, not in the URL.',
      ),
    cluster: z
      .boolean()
      .default(false)
      .describe(
        'Whether the server is a Redis Cluster; relays then use sharded pub/sub (default false).',
      ),
    passwordSecretRef: secretKeySelectorSchema
      .optional()
      .describe('Secret key holding the Redis password.'),
  })
  .describe('A Redis or Redis Cluster run elsewhere, e.g. a managed service.');

/**
 * Another pool's built-in Redis, shared: the failover pools of a Domain (another zone, another
 * Service) are then stateless relay fleets in front of the home pool's store.
 */
export const borrowedRedisSchema = z
  .strictObject({
    name: dnsLabelSchema
      .max(MAX_RELAY_POOL_NAME_LENGTH)
      .describe(
        'Name of a RelayPool in the same namespace with a built-in Redis (spec.redis.builtin). ' +
          "This pool's relays use that Redis as the named pool's own relays do: the same address " +
          '(its Sentinels with highAvailability), password and replicaAcks; its Redis ' +
          'NetworkPolicy admits them. This pool runs no Redis of its own.',
      ),
  })
  .describe(
    "Use another RelayPool's built-in Redis: both pools then serve the same store, so one " +
      'Domain can list them both (docs/architecture.md#one-store-per-domain).',
  );

export const relayRedisSchema = z
  .union(
    [
      z.strictObject({ builtin: builtinRedisSchema.prefault({}) }),
      z.strictObject({ external: externalRedisSchema }),
      z.strictObject({ relayPool: borrowedRedisSchema }),
    ],
    { error: 'must set exactly one of: builtin, external, relayPool' },
  )
  .prefault({})
  .describe(
    'Where the pool keeps its queues: exactly one of builtin, external or relayPool (default: ' +
      'builtin with its defaults).',
  )
  // The generator adds the "exactly one of" rule itself, as it does for every union.
  .meta(
    celRules({
      // The queued messages live in the current Redis: switching would silently drop them.
      rule: 'has(self.builtin) == has(oldSelf.builtin) && has(self.external) == has(oldSelf.external)',
      message:
        'cannot switch between builtin, external and relayPool Redis after creation: the queued ' +
        'messages live in the current Redis; create a new RelayPool instead',
    }),
  );

export const autoscalingSchema = z
  .strictObject({
    minReplicas: z.int().min(1).describe('Fewest relay pods the autoscaler keeps.'),
    maxReplicas: z.int().min(1).describe('Most relay pods the autoscaler creates.'),
    targetCPUUtilizationPercentage: z
      .int()
      .min(1)
      .max(100)
      .default(70)
      .describe('Average CPU use, in percent of requests, the autoscaler aims for (default 70).'),
  })
  .describe(
    'Scale the pool with a HorizontalPodAutoscaler; replicas is then ignored. Needs resources.requests.cpu.',
  )
  .meta(
    celRules({
      rule: 'self.minReplicas <= self.maxReplicas',
      message: 'minReplicas must be <= maxReplicas',
      fieldPath: '.minReplicas',
    }),
  );

export const drainSchema = z
  .strictObject({
    gracePeriodSeconds: z
      .int()
      .min(1)
      .max(3600)
      .default(30)
      .describe('Time a stopping relay pod has to close its connections, in seconds (default 30).'),
    batchSize: z
      .int()
      .min(1)
      .default(100)
      .describe(
        'Connections closed per batch with the "reconnect elsewhere" code while draining (default 100).',
      ),
    batchIntervalMs: z
      .int()
      .min(0)
      .default(200)
      .describe(
        'Pause between batches, in milliseconds, so clients do not all reconnect at once (default 200).',
      ),
  })
  .describe(
    'How a stopping relay pod hands its clients over: it goes unready, then closes connections in batches.',
  );

/** The relays' own defaults (relay/config.ts), which the CRD's rule compares against. */
const RELAY_HEADERS_TIMEOUT_MS = 10_000;
const RELAY_REQUEST_TIMEOUT_MS = 30_000;

export const relayConnectionSchema = z
  .strictObject({
    headersTimeoutMs: z
      .int()
      .min(1000)
      .max(300_000)
      .optional()
      .describe(
        `An HTTP request head, or a new socket's first bytes (TLS handshake included), must arrive within this; else 408 and closed (1000 to 300000; the relay's default ${RELAY_HEADERS_TIMEOUT_MS}).`,
      ),
    requestTimeoutMs: z
      .int()
      .min(1000)
      .max(600_000)
      .optional()
      .describe(
        `A whole HTTP request, head and body, must arrive within this; else 408 and closed (1000 to 600000; the relay's default ${RELAY_REQUEST_TIMEOUT_MS}).`,
      ),
    idleTimeoutMs: z
      .int()
      .min(1000)
      .max(3_600_000)
      .optional()
      .describe(
        "A socket silent both ways this long is closed; a long poll gets its wait plus 10 s, WebSocket connections are not affected (1000 to 3600000; the relay's default 60000).",
      ),
    maxConnections: z
      .int()
      .min(1)
      .max(1_000_000)
      .optional()
      .describe(
        "Most open sockets per relay pod, WebSocket connections included; more are closed at once (1 to 1000000; the relay's default 50000).",
      ),
  })
  .describe(
    'What a slow or silent client may hold on each relay pod; a field left out keeps the relay default.',
  )
  .meta(
    celRules({
      rule:
        `(has(self.headersTimeoutMs) ? self.headersTimeoutMs : ${RELAY_HEADERS_TIMEOUT_MS}) <= ` +
        `(has(self.requestTimeoutMs) ? self.requestTimeoutMs : ${RELAY_REQUEST_TIMEOUT_MS})`,
      message: `headersTimeoutMs must be <= requestTimeoutMs (the relay defaults are ${RELAY_HEADERS_TIMEOUT_MS} and ${RELAY_REQUEST_TIMEOUT_MS})`,
      fieldPath: '.headersTimeoutMs',
    }),
  );

export const disruptionBudgetSchema = z
  .strictObject({
    maxUnavailable: z
      .int()
      .min(1)
      .default(1)
      .describe(
        'Most relay pods a voluntary disruption (node drain, upgrade) may take down at once (default 1). ' +
          'At least 1 so node drains never block forever.',
      ),
  })
  .describe('The PodDisruptionBudget of the relay pods.');

export const metricsPeerSchema = z
  .strictObject({
    namespaceSelector: labelSelectorSchema
      .optional()
      .describe('Namespaces of the scrapers; the pool’s own namespace when omitted.'),
    podSelector: labelSelectorSchema
      .optional()
      .describe('Pods of the scrapers in those namespaces; every pod when omitted.'),
  })
  .describe('Who may scrape the relays’ /metrics port: a NetworkPolicy peer.');

export const relayNetworkPolicySchema = z
  .strictObject({
    enabled: z
      .boolean()
      .default(true)
      .describe(
        'Make NetworkPolicies for the pool (default true): relays accept their port from anywhere ' +
          'and the metrics port from metricsFrom, and reach only their Redis and DNS; the built-in ' +
          'Redis accepts only the pool’s relays and Grove’s operator, Manager and bridge pods. ' +
          'Enforced only where the cluster’s network plugin implements NetworkPolicy.',
      ),
    metricsFrom: z
      .array(metricsPeerSchema)
      .max(16)
      .optional()
      .describe(
        'Who may reach the relays’ metrics port (9090): any pod in the pool’s namespace when omitted.',
      ),
  })
  .describe('NetworkPolicies the operator makes for the pool.');

export const relayPoolSpecSchema = z
  .strictObject({
    replicas: z
      .int()
      .min(0)
      .default(2)
      .describe('Number of relay pods when autoscaling is not set (default 2).'),
    image: z
      .string()
      .min(1)
      .optional()
      .describe('Container image of the relay; the operator’s own image when omitted.'),
    service: relayServiceSchema.prefault({}),
    ingress: relayIngressSchema.optional(),
    tls: relayTlsSchema.optional(),
    publicUrls: z
      .array(
        z
          .string()
          .max(2048)
          .regex(publicUrlPattern, 'must be a ws://, wss://, http:// or https:// URL'),
      )
      .optional()
      .describe(
        'URLs clients are given to reach this pool (ws, wss, http or https), in order of preference, ' +
          'e.g. a DNS name in front of the load balancer. When omitted, the operator works them out: ' +
          'ingress.host, else the load balancer or node addresses of the Service, else its ' +
          'in-cluster address.',
      )
      .meta(listOfUniqueValues),
    redis: relayRedisSchema,
    autoscaling: autoscalingSchema.optional(),
    resources: resourceRequirementsSchema.optional().describe('Compute resources of a relay pod.'),
    drain: drainSchema.prefault({}),
    connection: relayConnectionSchema.optional(),
    disruptionBudget: disruptionBudgetSchema.prefault({}),
    topologySpread: z
      .boolean()
      .default(true)
      .describe('Spread relay pods across nodes and zones (default true).'),
    networkPolicy: relayNetworkPolicySchema.prefault({}),
  })
  .describe('Desired state of a fleet of relay pods and the Redis behind them.')
  // The CRD's copy of the rules of validateRelayPool that span fields.
  .meta(
    celRules({
      rule:
        '!has(self.autoscaling) || (has(self.resources) && has(self.resources.requests) && ' +
        'has(self.resources.requests.cpu))',
      message:
        'resources.requests.cpu is required with autoscaling, which scales on CPU use relative to requests',
      fieldPath: '.resources.requests.cpu',
    }),
  );

export const relayPoolStatusSchema = z
  .object({
    observedGeneration: z
      .int()
      .min(0)
      .optional()
      .describe('metadata.generation the status was computed from.'),
    replicas: z.int().min(0).optional().describe('Relay pods that exist.'),
    readyReplicas: z.int().min(0).optional().describe('Relay pods that accept connections.'),
    endpoints: z
      .array(z.string())
      .optional()
      .describe(
        'URLs clients are given for this pool (the Manager hands them out at enrollment and with ' +
          'every token): publicUrls; else ws(s)://ingress.host; else the load balancer’s ' +
          'addresses or the node addresses with the node port; else the in-cluster address.',
      ),
    clusterEndpoint: z
      .string()
      .optional()
      .describe('The in-cluster URL of the relay Service, for clients running in the cluster.'),
    selector: z
      .string()
      .optional()
      .describe('Label selector of the relay pods, in string form, for the scale subresource.'),
    store: z
      .string()
      .max(2100)
      .optional()
      .describe(
        'The store the relays use, as Domains compare it: builtin:NAMESPACE/POOL (the pool’s own ' +
          'built-in Redis, or with spec.redis.relayPool the named pool’s) or external:URL ' +
          '(without credentials).',
      ),
    redis: z
      .object({
        primary: z.string().optional().describe('The Redis pod the Sentinels name as primary.'),
        replicas: z
          .array(
            z.object({
              pod: z
                .string()
                .describe('The replica pod (or host:port when it announces an address).'),
              state: z.string().describe('online: in sync; else catching up (send_bulk, …).'),
              lagBytes: z
                .int()
                .min(0)
                .describe('Bytes of the replication stream the replica has not confirmed.'),
              lastAckSeconds: z
                .int()
                .min(0)
                .describe('Seconds since the replica last confirmed to the primary.'),
            }),
          )
          .max(8)
          .optional()
          .describe('The replicas connected to the primary.'),
        error: z.string().optional().describe('Why the replication could not be read, if not.'),
      })
      .optional()
      .describe(
        'Built-in Redis with highAvailability: the primary and the replication lag, read from ' +
          'the Sentinels and the primary at each reconcile (every 30 s at least).',
      ),
    conditions: conditionsSchema.optional(),
  })
  .describe('Observed state of the pool, written by the operator.');

export const relayPoolMetaSchema = objectMetaSchema
  .extend({
    name: dnsLabelSchema
      .max(
        MAX_RELAY_POOL_NAME_LENGTH,
        `must be at most ${MAX_RELAY_POOL_NAME_LENGTH} characters: names of the pool's Services and pods are derived from it`,
      )
      .describe(
        `Name of the pool; a DNS-1123 label of at most ${MAX_RELAY_POOL_NAME_LENGTH} characters (child objects add suffixes).`,
      ),
  })
  .describe(
    'Standard object metadata (the subset Grove reads); the name is at most 46 characters.',
  );

export const relayPoolSchema = z
  .object({
    apiVersion: apiVersionSchema,
    kind: z.literal('RelayPool').describe('Always RelayPool.'),
    metadata: relayPoolMetaSchema,
    spec: relayPoolSpecSchema,
    status: relayPoolStatusSchema.optional(),
  })
  .describe(
    'A horizontally scaled fleet of stateless relay pods sharing one Redis (or Redis Cluster).',
  );

export type RelayPoolSpec = z.infer<typeof relayPoolSpecSchema>;
export type RelayPoolStatus = z.infer<typeof relayPoolStatusSchema>;
export type RelayPool = z.infer<typeof relayPoolSchema>;
export type RelayRedis = z.infer<typeof relayRedisSchema>;
export type BuiltinRedis = z.infer<typeof builtinRedisSchema>;
export type BuiltinRedisHa = z.infer<typeof builtinRedisHaSchema>;
export type ExternalRedis = z.infer<typeof externalRedisSchema>;
export type BorrowedRedis = z.infer<typeof borrowedRedisSchema>;
export type RelayService = z.infer<typeof relayServiceSchema>;
export type RelayIngress = z.infer<typeof relayIngressSchema>;
export type RelayNetworkPolicy = z.infer<typeof relayNetworkPolicySchema>;
export type MetricsPeer = z.infer<typeof metricsPeerSchema>;

/** Cross-field rules; messages start with the field path. */
export function validateRelayPool(pool: RelayPool): string[] {
  const issues: string[] = [];
  const { spec } = pool;
  if (spec.autoscaling && spec.autoscaling.minReplicas > spec.autoscaling.maxReplicas) {
    issues.push(
      `spec.autoscaling.minReplicas: must be <= spec.autoscaling.maxReplicas (${spec.autoscaling.maxReplicas})`,
    );
  }
  if (spec.autoscaling && spec.resources?.requests?.cpu === undefined) {
    issues.push(
      'spec.resources.requests.cpu: required with spec.autoscaling, which scales on CPU use relative to requests',
    );
  }
  if (spec.service.type === 'ClusterIP' && spec.service.nodePort !== undefined) {
    issues.push('spec.service.nodePort: needs type NodePort or LoadBalancer');
  }
  if (spec.service.type === 'ClusterIP' && spec.service.externalTrafficPolicy !== undefined) {
    issues.push('spec.service.externalTrafficPolicy: needs type NodePort or LoadBalancer');
  }
  const ha = 'builtin' in spec.redis ? spec.redis.builtin.highAvailability : undefined;
  if (ha !== undefined && ha.replicaAcks > ha.replicas) {
    issues.push(
      `spec.redis.builtin.highAvailability.replicaAcks: must be <= replicas (${ha.replicas})`,
    );
  }
  if ('relayPool' in spec.redis && spec.redis.relayPool.name === pool.metadata.name) {
    issues.push(
      'spec.redis.relayPool.name: names this pool itself; name the pool whose built-in Redis to use',
    );
  }
  const headers = spec.connection?.headersTimeoutMs ?? RELAY_HEADERS_TIMEOUT_MS;
  const request = spec.connection?.requestTimeoutMs ?? RELAY_REQUEST_TIMEOUT_MS;
  if (headers > request) {
    issues.push(
      `spec.connection.headersTimeoutMs: must be <= requestTimeoutMs (${request}), or relays would refuse their config`,
    );
  }
  const seen = new Set<string>();
  (spec.publicUrls ?? []).forEach((url, i) => {
    if (seen.has(url)) issues.push(`spec.publicUrls[${i}]: duplicate URL ${url}`);
    seen.add(url);
  });
  return issues;
}
