import type { V1LabelSelector, V1NetworkPolicyPeer } from '@kubernetes/client-node';
import type { KubeObject } from '../../../kube/kube-object.js';
import { labelKeys } from '../labels.js';
import type { Plain } from '../relaypool/metadata.js';
import {
  BRIDGE_PORT,
  bridgeLabels,
  bridgeNames,
  scheduleOwnerReference,
  type BridgeBuildInput,
} from './index.js';

/** The label every namespace carries with its own name (Kubernetes ≥ 1.22). */
const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

/**
 * The Data Bridge pod's NetworkPolicy. Its one port serves status and metrics but also
 * `POST /v1/cycles` (which seals segments and applies retention) without authentication, so
 * it is open only to Grove's operator (it reads /v1/status) and to the metrics scrapers:
 * spec.networkPolicy.metricsFrom, else the pods of the schedule's namespace. Ingress only: the
 * bridge reaches relays, the Manager and an S3 endpoint anywhere. Undefined when
 * spec.networkPolicy.enabled is false.
 */
export function buildBridgeNetworkPolicy(input: BridgeBuildInput): KubeObject | undefined {
  const { schedule } = input;
  const { networkPolicy, domain } = schedule.spec;
  if (!networkPolicy.enabled) return undefined;
  const namespace = schedule.metadata.namespace ?? '';
  const operatorNamespaces = [...new Set([namespace, ...(input.groveNamespaces ?? [])])].sort();
  const operators: Plain<V1NetworkPolicyPeer> = {
    podSelector: { matchLabels: { [labelKeys.component]: 'operator' } },
    namespaceSelector: {
      matchExpressions: [{ key: NAMESPACE_NAME_LABEL, operator: 'In', values: operatorNamespaces }],
    } satisfies Plain<V1LabelSelector>,
  };
  const scrapers: Plain<V1NetworkPolicyPeer>[] =
    networkPolicy.metricsFrom === undefined
      ? [{ podSelector: {} }]
      : networkPolicy.metricsFrom.map((peer) => ({
          podSelector: peer.podSelector ?? {},
          ...(peer.namespaceSelector === undefined
            ? {}
            : { namespaceSelector: peer.namespaceSelector }),
        }));
  const names = bridgeNames(domain);
  const port = { protocol: 'TCP', port: BRIDGE_PORT };
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: {
      name: names.deployment,
      namespace: schedule.metadata.namespace,
      labels: bridgeLabels(domain),
      ownerReferences: [scheduleOwnerReference(schedule)],
    },
    spec: {
      podSelector: {
        matchLabels: {
          [labelKeys.instance]: names.deployment,
          [labelKeys.component]: 'bridge',
        },
      },
      policyTypes: ['Ingress'],
      ingress: [
        { from: [operators], ports: [port] },
        { from: scrapers, ports: [port] },
      ],
    },
  };
}
