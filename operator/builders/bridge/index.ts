import type { V1Container, V1Deployment, V1Service, V1Volume } from '@kubernetes/client-node';
import type { BackupSchedule } from '../../../crds/backupschedule.js';
import { GROVE_API_VERSION } from '../../../crds/common.js';
import type { KubeObject, OwnerReference } from '../../../kube/kube-object.js';
import { MANAGED_BY, labelKeys } from '../labels.js';
import { buildBridgeNetworkPolicy } from './network-policy.js';
import { containerSecurityContext, podSecurityContext, type Plain } from '../relaypool/metadata.js';

/** Port of the bridge's /healthz, /readyz, /metrics and /v1/status. */
export const BRIDGE_PORT = 8080;
export const BRIDGE_DEVICE_DIR = '/var/run/grove/bridge';
/** Key of the device Secret (and file name in the pod): a `grove enroll` device.json. */
export const BRIDGE_DEVICE_KEY = 'device.json';
export const BRIDGE_PASSWORD_DIR = '/var/run/grove/archive-password';
export const BRIDGE_ARCHIVE_DIR = '/archive';
/** On a bridge pod template: its device id, so a new enrollment rolls the pod. */
export const BRIDGE_DEVICE_ANNOTATION = 'grove.dev/bridge-device';
/** The bridge's member id in its Domain (one bridge identity per Domain). */
export const BRIDGE_MEMBER = 'grove-bridge';

export class BridgeBuildError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'BridgeBuildError';
  }
}

/** Names of what the operator makes for the Data Bridge of `domain`. */
export function bridgeNames(domain: string): {
  deployment: string;
  service: string;
  deviceSecret: string;
} {
  return {
    deployment: `${domain}-bridge`,
    service: `${domain}-bridge`,
    deviceSecret: `${domain}-bridge-device`,
  };
}

export interface BridgeBuildInput {
  /** The BackupSchedule as the API server returned it (with its uid). */
  schedule: BackupSchedule;
  /** The operator's own image: it holds `grove bridge`. */
  image: string;
  /** ServiceAccount of bridge pods (the chart's); the namespace's default when absent. */
  serviceAccountName?: string;
  /** Device id in the device Secret: a new enrollment rolls the pod. */
  deviceId: string;
  /** Namespaces Grove's operator runs in (its pods may reach the bridge's port). */
  groveNamespaces?: readonly string[];
}

/** What selects a Domain's bridge pods (its Deployment's selector). */
export function selectorLabels(domain: string): Record<string, string> {
  return { [labelKeys.instance]: bridgeNames(domain).deployment, [labelKeys.component]: 'bridge' };
}

/** Labels of every object and pod of a Domain's bridge (NetworkPolicies select the component). */
export function bridgeLabels(domain: string): Record<string, string> {
  return {
    [labelKeys.name]: 'grove-bridge',
    ...selectorLabels(domain),
    [labelKeys.managedBy]: MANAGED_BY,
    [labelKeys.partOf]: 'grove',
    [labelKeys.domain]: domain,
  };
}

export function scheduleOwnerReference(schedule: BackupSchedule): OwnerReference {
  const { name, uid } = schedule.metadata;
  if (uid === undefined || uid === '') {
    throw new BridgeBuildError(
      'MissingUid',
      `BackupSchedule "${name}" has no metadata.uid: build from the object the API server returned`,
    );
  }
  return {
    apiVersion: GROVE_API_VERSION,
    kind: 'BackupSchedule',
    name,
    uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** Metadata of what the operator makes for a schedule's bridge: labelled, owned by it. */
export function bridgeMetadata(input: BridgeBuildInput, name: string) {
  const { schedule } = input;
  return {
    name,
    namespace: schedule.metadata.namespace,
    labels: bridgeLabels(schedule.spec.domain),
    ownerReferences: [scheduleOwnerReference(schedule)],
  };
}

/** `grove bridge` arguments: everything but secrets, which are mounted files and env. */
export function bridgeArgs(schedule: BackupSchedule): string[] {
  const { spec } = schedule;
  const args = [
    'bridge',
    '--device-key',
    `${BRIDGE_DEVICE_DIR}/${BRIDGE_DEVICE_KEY}`,
    '--password-file',
    `${BRIDGE_PASSWORD_DIR}/password`,
    '--schedule',
    spec.schedule,
    '--time-zone',
    spec.timeZone ?? 'UTC',
    '--keep-last',
    String(spec.retention.keepLast),
    ...(spec.retention.maxAgeDays === undefined
      ? []
      : ['--max-age-days', String(spec.retention.maxAgeDays)]),
    ...(spec.suspend ? ['--suspend'] : []),
    ...(spec.immediate ? ['--immediate'] : []),
    '--port',
    String(BRIDGE_PORT),
  ];
  const destination = spec.destination;
  if ('pvc' in destination) {
    const path = destination.pvc.path;
    args.push('--path', path === undefined ? BRIDGE_ARCHIVE_DIR : `${BRIDGE_ARCHIVE_DIR}/${path}`);
  } else {
    const s3 = destination.s3;
    args.push('--s3-bucket', s3.bucket);
    if (s3.prefix !== undefined) args.push('--s3-prefix', s3.prefix);
    if (s3.endpoint !== undefined) args.push('--s3-endpoint', s3.endpoint);
    if (s3.region !== undefined) args.push('--s3-region', s3.region);
    if (s3.forcePathStyle) args.push('--s3-path-style');
  }
  return args;
}

function container(input: BridgeBuildInput): Plain<V1Container> {
  const { spec } = input.schedule;
  const destination = spec.destination;
  const credentials =
    's3' in destination
      ? ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'].map((name) => ({
          name,
          valueFrom: { secretKeyRef: { name: destination.s3.credentialsSecret, key: name } },
        }))
      : [];
  return {
    name: 'bridge',
    image: input.image,
    args: bridgeArgs(input.schedule),
    ports: [{ name: 'http', containerPort: BRIDGE_PORT, protocol: 'TCP' }],
    ...(credentials.length === 0 ? {} : { env: credentials }),
    // /readyz fails while the store is not open, no relay is connected or writes fail.
    readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 10 },
    livenessProbe: {
      httpGet: { path: '/healthz', port: 'http' },
      periodSeconds: 10,
      failureThreshold: 6,
    },
    volumeMounts: [
      { name: 'device', mountPath: BRIDGE_DEVICE_DIR, readOnly: true },
      { name: 'archive-password', mountPath: BRIDGE_PASSWORD_DIR, readOnly: true },
      ...('pvc' in destination ? [{ name: 'archive', mountPath: BRIDGE_ARCHIVE_DIR }] : []),
      // The S3 client and Node write nothing else; /tmp for anything that must.
      { name: 'tmp', mountPath: '/tmp' },
    ],
    securityContext: containerSecurityContext(),
  };
}

function volumes(input: BridgeBuildInput): Plain<V1Volume>[] {
  const { spec } = input.schedule;
  const names = bridgeNames(spec.domain);
  const password = spec.encryption.passwordSecretRef;
  return [
    {
      name: 'device',
      secret: {
        secretName: names.deviceSecret,
        items: [{ key: BRIDGE_DEVICE_KEY, path: BRIDGE_DEVICE_KEY }],
        defaultMode: 0o400,
      },
    },
    {
      name: 'archive-password',
      secret: {
        secretName: password.name,
        items: [{ key: password.key, path: 'password' }],
        defaultMode: 0o400,
      },
    },
    ...('pvc' in spec.destination
      ? [{ name: 'archive', persistentVolumeClaim: { claimName: spec.destination.pvc.claimName } }]
      : []),
    { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
  ];
}

/** The Data Bridge of a BackupSchedule's Domain: its Deployment and Service. */
export function buildBridgeChildren(input: BridgeBuildInput): KubeObject[] {
  const { domain } = input.schedule.spec;
  const names = bridgeNames(domain);
  const deployment: Plain<V1Deployment> & KubeObject = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: bridgeMetadata(input, names.deployment),
    spec: {
      // One device, one connection: two bridges would take each other's messages.
      replicas: 1,
      strategy: { type: 'Recreate' },
      selector: { matchLabels: selectorLabels(domain) },
      template: {
        metadata: {
          labels: bridgeLabels(domain),
          annotations: { [BRIDGE_DEVICE_ANNOTATION]: input.deviceId },
        },
        spec: {
          ...(input.serviceAccountName === undefined
            ? {}
            : { serviceAccountName: input.serviceAccountName }),
          // The bridge never calls the Kubernetes API.
          automountServiceAccountToken: false,
          // SIGTERM flushes and acknowledges the buffered messages (up to 60 s).
          terminationGracePeriodSeconds: 75,
          securityContext: podSecurityContext(),
          containers: [container(input)],
          volumes: volumes(input),
        },
      },
    },
  };
  const service: Plain<V1Service> & KubeObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: bridgeMetadata(input, names.service),
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels(domain),
      ports: [{ name: 'http', port: BRIDGE_PORT, targetPort: 'http', protocol: 'TCP' }],
    },
  };
  const networkPolicy = buildBridgeNetworkPolicy(input);
  return networkPolicy === undefined ? [deployment, service] : [deployment, service, networkPolicy];
}

/** The device Secret: the key file `grove bridge --device-key` reads. */
export function buildBridgeDeviceSecret(
  schedule: BackupSchedule,
  deviceKey: {
    managerUrl: string;
    domain: string;
    deviceId: string;
    identityId: string;
    privateJwk: unknown;
  },
): KubeObject {
  const names = bridgeNames(schedule.spec.domain);
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: names.deviceSecret,
      namespace: schedule.metadata.namespace,
      labels: bridgeLabels(schedule.spec.domain),
      ownerReferences: [scheduleOwnerReference(schedule)],
    },
    type: 'Opaque',
    stringData: { [BRIDGE_DEVICE_KEY]: JSON.stringify(deviceKey) },
  };
}

/** What the Manager is told the bridge archives (bridgePutBody of manager/bridge). */
export function bridgeSelection(schedule: BackupSchedule): {
  workspaces: { all: true } | { ids: string[] } | { selector: unknown };
  exclude?: string[];
} {
  const { include, exclude, selector } = schedule.spec.workspaces ?? {};
  const workspaces =
    include !== undefined
      ? { ids: include }
      : selector !== undefined
        ? { selector }
        : { all: true as const };
  return { workspaces, ...(exclude === undefined ? {} : { exclude }) };
}
