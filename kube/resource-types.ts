import { API_GROUP, API_VERSION } from '../crds/common.js';
import type { ResourceType } from './kube-object.js';

const grove = (kind: string, plural: string): ResourceType => ({
  group: API_GROUP,
  version: API_VERSION,
  kind,
  plural,
  namespaced: true,
});

/** Every kind the operator reads or writes. */
export const resourceTypes = {
  relayPools: grove('RelayPool', 'relaypools'),
  domains: grove('Domain', 'domains'),
  policies: grove('Policy', 'policies'),
  backupSchedules: grove('BackupSchedule', 'backupschedules'),
  configMaps: {
    group: '',
    version: 'v1',
    kind: 'ConfigMap',
    plural: 'configmaps',
    namespaced: true,
  },
  secrets: { group: '', version: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true },
  services: { group: '', version: 'v1', kind: 'Service', plural: 'services', namespaced: true },
  events: { group: '', version: 'v1', kind: 'Event', plural: 'events', namespaced: true },
  namespaces: {
    group: '',
    version: 'v1',
    kind: 'Namespace',
    plural: 'namespaces',
    namespaced: false,
  },
  deployments: {
    group: 'apps',
    version: 'v1',
    kind: 'Deployment',
    plural: 'deployments',
    namespaced: true,
  },
  statefulSets: {
    group: 'apps',
    version: 'v1',
    kind: 'StatefulSet',
    plural: 'statefulsets',
    namespaced: true,
  },
  podDisruptionBudgets: {
    group: 'policy',
    version: 'v1',
    kind: 'PodDisruptionBudget',
    plural: 'poddisruptionbudgets',
    namespaced: true,
  },
  horizontalPodAutoscalers: {
    group: 'autoscaling',
    version: 'v2',
    kind: 'HorizontalPodAutoscaler',
    plural: 'horizontalpodautoscalers',
    namespaced: true,
  },
  ingresses: {
    group: 'networking.k8s.io',
    version: 'v1',
    kind: 'Ingress',
    plural: 'ingresses',
    namespaced: true,
  },
  networkPolicies: {
    group: 'networking.k8s.io',
    version: 'v1',
    kind: 'NetworkPolicy',
    plural: 'networkpolicies',
    namespaced: true,
  },
  roles: {
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    kind: 'Role',
    plural: 'roles',
    namespaced: true,
  },
  roleBindings: {
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    kind: 'RoleBinding',
    plural: 'rolebindings',
    namespaced: true,
  },
  nodes: { group: '', version: 'v1', kind: 'Node', plural: 'nodes', namespaced: false },
  leases: {
    group: 'coordination.k8s.io',
    version: 'v1',
    kind: 'Lease',
    plural: 'leases',
    namespaced: true,
  },
} as const satisfies Record<string, ResourceType>;

/**
 * The kinds a RelayPool or Domain owns that the operator watches (informers map their events
 * back to the owner) and applies. Secrets are owned too, but never listed or watched: the
 * operator reads its own by name (a Redis password, a signing key), so its role needs no
 * `list` or `watch` on Secrets, which would let it read every Secret in its scope at once.
 */
export const ownedResourceTypes: readonly ResourceType[] = [
  resourceTypes.configMaps,
  resourceTypes.services,
  resourceTypes.ingresses,
  resourceTypes.networkPolicies,
  resourceTypes.deployments,
  resourceTypes.statefulSets,
  resourceTypes.podDisruptionBudgets,
  resourceTypes.horizontalPodAutoscalers,
  resourceTypes.roles,
  resourceTypes.roleBindings,
];
