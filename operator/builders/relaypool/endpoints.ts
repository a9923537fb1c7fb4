import type { RelayPool } from '../../../crds/relaypool.js';
import type { ConditionUpdate } from '../conditions.js';
import { poolIdentity, relayPoolNames } from './names.js';

/** What the API server says about the relay Service (the applied object). */
export interface ObservedRelayService {
  /** spec.ports[0].nodePort: the node port Kubernetes assigned (NodePort, LoadBalancer). */
  nodePort?: number;
  /** status.loadBalancer.ingress: the load balancer's addresses, once the cloud made one. */
  loadBalancer?: { ip?: string; hostname?: string }[];
}

export interface RelayPoolObservedNetwork {
  /** Undefined until the Service exists. */
  service?: ObservedRelayService;
  /**
   * Addresses clients can reach the cluster's nodes at (ExternalIP where nodes have one, else
   * InternalIP); undefined when the operator cannot tell (it may not list nodes).
   */
  nodeAddresses?: string[];
}

/** How clients reach a pool: what the Manager hands out, and the Exposed condition saying why. */
export interface RelayPoolExposure {
  /** status.endpoints, in order of preference. */
  endpoints: string[];
  /** status.clusterEndpoint: the Service's in-cluster URL. */
  clusterEndpoint: string;
  /** Condition `Exposed`: True when clients outside the cluster are given an address that works there. */
  exposed: ConditionUpdate;
}

/** Node addresses published for a NodePort pool, at most: a client tries them in order. */
export const MAX_NODE_ENDPOINTS = 10;

const hostPart = (host: string) => (host.includes(':') ? `[${host}]` : host);

function url(scheme: 'ws' | 'wss', host: string, port: number): string {
  const defaultPort = scheme === 'wss' ? 443 : 80;
  return `${scheme}://${hostPart(host)}${port === defaultPort ? '' : `:${port}`}`;
}

/**
 * The addresses clients are given for a pool, from its spec and what the API server reports
 * about its Service (and the nodes), in this order of precedence:
 *
 * 1. spec.publicUrls, as written (a DNS name in front of a load balancer, a Gateway, …);
 * 2. spec.ingress: ws(s)://host (wss when the Ingress ends TLS);
 * 3. type LoadBalancer: each address of status.loadBalancer.ingress with the Service port;
 * 4. type NodePort: each node address (at most MAX_NODE_ENDPOINTS) with the node port;
 * 5. else the in-cluster address `ws(s)://<pool>-relay.<namespace>.svc:<port>`, which works
 *    only for clients inside the cluster (condition Exposed=False says so).
 *
 * The scheme is wss when the relays serve TLS themselves (spec.tls). Pure: same input, same
 * answer; in-cluster when nothing is known yet.
 */
export function relayPoolExposure(
  pool: RelayPool,
  observed: RelayPoolObservedNetwork = {},
): RelayPoolExposure {
  const { name, namespace } = poolIdentity(pool);
  const { publicUrls, service, ingress, tls } = pool.spec;
  const scheme = tls === undefined ? 'ws' : 'wss';
  const serviceName = relayPoolNames(name).relay;
  const clusterEndpoint = `${scheme}://${serviceName}.${namespace}.svc:${service.port}`;
  const inCluster = (reason: string, message: string): RelayPoolExposure => ({
    endpoints: [clusterEndpoint],
    clusterEndpoint,
    exposed: { type: 'Exposed', status: 'False', reason, message },
  });

  if (publicUrls !== undefined && publicUrls.length > 0) {
    return {
      endpoints: [...publicUrls],
      clusterEndpoint,
      exposed: {
        type: 'Exposed',
        status: 'True',
        reason: 'PublicUrls',
        message: `clients are given spec.publicUrls: ${publicUrls.join(', ')}`,
      },
    };
  }
  if (ingress !== undefined) {
    const endpoint = `${ingress.tls === undefined ? 'ws' : 'wss'}://${ingress.host}`;
    return {
      endpoints: [endpoint],
      clusterEndpoint,
      exposed: {
        type: 'Exposed',
        status: 'True',
        reason: 'Ingress',
        message: `clients are given ${endpoint}, routed by Ingress ${serviceName}${
          ingress.tls === undefined ? '' : ` (TLS ends there, Secret ${ingress.tls.secretName})`
        }`,
      },
    };
  }
  if (service.type === 'LoadBalancer') {
    const addresses = (observed.service?.loadBalancer ?? [])
      .map((entry) => entry.hostname ?? entry.ip)
      .filter((address): address is string => address !== undefined && address !== '');
    if (addresses.length > 0) {
      const endpoints = [...new Set(addresses)].map((address) =>
        url(scheme, address, service.port),
      );
      return {
        endpoints,
        clusterEndpoint,
        exposed: {
          type: 'Exposed',
          status: 'True',
          reason: 'LoadBalancer',
          message: `clients are given the load balancer's address: ${endpoints.join(', ')}`,
        },
      };
    }
    return inCluster(
      'LoadBalancerPending',
      `Service ${serviceName} has no load balancer address yet (status.loadBalancer is empty: ` +
        'the cloud is making one, or this cluster has no load balancer implementation); until ' +
        `then clients are given ${clusterEndpoint}, which works only inside the cluster`,
    );
  }
  if (service.type === 'NodePort') {
    const nodePort = observed.service?.nodePort ?? service.nodePort;
    if (nodePort === undefined) {
      return inCluster(
        'NodePortPending',
        `Service ${serviceName} has no node port yet; until then clients are given ${clusterEndpoint}`,
      );
    }
    const nodes = [...new Set(observed.nodeAddresses ?? [])].slice(0, MAX_NODE_ENDPOINTS);
    if (nodes.length > 0) {
      const endpoints = nodes.map((address) => url(scheme, address, nodePort));
      return {
        endpoints,
        clusterEndpoint,
        exposed: {
          type: 'Exposed',
          status: 'True',
          reason: 'NodePort',
          message: `clients are given node addresses with node port ${nodePort}: ${endpoints.join(', ')}`,
        },
      };
    }
    return inCluster(
      'NodeAddressesUnknown',
      `node port ${nodePort} is open on every node, but the operator does not know the nodes' ` +
        `addresses (it may not list nodes); set spec.publicUrls to ${scheme}://<node address>:${nodePort}. ` +
        `Until then clients are given ${clusterEndpoint}, which works only inside the cluster`,
    );
  }
  return inCluster(
    'ClusterInternal',
    `clients are given ${clusterEndpoint}, which resolves only inside the cluster; for clients ` +
      'outside it set spec.service.type (LoadBalancer or NodePort), spec.ingress, or spec.publicUrls',
  );
}

/** The URLs clients are given for the pool (status.endpoints): see relayPoolExposure. */
export function relayPoolEndpoints(
  pool: RelayPool,
  observed: RelayPoolObservedNetwork = {},
): string[] {
  return relayPoolExposure(pool, observed).endpoints;
}

/** The parts of a Service object relayPoolExposure reads. */
export function observedRelayService(object: { [field: string]: unknown }): ObservedRelayService {
  const spec = object.spec as { ports?: { nodePort?: number }[] } | undefined;
  const status = object.status as
    { loadBalancer?: { ingress?: { ip?: string; hostname?: string }[] } } | undefined;
  const nodePort = spec?.ports?.[0]?.nodePort;
  const ingress = status?.loadBalancer?.ingress;
  return {
    ...(nodePort === undefined ? {} : { nodePort }),
    ...(ingress === undefined ? {} : { loadBalancer: ingress }),
  };
}

/**
 * Addresses of nodes for clients: ExternalIPs when any node has one (a mix would hand out
 * private addresses to the public), else InternalIPs; sorted, so the list is stable.
 */
export function nodeAddresses(nodes: readonly { [field: string]: unknown }[]): string[] {
  const all = nodes.map((node) => {
    const addresses =
      (node.status as { addresses?: { type?: string; address?: string }[] } | undefined)
        ?.addresses ?? [];
    return {
      external: addresses.find((a) => a.type === 'ExternalIP' && a.address)?.address,
      internal: addresses.find((a) => a.type === 'InternalIP' && a.address)?.address,
    };
  });
  const external = all.map((a) => a.external).filter((a): a is string => a !== undefined);
  const chosen =
    external.length > 0
      ? external
      : all.map((a) => a.internal).filter((a): a is string => a !== undefined);
  return [...new Set(chosen)].sort();
}
