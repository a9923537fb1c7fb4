import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DeviceTokenVerifier, generateDomainKey } from '../contracts/auth/device-token.js';
import { KubeClient } from '../kube/kube-client.js';
import type { KubeObject } from '../kube/kube-object.js';
import { resourceTypes } from '../kube/resource-types.js';
import { installGroveCrds } from '../test/support/grove-crds.js';
import { KubeApiServer } from '../test/support/kube-apiserver.js';
import { DeviceKey, ManagerProcess, stopAll } from '../test/support/manager-process.js';
import { waitFor } from '../test/support/ports.js';
import { RedisServer } from '../test/support/redis-server.js';

let kube: KubeApiServer;
let client: KubeClient;
let redis: RedisServer;
let manager: ManagerProcess;
const ns = 'default';
const group = 'grove.dev/v1alpha1';

const policy = (maxMessageBytes: number): KubeObject => ({
  apiVersion: group,
  kind: 'Policy',
  metadata: { name: 'limits', namespace: ns },
  spec: { priority: 1, domainSelector: {}, relay: { maxMessageBytes } },
});

beforeAll(async () => {
  [kube, redis] = await Promise.all([
    KubeApiServer.start(),
    RedisServer.start({ appendonly: false }),
  ]);
  client = await KubeClient.fromKubeConfig({ kubeconfigPath: kube.kubeconfigPath });
  await installGroveCrds(client);
  const key = await generateDomainKey('acme-1');
  const apply = (object: KubeObject) =>
    client.apply(object, { fieldManager: 'grove-test', force: true });
  await apply({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'acme-signing-key', namespace: ns },
    data: { 'keys.json': Buffer.from(JSON.stringify({ keys: [key] })).toString('base64') },
  });
  await apply({
    apiVersion: group,
    kind: 'RelayPool',
    metadata: { name: 'home', namespace: ns },
    spec: {
      publicUrls: ['wss://relay-a.example.com', 'wss://relay-b.example.com'],
      redis: { external: { url: redis.url } },
    },
  });
  await apply({
    apiVersion: group,
    kind: 'Domain',
    metadata: { name: 'acme', namespace: ns },
    spec: { relayPools: ['home'], tokenTTLSeconds: 900 },
  });
  await apply(policy(2048));
  manager = await ManagerProcess.start({
    kubeconfig: kube.kubeconfigPath,
    namespace: ns,
    redisUrl: redis.url,
  });
}, 90_000);

afterAll(async () => {
  await stopAll(
    () => manager.terminate(),
    () => {
      client.close();
      return Promise.resolve();
    },
    () => kube.stop(),
    () => redis.stop(),
  );
});

describe('grove manager › cluster mode', () => {
  it('serves the Domains, relay URLs and Policies of the API server, and signs with the Secret’s key', async () => {
    const domains = await manager.api<
      { name: string; relayUrls: string[]; tokenTTLSeconds: number }[]
    >('GET', '/v1/admin/domains');
    expect(domains.body).toEqual([
      expect.objectContaining({
        name: 'acme',
        relayUrls: ['wss://relay-a.example.com', 'wss://relay-b.example.com'],
        tokenTTLSeconds: 900,
      }),
    ]);
    await manager.api('POST', '/v1/admin/domains/acme/members', { id: 'ann', displayName: 'Ann' });
    const code = await manager.api<{ code: string }>(
      'POST',
      '/v1/admin/domains/acme/members/ann/codes',
      {},
    );
    const enrolled = await manager.api<{
      token: string;
      policy: { relay: { maxMessageBytes: number } };
    }>(
      'POST',
      '/v1/enroll',
      { code: code.body.code, publicKey: DeviceKey.generate().publicKey, deviceName: 'pc' },
      null,
    );
    expect(enrolled.status).toBe(201);
    expect(enrolled.body.policy.relay.maxMessageBytes).toBe(2048);

    // The token verifies with the public key the operator would publish for relays.
    const secret = await client.get<KubeObject & { data: Record<string, string> }>(
      resourceTypes.secrets,
      ns,
      'acme-signing-key',
    );
    const stored = JSON.parse(
      Buffer.from(secret?.data['keys.json'] ?? '', 'base64').toString(),
    ) as { keys: { kid: string; publicJwk: Record<string, string> }[] };
    const claims = await new DeviceTokenVerifier(() =>
      stored.keys.map((k) => ({ ...k.publicJwk, kid: k.kid })),
    ).verify(enrolled.body.token);
    expect(claims).toMatchObject({ domain: 'acme', identity: 'ann' });
  });

  it('follows Policy changes through the watch', async () => {
    await client.apply(policy(4096), { fieldManager: 'grove-test', force: true });
    await waitFor(
      async () => {
        const answer = await manager.api<{ effective: { relay: { maxMessageBytes: number } } }>(
          'GET',
          '/v1/admin/domains/acme/policy',
        );
        return answer.body.effective.relay.maxMessageBytes === 4096;
      },
      'the new Policy to apply',
      10_000,
    );
  });
});
