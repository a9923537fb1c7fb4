import type {
  V1Container,
  V1Deployment,
  V1EnvVar,
  V1PodDisruptionBudget,
  V1PodSpec,
  V1Service,
  V1TopologySpreadConstraint,
  V2HorizontalPodAutoscaler,
} from '@kubernetes/client-node';
import type { RelayPool } from '../../../crds/relaypool.js';
import type { KubeObject } from '../../../kube/kube-object.js';
import { relayOldSpaceFlag } from '../../../contracts/relay-v8-flags.js';
import { quantityValue } from '../quantity.js';
import { annotationKeys, labelKeys } from '../labels.js';
import { configHash } from './canonical-json.js';
import type { RelayPoolBuildInput } from './input.js';
import {
  childMetadata,
  commonLabels,
  containerSecurityContext,
  podSecurityContext,
  resourcesField,
  selectorLabels,
  type Plain,
} from './metadata.js';
import { poolIdentity, relayPoolNames } from './names.js';
import { RELAY_METRICS_PORT } from './network-policy.js';
import { redisPasswordSource } from './redis-auth.js';
import { redisHaOf } from './store.js';
import {
  RELAY_CONFIG_DIR,
  RELAY_CONFIG_FILE,
  RELAY_PORT,
  RELAY_TLS_DIR,
  buildRelayConfig,
} from './relay-config.js';

/** Environment variable a relay reads its Redis password from. */
export const RELAY_REDIS_PASSWORD_ENV = 'GROVE_REDIS_PASSWORD';
/** And the Sentinels' password (built-in Redis with highAvailability: the same one). */
export const RELAY_SENTINEL_PASSWORD_ENV = 'GROVE_REDIS_SENTINEL_PASSWORD';
/**
 * Time between the end of a relay's drain and SIGKILL: the drain itself may take the whole
 * gracePeriodSeconds, and the process still has to exit after it.
 */
export const TERMINATION_GRACE_MARGIN_SECONDS = 10;

/**
 * With a memory limit, the relay's old generation is bounded relative to it (the image's
 * `grove relay` adds the other V8 flags, RELAY_V8_FLAGS).
 */
function nodeOptionsEnv(input: RelayPoolBuildInput): Plain<V1EnvVar>[] {
  const limit = input.pool.spec.resources?.limits?.memory;
  const bytes = limit === undefined ? undefined : quantityValue(limit);
  if (bytes === undefined || bytes <= 0) return [];
  return [{ name: 'NODE_OPTIONS', value: relayOldSpaceFlag(bytes) }];
}

function relayEnv(input: RelayPoolBuildInput): Plain<V1EnvVar>[] {
  const password = redisPasswordSource(input);
  return [
    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    ...nodeOptionsEnv(input),
    ...(password === undefined
      ? []
      : [
          {
            name: RELAY_REDIS_PASSWORD_ENV,
            valueFrom: { secretKeyRef: { name: password.name, key: password.key } },
          },
        ]),
    ...(password === undefined || redisHaOf(input) === undefined
      ? []
      : [
          {
            name: RELAY_SENTINEL_PASSWORD_ENV,
            valueFrom: { secretKeyRef: { name: password.name, key: password.key } },
          },
        ]),
  ];
}

function relayContainer(input: RelayPoolBuildInput): Plain<V1Container> {
  const { spec } = input.pool;
  // With spec.tls the relay port speaks only TLS: the kubelet's probes too (it does not verify).
  const scheme = spec.tls === undefined ? {} : { scheme: 'HTTPS' };
  return {
    name: 'relay',
    image: spec.image ?? input.image,
    args: ['relay', '--config', `${RELAY_CONFIG_DIR}/${RELAY_CONFIG_FILE}`],
    // protocol is the default, but server-side apply keys container and Service ports by
    // (port, protocol): leaving it out has made applies fail or duplicate ports upstream.
    ports: [
      { name: 'relay', containerPort: RELAY_PORT, protocol: 'TCP' },
      // /metrics, apart from the public port (which answers it with 404).
      { name: 'metrics', containerPort: RELAY_METRICS_PORT, protocol: 'TCP' },
    ],
    env: relayEnv(input),
    // /readyz fails while Redis does not answer and while draining.
    readinessProbe: { httpGet: { path: '/readyz', port: 'relay', ...scheme }, periodSeconds: 5 },
    livenessProbe: {
      httpGet: { path: '/healthz', port: 'relay', ...scheme },
      periodSeconds: 10,
      failureThreshold: 3,
    },
    // Holds liveness off for up to a minute while the process starts (a slow or CPU-throttled
    // start), without making liveness itself slow to notice a hung process later.
    startupProbe: {
      httpGet: { path: '/healthz', port: 'relay', ...scheme },
      periodSeconds: 2,
      failureThreshold: 30,
    },
    ...resourcesField(spec.resources),
    securityContext: containerSecurityContext(),
    volumeMounts: [
      { name: 'config', mountPath: RELAY_CONFIG_DIR, readOnly: true },
      // A directory mount (no subPath), so the kubelet updates it when the Secret changes and
      // the relay reloads the certificate without a restart.
      ...(spec.tls === undefined
        ? []
        : [{ name: 'tls', mountPath: RELAY_TLS_DIR, readOnly: true }]),
      // The root filesystem is read-only; Node and its libraries may still need a temp dir.
      { name: 'tmp', mountPath: '/tmp' },
    ],
  };
}

function topologySpread(poolName: string): Plain<V1TopologySpreadConstraint>[] {
  // ScheduleAnyway: a spread that cannot be met (one node, one zone) must not block scheduling.
  return ['kubernetes.io/hostname', 'topology.kubernetes.io/zone'].map((topologyKey) => ({
    maxSkew: 1,
    topologyKey,
    whenUnsatisfiable: 'ScheduleAnyway',
    labelSelector: { matchLabels: selectorLabels(poolName, 'relay') },
  }));
}

function relayPodSpec(input: RelayPoolBuildInput): Plain<V1PodSpec> {
  const { spec } = input.pool;
  const names = relayPoolNames(input.pool.metadata.name);
  return {
    // Relays never call the Kubernetes API, nor need Service environment variables.
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    securityContext: podSecurityContext(),
    terminationGracePeriodSeconds: spec.drain.gracePeriodSeconds + TERMINATION_GRACE_MARGIN_SECONDS,
    ...(spec.topologySpread
      ? { topologySpreadConstraints: topologySpread(input.pool.metadata.name) }
      : {}),
    containers: [relayContainer(input)],
    volumes: [
      { name: 'config', configMap: { name: names.config } },
      ...(spec.tls === undefined
        ? []
        : [
            {
              name: 'tls',
              secret: {
                secretName: spec.tls.secretName,
                items: [
                  { key: 'tls.crt', path: 'tls.crt' },
                  { key: 'tls.key', path: 'tls.key' },
                ],
                // Read by the relay's user only (fsGroup makes it the group's).
                defaultMode: 0o440,
              },
            },
          ]),
      { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
    ],
  };
}

export function buildRelayDeployment(input: RelayPoolBuildInput): KubeObject {
  const { pool } = input;
  const { name } = poolIdentity(pool);
  const { spec } = pool;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: childMetadata(pool, relayPoolNames(name).relay, 'relay'),
    spec: {
      // With autoscaling the HorizontalPodAutoscaler owns replicas: setting it here would
      // reset the pool to spec.replicas on every reconcile.
      ...(spec.autoscaling === undefined ? { replicas: spec.replicas } : {}),
      selector: { matchLabels: selectorLabels(name, 'relay') },
      // One new pod before each old one goes: a rollout never takes the pool below its size,
      // so it never competes with the disruption budget.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: {
          labels: commonLabels(name, 'relay'),
          // The ConfigMap is read at start only: a new hash rolls the pods onto the new config.
          annotations: {
            [annotationKeys.configHash]: configHash(buildRelayConfig(input)),
            ...(input.redisAuthHash === undefined
              ? {}
              : { [annotationKeys.redisAuthHash]: input.redisAuthHash }),
          },
        },
        spec: relayPodSpec(input),
      },
    },
  } satisfies Plain<V1Deployment> & KubeObject;
}

export function buildRelayService(pool: RelayPool): KubeObject {
  const { name } = poolIdentity(pool);
  const { service } = pool.spec;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: childMetadata(pool, relayPoolNames(name).relay, 'relay', service.annotations),
    spec: {
      type: service.type,
      selector: selectorLabels(name, 'relay'),
      // nodePort unset: Kubernetes picks one and keeps it (the operator never states the field).
      ports: [
        {
          name: 'relay',
          port: service.port,
          targetPort: 'relay',
          protocol: 'TCP',
          ...(service.nodePort === undefined ? {} : { nodePort: service.nodePort }),
        },
      ],
      ...(service.externalTrafficPolicy === undefined
        ? {}
        : { externalTrafficPolicy: service.externalTrafficPolicy }),
    },
  } satisfies Plain<V1Service> & KubeObject;
}

/**
 * A headless Service of the relays' metrics port alone, labelled grove.dev/metrics=true for the
 * chart's ServiceMonitor: apart from the client Service, which may face the internet.
 */
export function buildRelayMetricsService(pool: RelayPool): KubeObject {
  const { name } = poolIdentity(pool);
  const metadata = childMetadata(pool, relayPoolNames(name).metrics, 'relay');
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { ...metadata, labels: { ...metadata.labels, [labelKeys.metrics]: 'true' } },
    spec: {
      type: 'ClusterIP',
      clusterIP: 'None',
      selector: selectorLabels(name, 'relay'),
      ports: [
        { name: 'metrics', port: RELAY_METRICS_PORT, targetPort: 'metrics', protocol: 'TCP' },
      ],
    },
  } satisfies Plain<V1Service> & KubeObject;
}

export function buildRelayPodDisruptionBudget(pool: RelayPool): KubeObject {
  const { name } = poolIdentity(pool);
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: childMetadata(pool, relayPoolNames(name).relay, 'relay'),
    spec: {
      maxUnavailable: pool.spec.disruptionBudget.maxUnavailable,
      selector: { matchLabels: selectorLabels(name, 'relay') },
      // Relays that are not ready (e.g. while Redis is down) serve nobody: evicting them costs
      // nothing, and the default (IfHealthyBudget) would then block every node drain.
      unhealthyPodEvictionPolicy: 'AlwaysAllow',
    },
  } satisfies Plain<V1PodDisruptionBudget> & KubeObject;
}

/** The autoscaler of the relay Deployment, or undefined when spec.autoscaling is unset. */
export function buildRelayHorizontalPodAutoscaler(pool: RelayPool): KubeObject | undefined {
  const { name } = poolIdentity(pool);
  const { autoscaling } = pool.spec;
  if (autoscaling === undefined) return undefined;
  const names = relayPoolNames(name);
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: childMetadata(pool, names.relay, 'relay'),
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: names.relay },
      minReplicas: autoscaling.minReplicas,
      maxReplicas: autoscaling.maxReplicas,
      metrics: [
        {
          type: 'Resource',
          resource: {
            name: 'cpu',
            target: {
              type: 'Utilization',
              averageUtilization: autoscaling.targetCPUUtilizationPercentage,
            },
          },
        },
      ],
    },
  } satisfies Plain<V2HorizontalPodAutoscaler> & KubeObject;
}

/** Field manager of the apply that hands the relay Deployment's spec.replicas over to the HPA. */
export const REPLICAS_HANDOVER_FIELD_MANAGER = 'grove-operator-replicas-handover';

/**
 * The apply that lets autoscaling take over an existing Deployment without a dip to 1 pod.
 * When a field manager stops applying a field it alone owns, server-side apply deletes it, and
 * the Deployment's replicas falls back to its default, 1, until the HPA next acts. Applying
 * this object first, under REPLICAS_HANDOVER_FIELD_MANAGER and with the live replica count,
 * makes that manager co-own spec.replicas, so the field survives the next apply of
 * buildRelayDeployment (which leaves replicas out once autoscaling is set). Apply it only when
 * the Deployment exists (alone, it is not a valid Deployment to create) and autoscaling is set.
 */
export function buildRelayReplicasHandover(pool: RelayPool, currentReplicas: number): KubeObject {
  const { name, namespace } = poolIdentity(pool);
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: relayPoolNames(name).relay, namespace },
    spec: { replicas: currentReplicas },
  };
}
