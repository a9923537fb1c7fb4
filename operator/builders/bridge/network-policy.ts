import type { V1NetworkPolicyPeer } from '@kubernetes/client-node';
import type { KubeObject } from '../../../kube/kube-object.js';
import { labelKeys } from '../labels.js';
import type { Plain } from '../relaypool/metadata.js';
import { metricsScrapers, namespacesIn } from '../relaypool/network-policy.js';
import {
  BRIDGE_PORT,
  bridgeMetadata,
  bridgeNames,
  selectorLabels,
  type BridgeBuildInput,
} from './index.js';

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
  const operators: Plain<V1NetworkPolicyPeer> = {
    podSelector: { matchLabels: { [labelKeys.component]: 'operator' } },
    namespaceSelector: namespacesIn([namespace, ...(input.groveNamespaces ?? [])]),
  };
  const scrapers = metricsScrapers(networkPolicy.metricsFrom);
  const port = { protocol: 'TCP', port: BRIDGE_PORT };
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: bridgeMetadata(input, bridgeNames(domain).deployment),
    spec: {
      podSelector: { matchLabels: selectorLabels(domain) },
      policyTypes: ['Ingress'],
      ingress: [
        { from: [operators], ports: [port] },
        { from: scrapers, ports: [port] },
      ],
    },
  };
}
