import type {
  V1Container,
  V1PodSecurityContext,
  V1ResourceRequirements,
  V1SecurityContext,
} from '@kubernetes/client-node';
import { GROVE_API_VERSION, type ResourceRequirements } from '../../../crds/common.js';
import type { RelayPool } from '../../../crds/relaypool.js';
import type { OwnerReference } from '../../../kube/kube-object.js';
import { MANAGED_BY, labelKeys } from '../labels.js';
import { RelayPoolBuildError, poolIdentity } from './names.js';

export type RelayPoolComponent = 'relay' | 'redis';

/**
 * The plain-JSON form of a @kubernetes/client-node model: its classes are used only to
 * type-check field names and shapes, and the builders return plain objects, never instances.
 * Timestamps are RFC 3339 strings on the wire, not Dates.
 */
export type Plain<T> = T extends Date
  ? string
  : T extends readonly (infer Item)[]
    ? Plain<Item>[]
    : T extends object
      ? { [K in keyof T]: Plain<T[K]> }
      : T;

/**
 * The labels a workload selects its pods by. Selectors are immutable, so they hold only what
 * can never change for a pool: its name and the component.
 */
export function selectorLabels(
  poolName: string,
  component: RelayPoolComponent,
): Record<string, string> {
  return { [labelKeys.instance]: poolName, [labelKeys.component]: component };
}

/** Labels of every child object and pod of a pool. */
export function commonLabels(
  poolName: string,
  component: RelayPoolComponent,
): Record<string, string> {
  return {
    [labelKeys.name]: `grove-${component}`,
    ...selectorLabels(poolName, component),
    [labelKeys.managedBy]: MANAGED_BY,
    [labelKeys.partOf]: 'grove',
    [labelKeys.relayPool]: poolName,
  };
}

export function relayPoolOwnerReference(pool: RelayPool): OwnerReference {
  const { name, uid } = pool.metadata;
  if (uid === undefined || uid === '') {
    throw new RelayPoolBuildError(
      'MissingUid',
      `RelayPool "${name}" has no metadata.uid: build its children from the object the API server returned`,
    );
  }
  return {
    apiVersion: GROVE_API_VERSION,
    kind: 'RelayPool',
    name,
    uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** A copy of a user-given string map with its keys sorted, so key order never varies. */
export function sortedRecord(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.keys(record)
      .sort()
      .map((key) => [key, record[key] ?? '']),
  );
}

/** The metadata fields the operator owns on a child. */
export interface ChildMetadata {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences: OwnerReference[];
}

/** Metadata of a child: namespace, labels and owner reference; annotations only when given. */
export function childMetadata(
  pool: RelayPool,
  name: string,
  component: RelayPoolComponent,
  annotations?: Record<string, string>,
): ChildMetadata {
  const identity = poolIdentity(pool);
  return {
    name,
    namespace: identity.namespace,
    labels: commonLabels(identity.name, component),
    ...(annotations !== undefined && Object.keys(annotations).length > 0
      ? { annotations: sortedRecord(annotations) }
      : {}),
    ownerReferences: [relayPoolOwnerReference(pool)],
  };
}

// Builders return fresh objects on every call: a shared one could be mutated through one
// output and change another (and YAML would print repeated references as aliases).

/**
 * Pod half of the "restricted" Pod Security Standard, with the fixed non-root user the images
 * are built for; fsGroup makes mounted volumes writable by it.
 */
export function podSecurityContext(): Plain<V1PodSecurityContext> {
  return {
    runAsNonRoot: true,
    runAsUser: 10001,
    runAsGroup: 10001,
    fsGroup: 10001,
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/** Container half of the "restricted" Pod Security Standard, plus a read-only root. */
export function containerSecurityContext(): Plain<V1SecurityContext> {
  return {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
  };
}

function resourceList(
  list: { cpu?: string | undefined; memory?: string | undefined } | undefined,
): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  if (list?.cpu !== undefined) out['cpu'] = list.cpu;
  if (list?.memory !== undefined) out['memory'] = list.memory;
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * Container resources from the CR, or undefined when nothing is set: an empty `{}` would be a
 * field we own for no reason.
 */
export function containerResources(
  resources: ResourceRequirements | undefined,
): Plain<V1ResourceRequirements> | undefined {
  const limits = resourceList(resources?.limits);
  const requests = resourceList(resources?.requests);
  if (limits === undefined && requests === undefined) return undefined;
  return {
    ...(limits !== undefined ? { limits } : {}),
    ...(requests !== undefined ? { requests } : {}),
  };
}

/** `{ resources }` to spread into a container, or nothing. */
export function resourcesField(
  resources: ResourceRequirements | undefined,
): Pick<Plain<V1Container>, 'resources'> {
  const normalized = containerResources(resources);
  return normalized === undefined ? {} : { resources: normalized };
}
