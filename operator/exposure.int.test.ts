// How clients reach a RelayPool from outside the cluster, against a real kube-apiserver and the
// operator as a real process: the Service type and node port, the load balancer address a
// cloud writes into the Service status, node addresses for NodePort, an Ingress, relays
// serving TLS from a Secret, and the addresses that reach status.endpoints (and from there the
// Domain, whose relayUrls the Manager hands to devices). No kubelet, no cloud: the test writes
// the Service's load balancer status and a Node itself, as a cloud controller and a kubelet would.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { KubeApiServer } from '../test/support/kube-apiserver.js';
import { createNamespace, installGroveCrds } from '../test/support/grove-crds.js';
import { OperatorProcess } from '../test/support/operator-process.js';
import { waitFor } from '../test/support/ports.js';
import { KubeClient } from '../kube/kube-client.js';
import type { KubeObject, ResourceType } from '../kube/kube-object.js';
import { resourceTypes as t } from '../kube/resource-types.js';

const ns = 'grove-exposure';
let kube: KubeApiServer | undefined;
let client: KubeClient;
let operator: OperatorProcess | undefined;

type Json = Record<string, unknown>;
const field = (object: KubeObject | undefined, path: string): unknown =>
  path.split('.').reduce<unknown>((value, key) => (value as Json | undefined)?.[key], object);

const conditionOf = (object: KubeObject | undefined, type: string) =>
  (field(object, 'status.conditions') as Json[] | undefined)?.find((c) => c.type === type);

const get = (type: ResourceType, name: string) => client.get(type, ns, name);

async function until<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> {
  return waitFor(check, what, timeoutMs, 100).catch((error: unknown) => {
    throw new Error(
      `${String(error)}\noperator log tail:\n${operator?.lines.slice(-15).join('\n') ?? ''}`,
    );
  });
}

function pool(name: string, spec: Json): KubeObject {
  return {
    apiVersion: 'grove.dev/v1alpha1',
    kind: 'RelayPool',
    metadata: { name, namespace: ns },
    spec: { redis: { external: { url: 'redis://redis.example:6379' } }, ...spec },
  };
}

/** The pool's status once the Exposed condition has `reason`. */
function exposedAs(name: string, reason: string): Promise<KubeObject> {
  return until(`RelayPool ${name} Exposed ${reason}`, async () => {
    const current = await get(t.relayPools, name);
    return conditionOf(current, 'Exposed')?.reason === reason && current;
  });
}

beforeAll(async () => {
  kube = await KubeApiServer.start();
  client = await KubeClient.fromKubeConfig({ kubeconfigPath: kube.kubeconfigPath });
  await installGroveCrds(client);
  await createNamespace(client, ns);
  operator = await OperatorProcess.start({ kubeconfigPath: kube.kubeconfigPath });
  await operator.waitReady();
}, 180_000);

afterAll(async () => {
  await operator?.stop();
  client.close();
  await kube?.stop();
});

describe('operator › how clients reach a RelayPool', () => {
  it('a ClusterIP pool says it is reachable only inside the cluster', async () => {
    await client.create(t.relayPools, pool('inside', {}));
    const status = await exposedAs('inside', 'ClusterInternal');
    expect(field(status, 'status.endpoints')).toEqual([`ws://inside-relay.${ns}.svc:443`]);
    expect(field(status, 'status.clusterEndpoint')).toBe(`ws://inside-relay.${ns}.svc:443`);
    expect(conditionOf(status, 'Exposed')).toMatchObject({
      status: 'False',
      message: expect.stringContaining('spec.service.type') as unknown,
    });
  });

  it('a LoadBalancer pool publishes the address the cloud gives its Service, and the Domain follows', async () => {
    await client.create(t.domains, {
      apiVersion: 'grove.dev/v1alpha1',
      kind: 'Domain',
      metadata: { name: 'acme', namespace: ns },
      spec: { relayPools: ['edge'] },
    });
    await client.create(
      t.relayPools,
      pool('edge', {
        service: {
          type: 'LoadBalancer',
          externalTrafficPolicy: 'Local',
          annotations: { 'service.beta.kubernetes.io/aws-load-balancer-type': 'nlb' },
        },
      }),
    );
    await exposedAs('edge', 'LoadBalancerPending');
    const service = await until('the relay Service', () => get(t.services, 'edge-relay'));
    expect(field(service, 'spec.type')).toBe('LoadBalancer');
    expect(field(service, 'spec.externalTrafficPolicy')).toBe('Local');
    // What a cloud controller writes once the load balancer exists.
    await client.patch(
      t.services,
      ns,
      'edge-relay',
      { status: { loadBalancer: { ingress: [{ ip: '198.51.100.7' }] } } },
      { type: 'merge', subresource: 'status' },
    );
    const status = await exposedAs('edge', 'LoadBalancer');
    expect(field(status, 'status.endpoints')).toEqual(['ws://198.51.100.7:443']);
    expect(conditionOf(status, 'Exposed')).toMatchObject({ status: 'True' });
    // The Domain's relayUrls (what the Manager hands to devices) follow the pool's endpoints.
    await until('Domain relayUrls with the load balancer', async () => {
      const domain = await get(t.domains, 'acme');
      const urls = field(domain, 'status.relayUrls') as string[] | undefined;
      return urls?.[0] === 'ws://198.51.100.7:443' && domain;
    });
  });

  it('a NodePort pool with TLS publishes wss:// node addresses with the assigned node port', async () => {
    // A node, as a kubelet registers it (the API server keeps no status on create).
    await client.create(t.nodes, {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'node-a' },
    });
    await client.patch(
      t.nodes,
      undefined,
      'node-a',
      {
        status: {
          addresses: [
            { type: 'InternalIP', address: '10.99.0.1' },
            { type: 'Hostname', address: 'node-a' },
          ],
        },
      },
      { type: 'merge', subresource: 'status' },
    );
    await client.create(
      t.relayPools,
      pool('nodes', { service: { type: 'NodePort' }, tls: { secretName: 'relay-tls' } }),
    );
    const status = await exposedAs('nodes', 'NodePort');
    const service = await get(t.services, 'nodes-relay');
    const nodePort = (field(service, 'spec.ports') as { nodePort: number }[])[0]?.nodePort;
    expect(nodePort).toBeGreaterThanOrEqual(30000);
    expect(field(status, 'status.endpoints')).toEqual([`wss://10.99.0.1:${nodePort}`]);
    expect(field(status, 'status.clusterEndpoint')).toBe(`wss://nodes-relay.${ns}.svc:443`);

    // The relays serve TLS from the Secret: mounted, named in relay.json, probed over HTTPS.
    const deployment = await get(t.deployments, 'nodes-relay');
    const podSpec = field(deployment, 'spec.template.spec') as {
      volumes: Json[];
      containers: { readinessProbe: { httpGet: Json }; volumeMounts: Json[] }[];
    };
    expect(podSpec.volumes).toContainEqual(
      expect.objectContaining({
        name: 'tls',
        secret: expect.objectContaining({ secretName: 'relay-tls' }) as unknown,
      }),
    );
    expect(podSpec.containers[0]?.readinessProbe.httpGet.scheme).toBe('HTTPS');
    const config = await get(t.configMaps, 'nodes-relay-config');
    const relayJson = JSON.parse(String((field(config, 'data') as Json)['relay.json'])) as Json;
    expect(relayJson.tls).toEqual({
      certFile: '/etc/grove/tls/tls.crt',
      keyFile: '/etc/grove/tls/tls.key',
    });
  });

  it('an Ingress pool gets an Ingress and wss://host, and loses both when the Ingress is removed', async () => {
    await client.create(
      t.relayPools,
      pool('web', {
        ingress: {
          host: 'relays.example.com',
          className: 'nginx',
          tls: { secretName: 'relays-tls' },
          annotations: { 'cert-manager.io/cluster-issuer': 'letsencrypt' },
        },
      }),
    );
    const status = await exposedAs('web', 'Ingress');
    expect(field(status, 'status.endpoints')).toEqual(['wss://relays.example.com']);
    const ingress = await until('the Ingress', () => get(t.ingresses, 'web-relay'));
    expect(field(ingress, 'spec.rules')).toEqual([
      {
        host: 'relays.example.com',
        http: {
          paths: [
            {
              path: '/',
              pathType: 'Prefix',
              backend: { service: { name: 'web-relay', port: { name: 'relay' } } },
            },
          ],
        },
      },
    ]);
    expect(field(ingress, 'spec.tls')).toEqual([
      { hosts: ['relays.example.com'], secretName: 'relays-tls' },
    ]);

    await client.patch(t.relayPools, ns, 'web', { spec: { ingress: null } }, { type: 'merge' });
    await exposedAs('web', 'ClusterInternal');
    await until(
      'the Ingress deleted',
      async () => (await get(t.ingresses, 'web-relay')) === undefined,
    );
  });

  it('refuses a node port on a ClusterIP Service', async () => {
    await expect(
      client.create(t.relayPools, pool('wrong', { service: { nodePort: 30001 } })),
    ).rejects.toThrow(/nodePort needs type NodePort or LoadBalancer/);
  });
});
