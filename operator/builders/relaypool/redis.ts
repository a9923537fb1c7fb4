import type { V1Service, V1StatefulSet } from '@kubernetes/client-node';
import type { RelayPool } from '../../../crds/relaypool.js';
import type { KubeObject } from '../../../kube/kube-object.js';
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
import { REDIS_PORT } from './relay-config.js';
import { annotationKeys } from '../labels.js';
import { redisMaxMemoryBytes } from '../quantity.js';
import { REDIS_CONF_KEY, REDIS_PASSWORD_KEY, builtinRedisPasswordSecret } from './redis-auth.js';
import {
  REDIS_RUN_DIR,
  SENTINEL_PORT,
  builtinRedisHa,
  redisHaStartScript,
  redisPodCount,
  sentinelContainer,
} from './redis-ha.js';

/** Where the Redis volume is mounted; AOF files live there. */
export const REDIS_DATA_DIR = '/data';
/** Where the password's redis.conf fragment is mounted from the auth Secret. */
export const REDIS_AUTH_DIR = '/etc/redis-auth';

/** The headless Service that gives the Redis pod its DNS name; undefined for external Redis. */
export function buildRedisService(pool: RelayPool): KubeObject | undefined {
  if (!('builtin' in pool.spec.redis)) return undefined;
  const { name } = poolIdentity(pool);
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: childMetadata(pool, relayPoolNames(name).redis, 'redis'),
    spec: {
      // The pod's DNS name is published as soon as the pod has an address, not after its first
      // readiness probe passes: when the Redis pod is replaced, relays reconnect the moment Redis
      // listens (ioredis waits out LOADING itself) instead of up to a probe period later.
      publishNotReadyAddresses: true,
      clusterIP: 'None',
      selector: selectorLabels(name, 'redis'),
      ports: [
        { name: 'redis', port: REDIS_PORT, targetPort: 'redis', protocol: 'TCP' },
        ...(builtinRedisHa(pool) === undefined
          ? []
          : [
              {
                name: 'sentinel',
                port: SENTINEL_PORT,
                targetPort: 'sentinel',
                protocol: 'TCP',
              },
            ]),
      ],
    },
  } satisfies Plain<V1Service> & KubeObject;
}

/**
 * The stable address of a built-in Redis: a ClusterIP Service in front of its pod 0, which
 * relays, the Manager and the operator connect to; undefined for external Redis. Pod 0 is the
 * only pod without highAvailability. With it, clients ask the Sentinels instead, and only a
 * Manager that started before it could read the pool falls back to this address: pod 0, which
 * starts as the primary (manager/redis-access.ts).
 *
 * Not the pod's DNS name: a replaced pod comes back with a new IP, and resolvers cache the old
 * answer, or the "no such name" of the moment between the pods, for the record's TTL (5 s on
 * the e2e cluster, 30 s on kubeadm's default CoreDNS). By name, deleting the Redis pod paused
 * sends 7.2 s in the e2e fault scenario; through this Service, 2.4 s. Its IP never changes
 * and kube-proxy points it at the new pod as soon as the pod has an address.
 */
export function buildRedisClientService(pool: RelayPool): KubeObject | undefined {
  if (!('builtin' in pool.spec.redis)) return undefined;
  const { name } = poolIdentity(pool);
  const names = relayPoolNames(name);
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: childMetadata(pool, names.redisClients, 'redis'),
    spec: {
      type: 'ClusterIP',
      // As for the headless Service: the pod is an endpoint as soon as it has an address.
      publishNotReadyAddresses: true,
      // The StatefulSet controller labels each pod with its name.
      selector: {
        ...selectorLabels(name, 'redis'),
        'statefulset.kubernetes.io/pod-name': `${names.redis}-0`,
      },
      ports: [{ name: 'redis', port: REDIS_PORT, targetPort: 'redis', protocol: 'TCP' }],
    },
  } satisfies Plain<V1Service> & KubeObject;
}

/**
 * The Redis with AOF persistence: one pod, or with highAvailability the primary, its replicas
 * and a Sentinel in each pod, spread over nodes (redis-ha.ts); undefined for external Redis.
 */
export function buildRedisStatefulSet(input: RelayPoolBuildInput): KubeObject | undefined {
  const { pool } = input;
  if (!('builtin' in pool.spec.redis)) return undefined;
  const builtin = pool.spec.redis.builtin;
  const { name } = poolIdentity(pool);
  const names = relayPoolNames(name);
  const maxMemory = redisMaxMemoryBytes(builtin.resources?.limits?.memory);
  const ha = builtin.highAvailability;
  const serverArgs = [
    '--port',
    String(REDIS_PORT),
    '--dir',
    REDIS_DATA_DIR,
    '--appendonly',
    'yes',
    '--appendfsync',
    builtin.appendfsync,
    // Evicting keys would silently drop queued messages and history.
    '--maxmemory-policy',
    'noeviction',
    // AOF only: no RDB snapshots besides it.
    '--save',
    '',
    // Below the container's memory limit: a full Redis refuses writes (sends fail
    // cleanly and are retried) instead of being killed.
    ...(maxMemory === undefined ? [] : ['--maxmemory', String(maxMemory)]),
  ];
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: childMetadata(pool, names.redis, 'redis'),
    spec: {
      replicas: redisPodCount(pool),
      serviceName: names.redis,
      selector: { matchLabels: selectorLabels(name, 'redis') },
      podManagementPolicy: 'OrderedReady',
      updateStrategy: { type: 'RollingUpdate' },
      // Retain (the default, spelled out so no default change can flip it): the volume holds
      // the queued messages, which must survive deleting the pool or the StatefulSet. A pool
      // re-created under the same name finds its queues again; deleting the PVC
      // data-<pool>-redis-0 is a deliberate step left to a human.
      persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Retain', whenScaled: 'Retain' },
      template: {
        metadata: {
          labels: commonLabels(name, 'redis'),
          ...(input.redisAuthHash === undefined
            ? {}
            : { annotations: { [annotationKeys.redisAuthHash]: input.redisAuthHash } }),
        },
        spec: {
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          // OnRootMismatch: skip the recursive chown of a large AOF on every restart.
          securityContext: { ...podSecurityContext(), fsGroupChangePolicy: 'OnRootMismatch' },
          ...(ha === undefined
            ? {}
            : {
                // One copy per node where the nodes allow it, spread over zones when they can.
                topologySpreadConstraints: [
                  {
                    maxSkew: 1,
                    topologyKey: 'kubernetes.io/hostname',
                    whenUnsatisfiable: 'DoNotSchedule',
                    labelSelector: { matchLabels: selectorLabels(name, 'redis') },
                  },
                  {
                    maxSkew: 1,
                    topologyKey: 'topology.kubernetes.io/zone',
                    whenUnsatisfiable: 'ScheduleAnyway',
                    labelSelector: { matchLabels: selectorLabels(name, 'redis') },
                  },
                ],
              }),
          containers: [
            {
              name: 'redis',
              image: input.redisImage,
              ...(ha === undefined
                ? {
                    command: ['redis-server'],
                    // The config file first (redis-server's rule), then the options.
                    args: [`${REDIS_AUTH_DIR}/${REDIS_CONF_KEY}`, ...serverArgs],
                  }
                : {
                    // Primary or replica is decided at start (redis-ha.ts).
                    command: [
                      'sh',
                      '-c',
                      redisHaStartScript(pool, REDIS_AUTH_DIR, REDIS_DATA_DIR, serverArgs),
                    ],
                    env: [
                      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                    ],
                  }),
              ports: [{ name: 'redis', containerPort: REDIS_PORT, protocol: 'TCP' }],
              // TCP, not `redis-cli ping`: Redis listens while it replays a large AOF and
              // answers LOADING meanwhile, which a ping-based liveness probe would take for a
              // hang and restart it, forever. Relays' clients (ioredis' ready check) wait out
              // LOADING themselves. It also needs neither the password nor redis-cli in the image.
              readinessProbe: { tcpSocket: { port: 'redis' }, periodSeconds: 5 },
              livenessProbe: {
                tcpSocket: { port: 'redis' },
                periodSeconds: 10,
                failureThreshold: 3,
              },
              ...resourcesField(builtin.resources),
              securityContext: containerSecurityContext(),
              volumeMounts: [
                { name: 'data', mountPath: REDIS_DATA_DIR },
                { name: 'auth', mountPath: REDIS_AUTH_DIR, readOnly: true },
                ...(ha === undefined ? [] : [{ name: 'run', mountPath: REDIS_RUN_DIR }]),
              ],
            },
            ...(ha === undefined
              ? []
              : [sentinelContainer(pool, ha, input.redisImage, REDIS_AUTH_DIR)]),
          ],
          volumes: [
            {
              name: 'auth',
              secret: {
                secretName: builtinRedisPasswordSecret(input),
                items: [
                  { key: REDIS_CONF_KEY, path: REDIS_CONF_KEY },
                  // The start scripts ask the Sentinels with redis-cli, which needs it bare.
                  ...(ha === undefined
                    ? []
                    : [{ key: REDIS_PASSWORD_KEY, path: REDIS_PASSWORD_KEY }]),
                ],
                defaultMode: 0o400,
              },
            },
            ...(ha === undefined ? [] : [{ name: 'run', emptyDir: {} }]),
          ],
        },
      },
      // Immutable once created (apart from what the API server allows): keep it minimal.
      volumeClaimTemplates: [
        {
          metadata: { name: 'data', labels: selectorLabels(name, 'redis') },
          spec: {
            accessModes: ['ReadWriteOnce'],
            ...(builtin.storageClassName !== undefined
              ? { storageClassName: builtin.storageClassName }
              : {}),
            resources: { requests: { storage: builtin.storage } },
          },
        },
      ],
    },
  } satisfies Plain<V1StatefulSet> & KubeObject;
}
