/**
 * How the host (outside the cluster) reaches Grove: the one place to change when that changes.
 *
 * - Relays: the suite's RelayPool has a NodePort Service, so the operator publishes node
 *   addresses with the node port in `status.endpoints` (condition `Exposed`), and the Manager
 *   hands the same URLs to devices. The suite connects where devices are told to.
 * - The Manager: its Service is made NodePort (helm value), and the suite connects to a node's
 *   address on that port, as the operator does for relays (ExternalIP, else InternalIP).
 *
 * Both work wherever the host reaches the nodes: this machine's cluster (node 10.99.0.1) and
 * kind on Linux (the node containers' addresses); nothing here is specific to either.
 */
import { e2eEnv } from './env.js';
import { conditionOf, listObjects, mustGet, waitFor } from './kube.js';

/**
 * helm --set values that make the Manager reachable from outside. The suite enrolls its whole
 * fleet (up to 20 devices a scenario) from one address, above the default of 20 enrollments
 * per address a minute, so it raises that limit as an operator enrolling a fleet from one
 * place would.
 */
export function managerServiceValues(): string[] {
  return [
    '--set',
    'manager.service.type=NodePort',
    '--set',
    'manager.limits.rateLimits.enrollPerMinute=600',
  ];
}

/** The `spec.service` of the RelayPool the suite creates. */
export function relayPoolService(): Record<string, unknown> {
  return { type: 'NodePort' };
}

async function nodeAddress(): Promise<string> {
  const nodes = await listObjects('nodes', { namespace: 'default' });
  for (const type of ['ExternalIP', 'InternalIP']) {
    for (const node of nodes) {
      const addresses = (node.status?.addresses ?? []) as { type: string; address: string }[];
      const found = addresses.find((a) => a.type === type);
      if (found !== undefined) return found.address;
    }
  }
  throw new Error('no node has an ExternalIP or InternalIP');
}

/** The Manager's base URL, as the host reaches it. */
export async function managerUrl(): Promise<string> {
  const service = await mustGet('service', `${e2eEnv().release}-manager`);
  const port = (service.spec as { ports?: { nodePort?: number }[] }).ports?.[0]?.nodePort;
  if (port === undefined) throw new Error('the Manager Service has no node port');
  return `http://${await nodeAddress()}:${port}`;
}

/** The URLs a RelayPool publishes for clients outside the cluster (its status.endpoints). */
export async function relayUrls(pool: string): Promise<string[]> {
  return waitFor(`RelayPool ${pool} exposed outside the cluster`, async () => {
    const object = await mustGet('relaypool', pool);
    const exposed = conditionOf(object, 'Exposed');
    const endpoints = (object.status as { endpoints?: string[] } | undefined)?.endpoints ?? [];
    return exposed?.status === 'True' && endpoints.length > 0 ? endpoints : undefined;
  });
}

/** The first of them. */
export async function relayUrl(pool: string): Promise<string> {
  const [first] = await relayUrls(pool);
  if (first === undefined) throw new Error(`RelayPool ${pool} has no endpoint`);
  return first;
}
