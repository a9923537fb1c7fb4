// The NetworkPolicies of Grove: the chart's (operator, Manager) rendered by the real Helm, and
// the operator's (a RelayPool's relays and built-in Redis) as its builders make them, each
// admitted by a real kube-apiserver (server-side apply, dryRun=All: validated, stored nowhere),
// and checked to select the pods they are about and to admit each other's traffic. No network
// plugin here enforces them (nor in the e2e cluster's bridge CNI): docs/helm.md says so.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { KubeClient } from '../kube/kube-client.js';
import type { KubeObject } from '../kube/kube-object.js';
import {
  buildRedisStatefulSet,
  buildRelayDeployment,
  buildRelayPoolChildren,
} from '../operator/builders/relaypool/index.js';
import { makeInput } from '../operator/builders/relaypool/fixtures.js';
import { createNamespace } from '../test/support/grove-crds.js';
import { KubeApiServer } from '../test/support/kube-apiserver.js';
import {
  find,
  releaseNamespace,
  set,
  template,
  useHelmHome,
  watchedNamespace,
  type Deployment,
  type Manifest,
} from './chart-test-support.js';

useHelmHome();

interface Selector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}
interface Peer {
  podSelector?: Selector;
  namespaceSelector?: Selector;
  ipBlock?: { cidr: string };
}
interface Port {
  protocol: string;
  port: number;
}
interface Rule {
  from?: Peer[];
  to?: Peer[];
  ports?: Port[];
}
interface NetworkPolicy extends Manifest {
  spec: {
    podSelector: Selector;
    policyTypes: string[];
    ingress?: Rule[];
    egress?: Rule[];
  };
}

/** Whether a label selector selects these labels (Kubernetes' semantics; {} selects all). */
function selects(selector: Selector, labels: Record<string, string>): boolean {
  const byLabel = Object.entries(selector.matchLabels ?? {}).every(
    ([key, value]) => labels[key] === value,
  );
  const byExpression = (selector.matchExpressions ?? []).every(({ key, operator, values }) => {
    const value = labels[key];
    if (operator === 'In') return value !== undefined && (values ?? []).includes(value);
    if (operator === 'NotIn') return value === undefined || !(values ?? []).includes(value);
    if (operator === 'Exists') return value !== undefined;
    return value === undefined;
  });
  return byLabel && byExpression;
}

interface Pod {
  namespace: string;
  labels: Record<string, string>;
}

/** Whether a peer admits a pod, seen from a policy in `policyNamespace`. */
function admits(peer: Peer, pod: Pod, policyNamespace: string): boolean {
  if (peer.ipBlock !== undefined) return false;
  const namespaceOk =
    peer.namespaceSelector === undefined
      ? pod.namespace === policyNamespace
      : selects(peer.namespaceSelector, { 'kubernetes.io/metadata.name': pod.namespace });
  return namespaceOk && selects(peer.podSelector ?? {}, pod.labels);
}

/** Whether some rule lets `pod` in on `port` (TCP). */
function letsIn(policy: NetworkPolicy, pod: Pod, port: number): boolean {
  const namespace = policy.metadata.namespace ?? '';
  return (policy.spec.ingress ?? []).some(
    (rule) =>
      (rule.ports ?? []).some((p) => p.port === port && p.protocol === 'TCP') &&
      (rule.from === undefined || rule.from.some((peer) => admits(peer, pod, namespace))),
  );
}

/** Whether some rule lets the policy's pods out to `pod` on `port` (TCP). */
function letsOut(policy: NetworkPolicy, pod: Pod, port: number): boolean {
  const namespace = policy.metadata.namespace ?? '';
  return (policy.spec.egress ?? []).some(
    (rule) =>
      (rule.ports ?? []).some((p) => p.port === port && p.protocol === 'TCP') &&
      (rule.to === undefined || rule.to.some((peer) => admits(peer, pod, namespace))),
  );
}

function podOf(deployment: Pick<Deployment, 'metadata' | 'spec'>): Pod {
  return {
    namespace: deployment.metadata.namespace ?? '',
    labels: deployment.spec.template.metadata.labels,
  };
}

const policies = (manifests: readonly (Manifest | KubeObject)[]): NetworkPolicy[] =>
  manifests.filter((m): m is NetworkPolicy => m.kind === 'NetworkPolicy');

function policyNamed(manifests: readonly (Manifest | KubeObject)[], name: string): NetworkPolicy {
  const found = policies(manifests).find((p) => p.metadata.name === name);
  if (found === undefined) throw new Error(`no NetworkPolicy ${name}`);
  return found;
}

let kube: KubeApiServer | undefined;
let client: KubeClient;

beforeAll(async () => {
  kube = await KubeApiServer.start();
  client = await KubeClient.fromKubeConfig({ kubeconfigPath: kube.kubeconfigPath });
  for (const namespace of [releaseNamespace, watchedNamespace, 'grove']) {
    await createNamespace(client, namespace);
  }
}, 120_000);

afterAll(async () => {
  client.close();
  await kube?.stop();
});

/** Server-side apply with dryRun=All: the API server's validation, nothing stored. */
async function dryRun(object: Manifest | KubeObject): Promise<KubeObject> {
  return client.apply(object, {
    fieldManager: 'grove-network-policy-test',
    dryRun: true,
  });
}

describe('NetworkPolicies against a real API server (dryRun=All)', () => {
  const variants: Record<string, string[]> = {
    'default values': [],
    samples: set('samples.enabled=true'),
    'a watched namespace': set(`operator.watchNamespace=${watchedNamespace}`),
    'cluster-wide': set('operator.clusterWide=true'),
    'an external Redis, scrapers from monitoring, API server CIDRs, extra egress': [
      ...set(
        'manager.redis.url=rediss://redis.example.com:6380',
        'networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name=monitoring',
        'networkPolicy.metricsFrom[0].podSelector.matchLabels.app=prometheus',
        'networkPolicy.apiServer.cidrs[0]=10.96.0.1/32',
        'networkPolicy.apiServer.cidrs[1]=172.18.0.2/32',
      ),
      '--set-json',
      'networkPolicy.extraEgress=[{"to":[{"ipBlock":{"cidr":"10.1.0.0/16"}}],"ports":[{"port":6380}]}]',
    ],
  };

  it.each(Object.keys(variants))(
    "admits the chart's operator and Manager policies with %s",
    async (name) => {
      const rendered = policies(await template(variants[name]));
      expect(rendered.map((p) => p.metadata.name).sort()).toEqual([
        'grove-manager',
        'grove-operator',
      ]);
      for (const policy of rendered) {
        const stored = await dryRun(policy);
        // The server keeps every field as rendered (defaults added), so what we read is what runs.
        expect(stored).toMatchObject(policy);
      }
    },
  );

  it('admits the policies the operator builds for a RelayPool', async () => {
    for (const spec of [
      {},
      { redis: { external: { url: 'redis://redis.example.com:7000', cluster: true } } },
      {
        networkPolicy: {
          metricsFrom: [{ namespaceSelector: { matchLabels: { team: 'observability' } } }],
        },
      },
    ]) {
      const input = makeInput(spec, undefined, { groveNamespaces: [releaseNamespace] });
      for (const policy of policies(buildRelayPoolChildren(input))) {
        expect(await dryRun(policy)).toMatchObject(policy);
      }
    }
  });

  it('refuses an invalid policy, so the dry runs above are a real check', async () => {
    const [policy] = policies(
      await template(['--set-json', 'networkPolicy.extraEgress=[{"ports":[{"port":70000}]}]']),
    );
    if (policy === undefined) throw new Error('no NetworkPolicy rendered');
    await expect(dryRun(policy)).rejects.toThrow(/70000|port/);
  });

  it('renders none with networkPolicy.enabled=false, and the operator builds none when the pool says so', async () => {
    const off = await template(set('networkPolicy.enabled=false', 'samples.enabled=true'));
    expect(policies(off)).toEqual([]);
    // The sample RelayPool follows the chart's switch, and its scrapers.
    const pool = (manifests: readonly Manifest[]) => {
      const found = manifests.find((m) => m.kind === 'RelayPool');
      if (found === undefined) throw new Error('no sample RelayPool');
      return found as Manifest & { spec: { networkPolicy: unknown } };
    };
    expect(pool(off).spec.networkPolicy).toEqual({ enabled: false });
    const scraped = await template(
      set(
        'samples.enabled=true',
        'networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.team=observability',
      ),
    );
    expect(pool(scraped).spec.networkPolicy).toEqual({
      enabled: true,
      metricsFrom: [{ namespaceSelector: { matchLabels: { team: 'observability' } } }],
    });
    const children = buildRelayPoolChildren(makeInput({ networkPolicy: { enabled: false } }));
    expect(policies(children)).toEqual([]);
  });
});

describe('what the policies let through, read from the objects', () => {
  it("selects the chart's own pods, opens the Manager's API to all and metrics to the namespace", async () => {
    const manifests = await template(set('samples.enabled=true'));
    for (const name of ['grove-operator', 'grove-manager']) {
      const policy = policyNamed(manifests, name);
      const pod = podOf(find(manifests, 'Deployment', name));
      expect(selects(policy.spec.podSelector, pod.labels)).toBe(true);
      expect(policy.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    }
    const manager = policyNamed(manifests, 'grove-manager');
    const stranger: Pod = { namespace: 'elsewhere', labels: { app: 'x' } };
    const neighbour: Pod = { namespace: releaseNamespace, labels: { app: 'prometheus' } };
    expect(letsIn(manager, stranger, 8080)).toBe(true);
    expect(letsIn(manager, stranger, 9090)).toBe(false);
    expect(letsIn(manager, neighbour, 9090)).toBe(true);
  });

  it("lets the Manager and the operator reach the pool's Redis, and the Redis admit them, nothing else", async () => {
    const manifests = await template(set('samples.enabled=true'));
    const manager = policyNamed(manifests, 'grove-manager');
    const operator = policyNamed(manifests, 'grove-operator');
    // The sample pool the Manager uses, as the operator would build it in the release namespace.
    const input = makeInput({}, undefined, { groveNamespaces: [releaseNamespace] });
    input.pool.metadata.name = 'grove-sample';
    input.pool.metadata.namespace = releaseNamespace;
    const children = buildRelayPoolChildren(input);
    const redisPolicy = policyNamed(children, 'grove-sample-redis');
    const relayPolicy = policyNamed(children, 'grove-sample-relay');
    const redisPod = podOf(buildRedisStatefulSet(input) as unknown as Deployment);
    const relayPod = podOf(buildRelayDeployment(input) as unknown as Deployment);
    const managerPod = podOf(find(manifests, 'Deployment', 'grove-manager'));
    const operatorPod = podOf(find(manifests, 'Deployment', 'grove-operator'));

    expect(selects(redisPolicy.spec.podSelector, redisPod.labels)).toBe(true);
    expect(selects(relayPolicy.spec.podSelector, relayPod.labels)).toBe(true);
    // Out of the Manager, the operator and the relays, into Redis: both policies agree.
    for (const [policy, pod] of [
      [manager, managerPod],
      [operator, operatorPod],
      [relayPolicy, relayPod],
    ] as const) {
      expect(letsOut(policy, redisPod, 6379)).toBe(true);
      expect(letsIn(redisPolicy, pod, 6379)).toBe(true);
    }
    // A pod of another pool, or an unlabelled pod, is not let in; relays reach nothing else.
    const otherRelay: Pod = {
      namespace: releaseNamespace,
      labels: { ...relayPod.labels, 'app.kubernetes.io/instance': 'other' },
    };
    expect(letsIn(redisPolicy, otherRelay, 6379)).toBe(false);
    expect(letsIn(redisPolicy, { namespace: releaseNamespace, labels: {} }, 6379)).toBe(false);
    expect(letsIn(redisPolicy, { namespace: 'elsewhere', labels: managerPod.labels }, 6379)).toBe(
      false,
    );
    expect(letsOut(relayPolicy, managerPod, 8080)).toBe(false);
    expect(redisPolicy.spec.egress).toBeUndefined();
    // The operator reaches the Manager's API and bridge pods' status (Data Bridges).
    const bridgePod: Pod = {
      namespace: releaseNamespace,
      labels: { 'app.kubernetes.io/component': 'bridge' },
    };
    expect(letsOut(operator, managerPod, 8080)).toBe(true);
    expect(letsIn(manager, operatorPod, 8080)).toBe(true);
    expect(letsOut(operator, bridgePod, 8080)).toBe(true);
    expect(letsOut(operator, relayPod, 8443)).toBe(false);
    // Data Bridge pods, by their component label.
    expect(
      letsIn(
        redisPolicy,
        { namespace: releaseNamespace, labels: { 'app.kubernetes.io/component': 'bridge' } },
        6379,
      ),
    ).toBe(true);
  });
});
