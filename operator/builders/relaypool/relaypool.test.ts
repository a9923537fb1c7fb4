import { describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { validateRelayPool, type RelayPool } from '../../../crds/relaypool.js';
import { relayConfigSchema } from '../../../relay/config.js';
import type { KubeObject } from '../../../kube/kube-object.js';
import { MANAGED_BY, labelKeys } from '../labels.js';
import {
  NAMESPACE,
  UID,
  acme,
  domain,
  goldenCases,
  key,
  makeInput,
  makePool,
  type GoldenCase,
} from './fixtures.js';
import {
  MAX_RELAY_POOL_NAME_LENGTH,
  MAX_STORE_BORROWERS,
  RelayPoolBuildError,
  buildRedisAuthSecret,
  buildRelayConfig,
  buildRelayPoolChildren,
  canonicalJson,
  configHash,
  relayPoolEndpoints,
  relayPoolExposure,
  relayPoolNames,
  redisAuthConf,
  relayPoolSelector,
  type RelayPoolBuildInput,
} from './index.js';

/** The value at a path of plain JSON, or undefined. */
function at(value: unknown, ...path: (string | number)[]): unknown {
  let current = value;
  for (const step of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string | number, unknown>)[step];
  }
  return current;
}

function child(children: KubeObject[], kind: string, name?: string): KubeObject {
  const found = children.find(
    (object) => object.kind === kind && (name === undefined || object.metadata.name === name),
  );
  if (found === undefined) throw new Error(`no ${kind} ${name ?? ''} among the children`);
  return found;
}

function relayJsonOf(children: KubeObject[]): unknown {
  const text = at(child(children, 'ConfigMap'), 'data', 'relay.json');
  if (typeof text !== 'string') throw new Error('ConfigMap has no relay.json');
  return JSON.parse(text);
}

function podTemplateHash(children: KubeObject[]): unknown {
  return at(
    child(children, 'Deployment'),
    'spec',
    'template',
    'metadata',
    'annotations',
    'grove.dev/config-hash',
  );
}

function renderGolden({ input, redisPassword, observed }: GoldenCase): string {
  const objects = buildRelayPoolChildren(input);
  if (redisPassword !== undefined) objects.push(buildRedisAuthSecret(input.pool, redisPassword));
  // YAML 1.1 quoting, as Kubernetes tools read YAML (`yes` stays a string there too); single
  // quotes, as prettier writes YAML, so that `prettier --check .` and this test agree.
  const documents = objects.map((object) =>
    stringify(object, { lineWidth: 0, version: '1.1', singleQuote: true }),
  );
  const exposure = relayPoolExposure(input.pool, observed);
  const header =
    `# status.endpoints: ${exposure.endpoints.join(', ')}\n` +
    `# status.clusterEndpoint: ${exposure.clusterEndpoint}\n` +
    `# Exposed: ${exposure.exposed.status} ${exposure.exposed.reason}\n` +
    `# relayPoolSelector: ${relayPoolSelector(input.pool)}\n`;
  return header + documents.join('---\n');
}

describe('relay pool builders › golden files', () => {
  it.each(Object.keys(goldenCases))('renders %s as in testdata/<case>.yaml', (name) => {
    const testCase = goldenCases[name];
    if (testCase === undefined) throw new Error(name);
    const file = new URL(`./testdata/${name}.yaml`, import.meta.url);
    const rendered = renderGolden(testCase);
    if (process.env['UPDATE_GOLDEN'] === '1') writeFileSync(file, rendered);
    expect(existsSync(file)).toBe(true);
    expect(rendered).toBe(readFileSync(file, 'utf8'));
  });

  it.each(Object.keys(goldenCases))('writes a relay.json the relay accepts for %s', (name) => {
    const testCase = goldenCases[name];
    if (testCase === undefined) throw new Error(name);
    const parsed = relayConfigSchema.safeParse(relayJsonOf(buildRelayPoolChildren(testCase.input)));
    expect(parsed.error?.issues ?? []).toEqual([]);
  });
});

describe('relay pool builders › config hash', () => {
  it('changes the pod template hash when a domain gains a key', () => {
    const before = buildRelayPoolChildren(makeInput({}, [acme]));
    const rotated = domain('acme', [
      ...acme.publicKeys,
      key('acme-2', 'q3Fh1c9Vn2xL0pR8tY5uW7eZ4aS6dG1jK3mB0vC8nXo'),
    ]);
    const after = buildRelayPoolChildren(makeInput({}, [rotated]));
    expect(podTemplateHash(after)).not.toEqual(podTemplateHash(before));
    expect(at(relayJsonOf(after), 'domains', 0, 'publicKeys', 1, 'kid')).toBe('acme-2');
  });

  it('changes the pod template hash when a limit or the drain settings change', () => {
    const base = podTemplateHash(buildRelayPoolChildren(makeInput({})));
    const limit = buildRelayPoolChildren(
      makeInput({}, [domain('acme', acme.publicKeys, { maxInFlight: 8 })]),
    );
    const drain = buildRelayPoolChildren(makeInput({ drain: { batchSize: 7 } }));
    expect(podTemplateHash(limit)).not.toEqual(base);
    expect(podTemplateHash(drain)).not.toEqual(base);
  });

  it('keeps the pod template as it was when only replicas or the Service change', () => {
    const template = (children: KubeObject[]) =>
      at(child(children, 'Deployment'), 'spec', 'template');
    const base = buildRelayPoolChildren(makeInput({ replicas: 2 }));
    const scaled = buildRelayPoolChildren(
      makeInput({ replicas: 5, service: { type: 'NodePort', port: 9000 } }),
    );
    expect(at(child(scaled, 'Deployment'), 'spec', 'replicas')).toBe(5);
    expect(template(scaled)).toEqual(template(base));
    expect(podTemplateHash(scaled)).toEqual(podTemplateHash(base));
  });

  it('hashes canonical JSON: key order does not matter, values do', () => {
    const hash = configHash({ b: 1, a: { d: [1, 2], c: 'x' } });
    expect(hash).toMatch(/^[0-9a-f]{16}$/);
    expect(configHash({ a: { c: 'x', d: [1, 2] }, b: 1 })).toBe(hash);
    expect(configHash({ a: { c: 'x', d: [2, 1] }, b: 1 })).not.toBe(hash);
    expect(canonicalJson({ b: 1, a: 2 })).toBe('{"a":2,"b":1}');
  });

  it('hashes exactly the relay.json the pods read', () => {
    const input = makeInput({});
    const children = buildRelayPoolChildren(input);
    expect(relayJsonOf(children)).toEqual(buildRelayConfig(input));
    expect(podTemplateHash(children)).toBe(configHash(relayJsonOf(children)));
  });
});

describe('relay pool builders › determinism', () => {
  it('renders the same bytes whatever order domains, keys and annotations come in', () => {
    const a = domain('alpha', [key('a-1', 'AAAA'), key('a-2', 'BBBB')]);
    const b = domain('beta', [key('b-1', 'CCCC')]);
    const aReversed = domain('alpha', [key('a-2', 'BBBB'), key('a-1', 'AAAA')]);
    const spec = (annotations: Record<string, string>) => ({
      service: { type: 'LoadBalancer', annotations },
    });
    const first = buildRelayPoolChildren(makeInput(spec({ x: '1', y: '2' }), [a, b]));
    const second = buildRelayPoolChildren(makeInput(spec({ y: '2', x: '1' }), [b, aReversed]));
    expect(JSON.stringify(second)).toBe(JSON.stringify(first));
  });

  it('leaves its input as it found it', () => {
    const input = makeInput({}, [domain('zeta', [key('z-2', 'ZZ'), key('z-1', 'YY')]), acme]);
    const copy = structuredClone(input);
    buildRelayPoolChildren(input);
    expect(input).toEqual(copy);
  });

  it('shares no object between children, so changing one output cannot change another', () => {
    const children = buildRelayPoolChildren(makeInput({}));
    const seen = new Set<object>();
    const visit = (value: unknown) => {
      if (value === null || typeof value !== 'object') return;
      expect(seen.has(value)).toBe(false);
      seen.add(value);
      Object.values(value).forEach(visit);
    };
    children.forEach(visit);
  });
});

describe('relay pool builders › shape of the children', () => {
  it('applies NetworkPolicies, ConfigMap, Redis Service, StatefulSet, Deployment, Services, PDB, HPA in order', () => {
    const kinds = (spec: unknown) =>
      buildRelayPoolChildren(makeInput(spec)).map((o) => `${o.kind}/${o.metadata.name}`);
    expect(kinds({ autoscaling: { minReplicas: 1, maxReplicas: 3 } })).toEqual([
      'NetworkPolicy/main-redis',
      'NetworkPolicy/main-relay',
      'ConfigMap/main-relay-config',
      'Service/main-redis',
      'Service/main-redis-svc',
      'StatefulSet/main-redis',
      'Deployment/main-relay',
      'Service/main-relay',
      'Service/main-metrics',
      'PodDisruptionBudget/main-relay',
      'HorizontalPodAutoscaler/main-relay',
    ]);
    expect(kinds({ redis: { external: { url: 'redis://redis:6379' } } })).toEqual([
      'NetworkPolicy/main-relay',
      'ConfigMap/main-relay-config',
      'Deployment/main-relay',
      'Service/main-relay',
      'Service/main-metrics',
      'PodDisruptionBudget/main-relay',
    ]);
    expect(kinds({ networkPolicy: { enabled: false } })).not.toContainEqual(
      expect.stringMatching(/^NetworkPolicy\//),
    );
  });

  it('opens the relay port to all, metrics to the namespace, and lets relays reach only Redis and DNS', () => {
    const children = buildRelayPoolChildren(makeInput({}));
    const relay = child(children, 'NetworkPolicy', 'main-relay');
    expect(at(relay, 'spec', 'podSelector', 'matchLabels')).toEqual(
      at(child(children, 'Deployment'), 'spec', 'selector', 'matchLabels'),
    );
    expect(at(relay, 'spec', 'ingress')).toEqual([
      { ports: [{ protocol: 'TCP', port: 8443 }] },
      { from: [{ podSelector: {} }], ports: [{ protocol: 'TCP', port: 9090 }] },
    ]);
    expect(at(relay, 'spec', 'egress', 0)).toEqual({
      to: [
        {
          podSelector: {
            matchLabels: at(child(children, 'StatefulSet'), 'spec', 'selector', 'matchLabels'),
          },
        },
      ],
      ports: [{ protocol: 'TCP', port: 6379 }],
    });
    expect(at(relay, 'spec', 'egress', 1, 'ports')).toEqual([
      { protocol: 'UDP', port: 53 },
      { protocol: 'TCP', port: 53 },
    ]);
    const metricsPort = at(
      child(children, 'Deployment'),
      'spec',
      'template',
      'spec',
      'containers',
      0,
      'ports',
      1,
    );
    expect(metricsPort).toEqual({ name: 'metrics', containerPort: 9090, protocol: 'TCP' });
    expect(at(child(children, 'Service', 'main-metrics'), 'spec', 'ports')).toEqual([
      { name: 'metrics', port: 9090, targetPort: 'metrics', protocol: 'TCP' },
    ]);
    // The client Service, which may face the internet, never carries the metrics port.
    expect(at(child(children, 'Service', 'main-relay'), 'spec', 'ports')).toHaveLength(1);
  });

  it('admits to the built-in Redis only its relays and Grove pods of the pool and Grove namespaces', () => {
    const redis = child(
      buildRelayPoolChildren(makeInput({}, [acme], { groveNamespaces: ['grove-system', 'grove'] })),
      'NetworkPolicy',
      'main-redis',
    );
    expect(at(redis, 'spec', 'policyTypes')).toEqual(['Ingress', 'Egress']);
    expect(at(redis, 'spec')).not.toHaveProperty('egress');
    expect(at(redis, 'spec', 'ingress')).toEqual([
      {
        from: [
          {
            podSelector: {
              matchLabels: {
                'app.kubernetes.io/instance': 'main',
                'app.kubernetes.io/component': 'relay',
              },
            },
          },
          {
            podSelector: {
              matchExpressions: [
                {
                  key: 'app.kubernetes.io/component',
                  operator: 'In',
                  values: ['operator', 'manager', 'bridge'],
                },
              ],
            },
            namespaceSelector: {
              matchExpressions: [
                {
                  key: 'kubernetes.io/metadata.name',
                  operator: 'In',
                  values: ['grove', 'grove-system'],
                },
              ],
            },
          },
        ],
        ports: [{ protocol: 'TCP', port: 6379 }],
      },
    ]);
  });

  it("lets relays of an external Redis reach its URL's port at any address", () => {
    const ports = (url: string) =>
      at(
        child(buildRelayPoolChildren(makeInput({ redis: { external: { url } } })), 'NetworkPolicy'),
        'spec',
        'egress',
        0,
      );
    expect(ports('rediss://cache.example.com:6380')).toEqual({
      ports: [{ protocol: 'TCP', port: 6380 }],
    });
    expect(ports('redis://cache.example.com')).toEqual({
      ports: [{ protocol: 'TCP', port: 6379 }],
    });
  });

  it('leaves replicas to the autoscaler when autoscaling is set', () => {
    const scaled = buildRelayPoolChildren(
      makeInput({ replicas: 7, autoscaling: { minReplicas: 2, maxReplicas: 4 } }),
    );
    const spec = at(child(scaled, 'Deployment'), 'spec');
    expect(spec).toBeDefined();
    expect(Object.keys(spec as object)).not.toContain('replicas');
    expect(at(child(scaled, 'HorizontalPodAutoscaler'), 'spec', 'minReplicas')).toBe(2);

    const fixed = buildRelayPoolChildren(makeInput({ replicas: 0 }));
    expect(at(child(fixed, 'Deployment'), 'spec', 'replicas')).toBe(0);
    expect(fixed.some((o) => o.kind === 'HorizontalPodAutoscaler')).toBe(false);
  });

  it('gives every child the pool namespace, the owner reference and the managed-by label', () => {
    const input = makeInput({ autoscaling: { minReplicas: 1, maxReplicas: 3 } });
    const objects = [...buildRelayPoolChildren(input), buildRedisAuthSecret(input.pool, 'secret')];
    expect(objects).toHaveLength(12);
    for (const object of objects) {
      expect(object.metadata.namespace).toBe(NAMESPACE);
      expect(object.metadata.ownerReferences).toEqual([
        {
          apiVersion: 'grove.dev/v1alpha1',
          kind: 'RelayPool',
          name: 'main',
          uid: UID,
          controller: true,
          blockOwnerDeletion: true,
        },
      ]);
      expect(object.metadata.labels?.[labelKeys.managedBy]).toBe(MANAGED_BY);
      expect(object.metadata.labels?.[labelKeys.relayPool]).toBe('main');
      expect(object).not.toHaveProperty('status');
    }
  });

  it('selects the pods its workloads create, and status.selector says the same', () => {
    const input = makeInput({});
    const children = buildRelayPoolChildren(input);
    const selector = Object.fromEntries(
      relayPoolSelector(input.pool)
        .split(',')
        .map((pair) => pair.split('=')),
    ) as Record<string, string>;
    const deployment = child(children, 'Deployment');
    expect(at(deployment, 'spec', 'selector', 'matchLabels')).toEqual(selector);
    const podLabels = at(deployment, 'spec', 'template', 'metadata', 'labels') as object;
    expect(podLabels).toMatchObject(selector);
    expect(at(child(children, 'Service', 'main-relay'), 'spec', 'selector')).toEqual(selector);
    expect(at(child(children, 'PodDisruptionBudget'), 'spec', 'selector', 'matchLabels')).toEqual(
      selector,
    );
    const statefulSet = child(children, 'StatefulSet');
    const redisSelector = at(statefulSet, 'spec', 'selector', 'matchLabels') as object;
    expect(at(statefulSet, 'spec', 'template', 'metadata', 'labels')).toMatchObject(redisSelector);
    expect(at(child(children, 'Service', 'main-redis'), 'spec', 'selector')).toEqual(redisSelector);
    // Relay and Redis pods never match each other's selectors.
    expect(podLabels).not.toMatchObject(redisSelector);
  });

  it('points relays at the built-in Redis through a ClusterIP Service, whose address survives a replaced pod', () => {
    const children = buildRelayPoolChildren(makeInput({}));
    const statefulSet = child(children, 'StatefulSet');
    const headless = child(children, 'Service', 'main-redis');
    expect(at(headless, 'spec', 'clusterIP')).toBe('None');
    expect(at(statefulSet, 'spec', 'serviceName')).toBe(headless.metadata.name);
    const clients = child(children, 'Service', 'main-redis-svc');
    expect(at(clients, 'spec', 'type')).toBe('ClusterIP');
    expect(at(clients, 'spec', 'clusterIP')).toBeUndefined();
    expect(at(clients, 'spec', 'publishNotReadyAddresses')).toBe(true);
    expect(at(clients, 'spec', 'selector')).toEqual({
      ...(at(statefulSet, 'spec', 'selector', 'matchLabels') as object),
      'statefulset.kubernetes.io/pod-name': 'main-redis-0',
    });
    expect(at(clients, 'spec', 'ports')).toEqual([
      { name: 'redis', port: 6379, targetPort: 'redis', protocol: 'TCP' },
    ]);
    expect(at(relayJsonOf(children), 'redis')).toEqual({
      url: `redis://${clients.metadata.name}.${NAMESPACE}.svc:6379`,
      cluster: false,
    });
  });

  it('keeps the ClusterIP Service on pod 0 with highAvailability, where relays ask the Sentinels', () => {
    const children = buildRelayPoolChildren(
      makeInput({ redis: { builtin: { highAvailability: { replicas: 2, replicaAcks: 1 } } } }),
    );
    const clients = child(children, 'Service', 'main-redis-svc');
    expect(at(clients, 'spec', 'selector')).toMatchObject({
      'statefulset.kubernetes.io/pod-name': 'main-redis-0',
    });
    expect(String(at(relayJsonOf(children), 'redis', 'url'))).toMatch(/^sentinel:\/\//);
  });

  it('hands both sides of the built-in Redis the same password Secret', () => {
    const check = (input: RelayPoolBuildInput, secret: string) => {
      const children = buildRelayPoolChildren(input);
      const ref = { secretKeyRef: { name: secret, key: 'password' } };
      const relayEnv = at(
        child(children, 'Deployment'),
        'spec',
        'template',
        'spec',
        'containers',
        0,
        'env',
      );
      const redisPod = at(child(children, 'StatefulSet'), 'spec', 'template', 'spec') as {
        volumes: unknown[];
        containers: { args: string[]; env?: unknown }[];
      };
      expect(relayEnv).toContainEqual({ name: 'GROVE_REDIS_PASSWORD', valueFrom: ref });
      // Redis reads its password from the Secret's redis.conf, mounted: never from argv or env.
      expect(redisPod.volumes).toContainEqual({
        name: 'auth',
        secret: {
          secretName: secret,
          items: [{ key: 'redis.conf', path: 'redis.conf' }],
          defaultMode: 0o400,
        },
      });
      expect(redisPod.containers[0]?.args[0]).toBe('/etc/redis-auth/redis.conf');
      expect(JSON.stringify(redisPod.containers[0])).not.toContain('requirepass');
      expect(redisPod.containers[0]?.env).toBeUndefined();
    };
    check(makeInput({}), relayPoolNames('main').redisAuth);
    check(makeInput({}, [acme], { redisPasswordSecret: 'my-redis' }), 'my-redis');
  });

  it('rolls Redis and the relays together when the Redis password changes', () => {
    const podAnnotations = (input: RelayPoolBuildInput, kind: string) =>
      at(child(buildRelayPoolChildren(input), kind), 'spec', 'template', 'metadata', 'annotations');
    const before = makeInput({}, [acme], { redisAuthHash: 'aaaa' });
    const after = makeInput({}, [acme], { redisAuthHash: 'bbbb' });
    for (const kind of ['Deployment', 'StatefulSet']) {
      expect(podAnnotations(before, kind)).toMatchObject({ 'grove.dev/redis-auth-hash': 'aaaa' });
      expect(podAnnotations(after, kind)).toMatchObject({ 'grove.dev/redis-auth-hash': 'bbbb' });
    }
  });

  it('writes a redis.conf line that keeps quotes and backslashes in a password literal', () => {
    expect(redisAuthConf('p"a\\s')).toBe('requirepass "p\\"a\\\\s"\n');
  });

  it('gives relays no password for an external Redis without passwordSecretRef', () => {
    const children = buildRelayPoolChildren(
      makeInput({ redis: { external: { url: 'redis://redis.example.com:6379' } } }),
    );
    const env = at(
      child(children, 'Deployment'),
      'spec',
      'template',
      'spec',
      'containers',
      0,
      'env',
    );
    expect((env as { name: string }[]).map((e) => e.name)).toEqual(['POD_NAME', 'POD_NAMESPACE']);
  });

  it('stores the Redis password base64-encoded under data.password', () => {
    const secret = buildRedisAuthSecret(makePool({}), 'p@ss wörd');
    expect(secret.metadata.name).toBe('main-redis-auth');
    const encoded = at(secret, 'data', 'password');
    expect(Buffer.from(String(encoded), 'base64').toString('utf8')).toBe('p@ss wörd');
    expect(secret).not.toHaveProperty('stringData');
  });

  it('lets a relay finish its drain before it is killed', () => {
    const children = buildRelayPoolChildren(makeInput({ drain: { gracePeriodSeconds: 45 } }));
    expect(
      at(
        child(children, 'Deployment'),
        'spec',
        'template',
        'spec',
        'terminationGracePeriodSeconds',
      ),
    ).toBe(55);
    expect(at(relayJsonOf(children), 'drain', 'gracePeriodSeconds')).toBe(45);
  });

  it('hands relays the connection limits the pool sets, and their defaults for the rest', () => {
    const json = relayJsonOf(
      buildRelayPoolChildren(
        makeInput({ connection: { maxConnections: 2000, headersTimeoutMs: 5000 } }),
      ),
    );
    expect(at(json, 'connection')).toEqual({ maxConnections: 2000, headersTimeoutMs: 5000 });
    const parsed = relayConfigSchema.parse({ ...(json as object), podId: 'relay-0' });
    expect(parsed.connection).toMatchObject({
      maxConnections: 2000,
      headersTimeoutMs: 5000,
      requestTimeoutMs: 30_000,
      idleTimeoutMs: 60_000,
    });
    // A pool that sets none renders the relay.json it did before: its pods do not roll.
    expect(relayJsonOf(buildRelayPoolChildren(makeInput({ connection: {} })))).toEqual(
      relayJsonOf(buildRelayPoolChildren(makeInput({}))),
    );
    expect(at(relayJsonOf(buildRelayPoolChildren(makeInput({}))), 'connection')).toBeUndefined();
  });

  it('refuses a headers timeout longer than the request timeout, defaults included', () => {
    expect(validateRelayPool(makePool({ connection: { headersTimeoutMs: 40_000 } }))).toEqual([
      'spec.connection.headersTimeoutMs: must be <= requestTimeoutMs (30000), or relays would refuse their config',
    ]);
    expect(
      validateRelayPool(
        makePool({ connection: { headersTimeoutMs: 40_000, requestTimeoutMs: 60_000 } }),
      ),
    ).toEqual([]);
  });

  it('writes a valid relay.json for a pool no domain names yet', () => {
    const json = relayJsonOf(buildRelayPoolChildren(makeInput({}, [])));
    expect(at(json, 'domains')).toEqual([]);
    expect(relayConfigSchema.safeParse(json).error?.issues ?? []).toEqual([]);
  });

  it('leaves out a domain that has no public key yet', () => {
    const json = relayJsonOf(buildRelayPoolChildren(makeInput({}, [domain('fresh', []), acme])));
    expect((at(json, 'domains') as { name: string }[]).map((d) => d.name)).toEqual(['acme']);
    expect(relayConfigSchema.safeParse(json).error?.issues ?? []).toEqual([]);
  });
});

describe('relay pool builders › endpoints', () => {
  it('gives clients publicUrls in order when set', () => {
    const pool = makePool({ publicUrls: ['wss://b.example.com', 'wss://a.example.com'] });
    expect(relayPoolEndpoints(pool)).toEqual(['wss://b.example.com', 'wss://a.example.com']);
  });

  it('gives clients the Service address otherwise', () => {
    expect(relayPoolEndpoints(makePool({ service: { port: 8080 } }))).toEqual([
      'ws://main-relay.grove.svc:8080',
    ]);
    expect(relayPoolEndpoints(makePool({ publicUrls: [] }))).toEqual([
      'ws://main-relay.grove.svc:443',
    ]);
  });

  it('gives the load balancer addresses once the cloud made them, in-cluster until then', () => {
    const pool = makePool({ service: { type: 'LoadBalancer' } });
    const pending = relayPoolExposure(pool, { service: { nodePort: 31000 } });
    expect(pending.endpoints).toEqual(['ws://main-relay.grove.svc:443']);
    expect(pending.exposed).toMatchObject({ status: 'False', reason: 'LoadBalancerPending' });
    const ready = relayPoolExposure(pool, {
      service: { loadBalancer: [{ ip: '198.51.100.7' }, { hostname: 'lb.example.net' }] },
    });
    // 443 is not ws's port: it stays in the URL.
    expect(ready.endpoints).toEqual(['ws://198.51.100.7:443', 'ws://lb.example.net:443']);
    expect(ready.exposed).toMatchObject({ status: 'True', reason: 'LoadBalancer' });
    const tls = makePool({ service: { type: 'LoadBalancer' }, tls: { secretName: 's' } });
    expect(relayPoolEndpoints(tls, { service: { loadBalancer: [{ ip: '2001:db8::1' }] } })).toEqual(
      ['wss://[2001:db8::1]'],
    );
  });

  it('gives node addresses with the node port for NodePort, and asks for publicUrls without them', () => {
    const pool = makePool({ service: { type: 'NodePort' } });
    const known = relayPoolExposure(pool, {
      service: { nodePort: 31443 },
      nodeAddresses: ['10.99.0.1'],
    });
    expect(known.endpoints).toEqual(['ws://10.99.0.1:31443']);
    expect(known.exposed).toMatchObject({ status: 'True', reason: 'NodePort' });
    const unknown = relayPoolExposure(pool, { service: { nodePort: 31443 } });
    expect(unknown.endpoints).toEqual(['ws://main-relay.grove.svc:443']);
    expect(unknown.exposed).toMatchObject({ status: 'False', reason: 'NodeAddressesUnknown' });
    expect(unknown.exposed.message).toContain('spec.publicUrls to ws://<node address>:31443');
    expect(relayPoolExposure(pool).exposed.reason).toBe('NodePortPending');
    const many = Array.from({ length: 30 }, (_, i) => `10.0.0.${i}`);
    expect(
      relayPoolEndpoints(pool, { service: { nodePort: 30000 }, nodeAddresses: many }),
    ).toHaveLength(10);
  });

  it('prefers publicUrls over an Ingress, and an Ingress over the Service', () => {
    const ingress = { host: 'relays.example.com', tls: { secretName: 't' } };
    expect(relayPoolEndpoints(makePool({ ingress, service: { type: 'LoadBalancer' } }))).toEqual([
      'wss://relays.example.com',
    ]);
    expect(relayPoolEndpoints(makePool({ ingress: { host: 'r.example.com' } }))).toEqual([
      'ws://r.example.com',
    ]);
    expect(
      relayPoolEndpoints(makePool({ ingress, publicUrls: ['wss://front.example.com'] })),
    ).toEqual(['wss://front.example.com']);
  });

  it('says a ClusterIP pool is reachable only inside the cluster, and how to change that', () => {
    const exposure = relayPoolExposure(makePool({ tls: { secretName: 's' } }));
    expect(exposure.clusterEndpoint).toBe('wss://main-relay.grove.svc:443');
    expect(exposure.exposed).toMatchObject({ status: 'False', reason: 'ClusterInternal' });
    expect(exposure.exposed.message).toContain('spec.service.type');
  });

  it('says the relay pod selector in string form', () => {
    expect(relayPoolSelector(makePool({}))).toBe(
      'app.kubernetes.io/component=relay,app.kubernetes.io/instance=main',
    );
  });
});

describe('relay pool builders › names', () => {
  const longest = 'p'.repeat(MAX_RELAY_POOL_NAME_LENGTH);

  it('fits every name and label of the longest pool name Kubernetes limits', () => {
    const input = { ...makeInput({}), pool: makePool({}, longest) };
    const children = buildRelayPoolChildren(input);
    const names = relayPoolNames(longest);
    for (const service of children.filter((o) => o.kind === 'Service')) {
      expect(service.metadata.name.length).toBeLessThanOrEqual(63);
    }
    // Redis pod hostname, and the controller-revision-hash label "<sts>-<up to 10 chars>".
    expect(`${names.redis}-0`.length).toBeLessThanOrEqual(63);
    expect(`${names.redis}-${'9'.repeat(10)}`.length).toBeLessThanOrEqual(63);
    for (const object of children) {
      for (const value of Object.values(object.metadata.labels ?? {})) {
        expect(value.length).toBeLessThanOrEqual(63);
      }
    }
  });

  it('refuses a longer pool name with a typed error that says why', () => {
    // The schema refuses such names too: this is a pool stored before it did.
    const pool = makePool({});
    pool.metadata.name = `${longest}x`;
    const build = () => buildRelayPoolChildren({ ...makeInput({}), pool });
    expect(build).toThrow(RelayPoolBuildError);
    expect(build).toThrow(/at most 46 fit.*controller-revision-hash/);
    try {
      build();
    } catch (error) {
      expect((error as RelayPoolBuildError).reason).toBe('NameTooLong');
    }
  });

  it('refuses a pool without namespace or uid', () => {
    const noUid = makePool({});
    delete noUid.metadata.uid;
    const noNamespace = makePool({});
    delete noNamespace.metadata.namespace;
    const reason = (pool: RelayPool) => {
      try {
        buildRelayPoolChildren({ ...makeInput({}), pool });
      } catch (error) {
        if (error instanceof RelayPoolBuildError) return error.reason;
        throw error;
      }
      return 'built';
    };
    expect(reason(noUid)).toBe('MissingUid');
    expect(reason(noNamespace)).toBe('MissingNamespace');
    expect(() => relayPoolEndpoints(noNamespace)).toThrow(RelayPoolBuildError);
  });
});

describe('relay pool builders › a pool on another pool’s built-in Redis', () => {
  const ha = { redis: { builtin: { highAvailability: { replicas: 2, replicaAcks: 1 } } } };
  const home = makePool(ha, 'home');
  // null: the named pool was not found.
  const borrowing = (storePool: RelayPool | null = home) =>
    makeInput({ redis: { relayPool: { name: 'home' } } }, [acme], {
      ...(storePool === null ? {} : { storePool }),
      redisPasswordSecret: 'home-redis-auth',
      redisAuthHash: 'hash-of-home',
    });
  const homeInput = (borrowers: string[]) =>
    ({ ...makeInput(ha, [acme], { borrowers }), pool: home }) satisfies RelayPoolBuildInput;
  const relayContainer = (children: KubeObject[]) =>
    at(child(children, 'Deployment'), 'spec', 'template', 'spec', 'containers', 0);

  it('points its relays at the named pool’s Redis exactly as that pool’s own relays', () => {
    const mine = buildRelayPoolChildren(borrowing());
    const theirs = buildRelayPoolChildren(homeInput([]));
    expect(at(relayJsonOf(mine), 'redis')).toEqual(at(relayJsonOf(theirs), 'redis'));
    expect(at(relayJsonOf(mine), 'redis', 'url')).toMatch(/^sentinel:\/\/home-redis-0\.home-redis/);
    expect(at(relayContainer(mine), 'env')).toEqual(at(relayContainer(theirs), 'env'));
    // It rolls with the named pool's password.
    expect(
      at(child(mine, 'Deployment'), 'spec', 'template', 'metadata', 'annotations'),
    ).toMatchObject({ 'grove.dev/redis-auth-hash': 'hash-of-home' });
  });

  it('runs no Redis of its own, and its relays may reach only the named pool’s Redis pods', () => {
    const children = buildRelayPoolChildren(borrowing());
    expect(children.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      'NetworkPolicy/main-relay',
      'ConfigMap/main-relay-config',
      'Deployment/main-relay',
      'Service/main-relay',
      'Service/main-metrics',
      'PodDisruptionBudget/main-relay',
    ]);
    expect(at(child(children, 'NetworkPolicy'), 'spec', 'egress', 0)).toEqual({
      to: [
        {
          podSelector: {
            matchLabels: {
              'app.kubernetes.io/instance': 'home',
              'app.kubernetes.io/component': 'redis',
            },
          },
        },
      ],
      ports: [
        { protocol: 'TCP', port: 6379 },
        { protocol: 'TCP', port: 26379 },
      ],
    });
  });

  it('admits the relays of the pools that borrow it to the named pool’s Redis, and no one else', () => {
    const from = (borrowers: string[]) =>
      at(
        child(buildRelayPoolChildren(homeInput(borrowers)), 'NetworkPolicy', 'home-redis'),
        'spec',
        'ingress',
        0,
        'from',
      ) as unknown[];
    const relaysOf = (pool: string) => ({
      podSelector: {
        matchLabels: { 'app.kubernetes.io/instance': pool, 'app.kubernetes.io/component': 'relay' },
      },
    });
    const alone = from([]);
    // Sorted and de-duplicated, after the pool's own relays.
    expect(from(['zone-b', 'zone-a', 'zone-b'])).toEqual([
      alone[0],
      relaysOf('zone-a'),
      relaysOf('zone-b'),
      ...alone.slice(1),
    ]);
    expect(alone[0]).toEqual(relaysOf('home'));
  });

  it('refuses with a typed error to build relays without the named pool, or with too many borrowers', () => {
    const reason = (build: () => unknown) => {
      try {
        build();
      } catch (error) {
        if (error instanceof RelayPoolBuildError) return error.reason;
        throw error;
      }
      return 'built';
    };
    expect(reason(() => buildRelayPoolChildren(borrowing(null)))).toBe('StorePoolUnresolved');
    expect(
      reason(() =>
        buildRelayPoolChildren(
          borrowing(makePool({ redis: { external: { url: 'redis://r' } } }, 'home')),
        ),
      ),
    ).toBe('StorePoolUnresolved');
    expect(reason(() => buildRelayPoolChildren(borrowing(makePool(ha, 'other'))))).toBe(
      'StorePoolUnresolved',
    );
    const many = Array.from({ length: MAX_STORE_BORROWERS + 1 }, (_, i) => `pool-${i}`);
    expect(reason(() => buildRelayPoolChildren(homeInput(many)))).toBe('TooManyBorrowers');
    expect(reason(() => buildRelayPoolChildren(homeInput(many.slice(1))))).toBe('built');
  });
});
