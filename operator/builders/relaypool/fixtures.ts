/** Pools, domains and keys shared by the unit and integration tests of the builders. */
import { DEFAULT_RELAY_LIMITS, type RelayLimits } from '../../../crds/relay-limits.js';
import { relayPoolSchema, type RelayPool } from '../../../crds/relaypool.js';
import { relayPublicKey } from '../../../contracts/auth/device-token.js';
import type { RelayPoolObservedNetwork } from './endpoints.js';
import type { RelayPoolBuildInput, RelayPublicKey, ServedDomain } from './input.js';

export const NAMESPACE = 'grove';
export const UID = '6b1c3c1e-8f55-4c52-9d3c-0a4f2f6f1e01';

export function makePool(spec: unknown, name = 'main'): RelayPool {
  return relayPoolSchema.parse({
    apiVersion: 'grove.dev/v1alpha1',
    kind: 'RelayPool',
    metadata: { name, namespace: NAMESPACE, uid: UID, generation: 3 },
    spec,
  });
}

/** A key shaped exactly as relayPublicKey makes it (with its extra alg member). */
export function key(kid: string, x: string): RelayPublicKey {
  return relayPublicKey({
    kid,
    privateJwk: {},
    publicJwk: { kty: 'OKP', crv: 'Ed25519', x, kid, alg: 'EdDSA' },
  });
}

export function domain(
  name: string,
  keys: RelayPublicKey[],
  limits: Partial<RelayLimits> = {},
): ServedDomain {
  return { name, publicKeys: keys, limits: { ...DEFAULT_RELAY_LIMITS, ...limits } };
}

export const acme = domain('acme', [key('acme-1', 'x0VtNwW3tH0c1GZ0sH5m2eB3Lr5gk8gkq1c1pS3yJmA')]);

export function makeInput(
  spec: unknown,
  domains: ServedDomain[] = [acme],
  extra: Partial<RelayPoolBuildInput> = {},
): RelayPoolBuildInput {
  return {
    pool: makePool(spec),
    domains,
    image: 'ghcr.io/grove/grove:1.4.0',
    redisImage: 'ghcr.io/grove/grove:1.4.0',
    ...extra,
  };
}

// The golden files are the reviewed specification of every child: regenerate them with
// UPDATE_GOLDEN=1 and read the diff before committing it.
export interface GoldenCase {
  input: RelayPoolBuildInput;
  /** Set for built-in Redis: the golden file then ends with the password Secret. */
  redisPassword?: string;
  /** What the API server reported about the Service and nodes: the header's endpoints. */
  observed?: RelayPoolObservedNetwork;
}

export const goldenCases: Record<string, GoldenCase> = {
  'builtin-defaults': { input: makeInput({}), redisPassword: 'golden-password' },
  'builtin-redis-ha': {
    input: makeInput({
      redis: {
        builtin: { storage: '5Gi', highAvailability: { replicas: 2, replicaAcks: 1 } },
      },
    }),
    redisPassword: 'golden-password',
  },
  // The home pool of a Domain, whose built-in Redis a failover pool borrows.
  'builtin-shared': {
    input: makeInput({}, [acme], { borrowers: ['failover'] }),
    redisPassword: 'golden-password',
  },
  // A failover pool: relays only, on a home pool's replicated Redis (its Sentinels, password,
  // acks).
  'borrowed-redis-ha': {
    input: makeInput({ redis: { relayPool: { name: 'home' } } }, [acme], {
      storePool: makePool({ redis: { builtin: { highAvailability: { replicas: 2 } } } }, 'home'),
    }),
  },
  'external-redis-cluster': {
    input: makeInput({
      replicas: 3,
      image: 'registry.example.com/grove/relay:2.0.0',
      service: {
        type: 'LoadBalancer',
        port: 8443,
        // Out of order on purpose: the Service lists them sorted.
        annotations: {
          'service.beta.kubernetes.io/aws-load-balancer-type': 'nlb',
          'external-dns.alpha.kubernetes.io/hostname': 'relay.example.com',
        },
      },
      publicUrls: ['wss://relay.example.com', 'wss://relay-backup.example.com'],
      redis: {
        external: {
          url: 'rediss://clustercfg.grove.example.cache.amazonaws.com:6379',
          cluster: true,
          passwordSecretRef: { name: 'elasticache-auth', key: 'auth-token' },
        },
      },
      resources: { requests: { cpu: '500m', memory: '512Mi' }, limits: { memory: '1Gi' } },
      drain: { gracePeriodSeconds: 120, batchSize: 50, batchIntervalMs: 500 },
      disruptionBudget: { maxUnavailable: 2 },
      topologySpread: false,
    }),
  },
  autoscaling: {
    input: makeInput({
      replicas: 4,
      autoscaling: { minReplicas: 2, maxReplicas: 10, targetCPUUtilizationPercentage: 60 },
      resources: { requests: { cpu: '250m' } },
      redis: {
        builtin: {
          storage: '20Gi',
          storageClassName: 'fast-ssd',
          appendfsync: 'everysec',
          resources: { requests: { cpu: '1', memory: '2Gi' }, limits: { memory: '2Gi' } },
        },
      },
    }),
    redisPassword: 'golden-password',
  },
  'two-domains': {
    input: makeInput({}, [
      // Out of order on purpose, domains by name and keys by kid.
      domain(
        'globex',
        [
          key('globex-2', 'Zk2c1xXh0VQ3rjD7kq9p0nYbq0s1m3Vw0b9H6oT2Y4c'),
          key('globex-1', 'bV6n0XJ6r4JwX0m9jzq3cQ6m0tqH3G5h8yF4kR2nPzE'),
        ],
        { maxMessageBytes: 65536, maxQueuedMessages: 500, sendRatePerSecond: 12.5 },
      ),
      acme,
    ]),
    redisPassword: 'golden-password',
  },
  // Reachable from outside: a NodePort Service with relays serving TLS themselves.
  'nodeport-tls': {
    input: makeInput({
      service: { type: 'NodePort', nodePort: 30443, externalTrafficPolicy: 'Local' },
      tls: { secretName: 'relay-tls' },
    }),
    redisPassword: 'golden-password',
    observed: {
      service: { nodePort: 30443 },
      nodeAddresses: ['203.0.113.10', '203.0.113.11'],
    },
  },
  // TLS ends at an Ingress (cert-manager fills its Secret).
  'ingress-tls': {
    input: makeInput({
      ingress: {
        host: 'relays.example.com',
        className: 'nginx',
        annotations: {
          'nginx.ingress.kubernetes.io/proxy-read-timeout': '3600',
          'cert-manager.io/cluster-issuer': 'letsencrypt',
        },
        tls: { secretName: 'relays-example-com-tls' },
      },
    }),
    redisPassword: 'golden-password',
  },
  // Prometheus in a namespace of its own scrapes the relays; Grove's chart runs in grove-system.
  'network-policy-monitoring': {
    input: makeInput(
      {
        networkPolicy: {
          metricsFrom: [
            {
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } },
              podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } },
            },
          ],
        },
      },
      [acme],
      { groveNamespaces: ['grove-system'] },
    ),
    redisPassword: 'golden-password',
  },
};
