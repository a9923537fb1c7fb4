// The Helm chart charts/grove rendered by the real Helm (3.22, scripts/k8s-binaries.sh), without
// a cluster: the values schema rejects what zod rejects, `helm lint --strict` passes, and the
// templates render what the operator and Manager expect, with roles granting exactly what
// kube/resource-types.ts needs. chart-install.int.test.ts checks the same chart
// against a real kube-apiserver.

import { describe, expect, it } from '@jest/globals';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { groveResourceSchema, validateGroveResource } from '../crds/index.js';
import {
  container,
  env,
  expectedOperatorGrants,
  find,
  grants,
  helm,
  helmHomeDir,
  image,
  managerGrants,
  managerRedisAuthGrants,
  releaseNamespace,
  set,
  template,
  useHelmHome,
  watchedNamespace,
  type Deployment,
  type Json,
  type RoleBinding,
  type Service,
} from './chart-test-support.js';
import { parseManagerArgs } from '../manager/main.js';
import { buildRelayMetricsService } from '../operator/builders/relaypool/index.js';
import { makePool } from '../operator/builders/relaypool/fixtures.js';
import { chartDir } from './generate-chart.js';
import { valuesSchema } from './values-schema.js';

useHelmHome();

/** The Manager's metrics port and limits as the chart passes them with default values. */
const DEFAULT_MANAGER_ARGS = [
  '--metrics-port',
  '9090',
  '--headers-timeout',
  '10',
  '--request-timeout',
  '30',
  '--idle-timeout',
  '60',
  '--max-connections',
  '10000',
  '--rate-limit-login-failures',
  '30',
  '--rate-limit-enroll',
  '20',
  '--rate-limit-token',
  '300',
  '--audit-max-failures',
  '100000',
];

describe('values', () => {
  // Each case: Helm's flags, the path Helm's JSON Schema error names, and zod's values.
  const invalid: { name: string; flags: string[]; helmError: string; values: Json }[] = [
    {
      name: 'operator.replicas: "two"',
      flags: ['--set-string', 'operator.replicas=two'],
      helmError: "at '/operator/replicas': got string, want integer",
      values: { operator: { replicas: 'two' } },
    },
    {
      name: 'a misspelt key (operator.replica)',
      flags: set('operator.replica=3'),
      helmError: "at '/operator': additional properties 'replica' not allowed",
      values: { operator: { replica: 3 } },
    },
    {
      name: 'image.pullPolicy: Sometimes',
      flags: set('image.pullPolicy=Sometimes'),
      helmError: "at '/image/pullPolicy'",
      values: { image: { pullPolicy: 'Sometimes' } },
    },
    {
      name: 'manager.service.port: 70000',
      flags: set('manager.service.port=70000'),
      helmError: "at '/manager/service/port'",
      values: { manager: { service: { port: 70000 } } },
    },
    {
      name: 'operator.watchNamespace: Not_A_Namespace',
      flags: set('operator.watchNamespace=Not_A_Namespace'),
      helmError: "at '/operator/watchNamespace'",
      values: { operator: { watchNamespace: 'Not_A_Namespace' } },
    },
    {
      name: 'metrics.serviceMonitor.interval: soon',
      flags: set('metrics.serviceMonitor.interval=soon'),
      helmError: "at '/metrics/serviceMonitor/interval'",
      values: { metrics: { serviceMonitor: { interval: 'soon' } } },
    },
    {
      name: 'resources with a bad quantity',
      flags: set('operator.resources.limits.memory=lots'),
      helmError: "at '/operator/resources/limits/memory'",
      values: { operator: { resources: { limits: { memory: 'lots' } } } },
    },
  ];

  it.each(invalid)('Helm and zod both reject $name', async ({ flags, helmError, values }) => {
    const run = await helm(['template', 'grove', chartDir, ...flags]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain("values don't meet the specifications of the schema");
    expect(run.stderr).toContain(helmError);
    expect(valuesSchema.safeParse(values).success).toBe(false);
  });

  it('accepts the values zod accepts, unknown fields of the security contexts included', async () => {
    const values = {
      image: { repository: 'registry.example.com/grove', tag: '1.2.3', pullPolicy: 'Always' },
      imagePullSecrets: [{ name: 'regcred' }],
      operator: {
        replicas: 3,
        watchNamespace: 'apps',
        logLevel: 'debug',
        resources: { requests: { cpu: 1, memory: '1Gi' } },
        tolerations: [
          { key: 'dedicated', operator: 'Equal', value: 'grove', effect: 'NoSchedule' },
        ],
        affinity: { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [] } },
      },
      manager: { service: { type: 'LoadBalancer', port: 8443 } },
      podSecurityContext: { supplementalGroups: [1234] },
      securityContext: { privileged: false },
      global: { anything: true },
    };
    expect(valuesSchema.safeParse(values).error).toBeUndefined();
    const file = join(helmHomeDir(), 'values.json');
    await writeFile(file, JSON.stringify(values));
    const manifests = await template(['--values', file]);
    const operator = container(find(manifests, 'Deployment', 'grove-operator'));
    expect(operator.image).toBe('registry.example.com/grove:1.2.3');
    expect(operator.imagePullPolicy).toBe('Always');
  });

  it('refuses several operators without leader election, in the template and in zod', async () => {
    const run = await helm([
      'template',
      'grove',
      chartDir,
      '--set',
      'operator.leaderElection=false',
    ]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain(
      'operator.replicas must be 0 or 1 when operator.leaderElection is false',
    );
    const parsed = valuesSchema.safeParse({ operator: { leaderElection: false } });
    expect(parsed.error?.issues.map((issue) => issue.path.join('.'))).toEqual([
      'operator.replicas',
    ]);
  });
});

describe('helm lint', () => {
  it.each([
    ['default values', []],
    [
      'samples, ServiceMonitor and watchNamespace',
      set(
        'samples.enabled=true',
        'metrics.serviceMonitor.enabled=true',
        `operator.watchNamespace=${watchedNamespace}`,
      ),
    ],
  ])('passes with --strict: %s', async (_name, flags) => {
    const run = await helm(['lint', '--strict', chartDir, ...flags]);
    expect(`${run.stdout}${run.stderr}`).toContain('0 chart(s) failed');
    expect(run.code).toBe(0);
  });
});

describe('helm template', () => {
  it('renders the operator as the operator runs: args, env, ports, probes, security', async () => {
    const manifests = await template();
    const deployment = find(manifests, 'Deployment', 'grove-operator');
    expect(deployment.spec.replicas).toBe(2);
    expect(deployment.spec.template.spec.serviceAccountName).toBe('grove-operator');
    const c = container(deployment);
    expect(c.image).toBe(image);
    expect(c.imagePullPolicy).toBe('IfNotPresent');
    expect(c.args).toEqual([
      'operator',
      '--metrics-port',
      '8080',
      '--health-port',
      '8081',
      '--leader-elect',
      '--lease-namespace',
      '$(POD_NAMESPACE)',
      '--lease-name',
      'grove-operator',
      // One namespace by default: the release's.
      '--namespace',
      releaseNamespace,
      '--manager-service-account',
      `${releaseNamespace}/grove-manager`,
      '--manager-url',
      `http://grove-manager.${releaseNamespace}.svc:80`,
      '--bridge-service-account',
      `${releaseNamespace}/grove-bridge`,
    ]);
    expect(env(c, 'POD_NAME')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');
    expect(env(c, 'POD_NAMESPACE')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.namespace');
    expect(env(c, 'GROVE_IMAGE')?.value).toBe(image);
    expect(c.ports).toEqual([
      { name: 'metrics', containerPort: 8080, protocol: 'TCP' },
      { name: 'health', containerPort: 8081, protocol: 'TCP' },
    ]);
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'health' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'health' });
    expect(deployment.spec.template.spec.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 10001,
      runAsGroup: 10001,
      fsGroup: 10001,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(c.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    const metrics = find(manifests, 'Service', 'grove-operator-metrics');
    expect(metrics.spec.ports).toEqual([
      { name: 'metrics', port: 8080, targetPort: 'metrics', protocol: 'TCP' },
    ]);
  });

  it('renders the Manager with its Service, and a bootstrap token Secret it reads', async () => {
    const manifests = await template();
    const deployment = find(manifests, 'Deployment', 'grove-manager');
    expect(deployment.spec.template.spec.serviceAccountName).toBe('grove-manager');
    const c = container(deployment);
    // Its Redis: the built-in Redis of RelayPool "main" by default. The password comes from that
    // pool's Secret through the API, never from the pod's environment: a secretKeyRef to a Secret
    // that exists only once the pool does would keep the pod from starting (and `helm install
    // --wait` from ever finishing with the default values).
    expect(c.args).toEqual([
      'manager',
      '--port',
      '8080',
      ...DEFAULT_MANAGER_ARGS,
      '--namespace',
      releaseNamespace,
      '--redis',
      'redis://main-redis-svc.grove-system.svc:6379',
      '--redis-relay-pool',
      'grove-system/main',
    ]);
    expect(env(c, 'GROVE_REDIS_PASSWORD')).toBeUndefined();
    const secretRefs = JSON.stringify(deployment.spec.template.spec).match(/"name":"[^"]*"/g);
    expect(secretRefs).not.toContain('"name":"main-redis-auth"');
    expect(c.ports).toEqual([
      { name: 'http', containerPort: 8080, protocol: 'TCP' },
      { name: 'metrics', containerPort: 9090, protocol: 'TCP' },
    ]);
    // The metrics port has a Service of its own: the Manager Service may face the internet.
    expect(find(manifests, 'Service', 'grove-manager').spec.ports).toEqual([
      { name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' },
    ]);
    expect(find(manifests, 'Service', 'grove-manager-metrics').spec.ports).toEqual([
      { name: 'metrics', port: 9090, targetPort: 'metrics', protocol: 'TCP' },
    ]);
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    // Ready while it serves, even before its Redis exists (it says why in every answer).
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz?degraded=ok', port: 'http' });
    expect(env(c, 'GROVE_BOOTSTRAP_TOKEN')?.valueFrom?.secretKeyRef).toEqual({
      name: 'grove-manager-bootstrap',
      key: 'token',
    });
    const secret = find(manifests, 'Secret', 'grove-manager-bootstrap');
    expect(Buffer.from(secret.data.token ?? '', 'base64').toString()).toMatch(/^[A-Za-z0-9]{32}$/);
    const service = find(manifests, 'Service', 'grove-manager');
    expect(service.spec.type).toBe('ClusterIP');
    expect(service.spec.ports).toEqual([
      { name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' },
    ]);
  });

  it('labels everything, names every namespace, and selects only its own pods', async () => {
    const manifests = await template(set('samples.enabled=true'));
    const clusterScoped = new Set(['ClusterRole', 'ClusterRoleBinding']);
    // One namespace by default: the node reader is the only cluster-wide grant.
    expect(manifests.filter((m) => clusterScoped.has(m.kind)).map((m) => m.metadata.name)).toEqual([
      'grove-operator-nodes',
      'grove-operator-nodes',
    ]);
    for (const m of manifests) {
      expect(m.metadata.labels).toMatchObject({
        'helm.sh/chart': 'grove-0.1.0',
        'app.kubernetes.io/name': 'grove',
        'app.kubernetes.io/instance': 'grove',
        'app.kubernetes.io/version': '0.1.0',
        'app.kubernetes.io/managed-by': 'Helm',
        'app.kubernetes.io/part-of': 'grove',
      });
      expect(m.metadata.namespace).toBe(clusterScoped.has(m.kind) ? undefined : releaseNamespace);
    }
    const deployments = manifests.filter((m): m is Deployment => m.kind === 'Deployment');
    const services = manifests.filter((m): m is Service => m.kind === 'Service');
    for (const deployment of deployments) {
      expect(deployment.spec.template.metadata.labels).toMatchObject(
        deployment.spec.selector.matchLabels,
      );
    }
    // Each Service selects the pods of exactly one Deployment (component is in every selector).
    for (const service of services) {
      const selected = deployments.filter((d) =>
        Object.entries(service.spec.selector).every(
          ([key, value]) => d.spec.template.metadata.labels[key] === value,
        ),
      );
      expect(selected.map((d) => d.metadata.name)).toHaveLength(1);
    }
  });

  it('renders samples that zod accepts as a RelayPool and a Domain it serves', async () => {
    const manifests = await template(set('samples.enabled=true'));
    const samples = manifests.filter((m) => m.apiVersion === 'grove.dev/v1alpha1');
    expect(samples.map((m) => m.kind).sort()).toEqual(['Domain', 'RelayPool']);
    for (const sample of samples) {
      const resource = groveResourceSchema.parse(sample);
      expect(validateGroveResource(resource)).toEqual([]);
    }
    const domain = find(manifests, 'Domain', 'grove-sample');
    expect(domain.spec.relayPools).toEqual(['grove-sample']);
  });

  it('with watchNamespace: Roles in that namespace instead of ClusterRoles, and --namespace', async () => {
    const manifests = await template(
      set(`operator.watchNamespace=${watchedNamespace}`, 'samples.enabled=true'),
    );
    // Only the node reader is cluster-wide (nodes have no namespace): list, nothing more.
    expect(
      manifests
        .filter((m) => m.kind.startsWith('Cluster'))
        .map((m) => `${m.kind}/${m.metadata.name}`),
    ).toEqual(['ClusterRole/grove-operator-nodes', 'ClusterRoleBinding/grove-operator-nodes']);
    expect(grants(find(manifests, 'ClusterRole', 'grove-operator-nodes').rules)).toEqual(
      expectedOperatorGrants().nodes,
    );
    const operatorRole = find(manifests, 'Role', 'grove-operator');
    expect(operatorRole.metadata.namespace).toBe(watchedNamespace);
    expect(grants(operatorRole.rules)).toEqual(expectedOperatorGrants().main);
    const binding = find(manifests, 'RoleBinding', 'grove-operator');
    expect(binding.metadata.namespace).toBe(watchedNamespace);
    expect(binding.subjects).toEqual([
      { kind: 'ServiceAccount', name: 'grove-operator', namespace: releaseNamespace },
    ]);
    // The Lease stays in the release namespace.
    expect(find(manifests, 'Role', 'grove-operator-leader-election').metadata.namespace).toBe(
      releaseNamespace,
    );
    expect(find(manifests, 'Role', 'grove-manager').metadata.namespace).toBe(watchedNamespace);
    const operatorArgs = container(find(manifests, 'Deployment', 'grove-operator')).args;
    expect(operatorArgs.slice(-8, -4)).toEqual([
      '--namespace',
      watchedNamespace,
      '--manager-service-account',
      `${releaseNamespace}/grove-manager`,
    ]);
    // The Manager reads its pool's Redis password, in the pool's namespace, by name.
    const redisAuth = find(manifests, 'Role', 'grove-manager-redis-auth');
    expect(redisAuth.metadata.namespace).toBe(watchedNamespace);
    expect(grants(redisAuth.rules)).toEqual(managerRedisAuthGrants('grove-sample'));
    const managerArgs = container(find(manifests, 'Deployment', 'grove-manager')).args;
    expect(managerArgs).toEqual([
      'manager',
      '--port',
      '8080',
      ...DEFAULT_MANAGER_ARGS,
      '--namespace',
      watchedNamespace,
      '--redis',
      // Samples are on here: the Manager uses the sample RelayPool's Redis.
      `redis://grove-sample-redis-svc.${watchedNamespace}.svc:6379`,
      '--redis-relay-pool',
      `${watchedNamespace}/grove-sample`,
    ]);
    for (const sample of manifests.filter((m) => m.apiVersion === 'grove.dev/v1alpha1')) {
      expect(sample.metadata.namespace).toBe(watchedNamespace);
    }
  });

  it('without operator.nodeAddresses: no node reader, and the operator is told so', async () => {
    const manifests = await template(set('operator.nodeAddresses=false'));
    expect(manifests.filter((m) => m.metadata.name.endsWith('-nodes'))).toEqual([]);
    const c = container(find(manifests, 'Deployment', 'grove-operator'));
    expect(c.args).toContain('--no-node-addresses');
  });

  it('renders the sample RelayPool reachable from outside as the values say, and zod accepts it', async () => {
    const cases: { flags: string[]; spec: Json }[] = [
      {
        flags: set('samples.service.type=NodePort', 'samples.service.nodePort=30443'),
        spec: { service: { type: 'NodePort', port: 443, nodePort: 30443 } },
      },
      {
        flags: [
          ...set('samples.service.type=LoadBalancer', 'samples.tlsSecretName=relay-tls'),
          '--set-string',
          'samples.service.annotations.service\\.beta\\.kubernetes\\.io/aws-load-balancer-type=nlb',
        ],
        spec: {
          service: {
            type: 'LoadBalancer',
            port: 443,
            annotations: { 'service.beta.kubernetes.io/aws-load-balancer-type': 'nlb' },
          },
          tls: { secretName: 'relay-tls' },
        },
      },
      {
        flags: set(
          'samples.ingress.host=relays.example.com',
          'samples.ingress.className=nginx',
          'samples.ingress.tlsSecretName=relays-tls',
        ),
        spec: {
          ingress: {
            host: 'relays.example.com',
            className: 'nginx',
            tls: { secretName: 'relays-tls' },
          },
        },
      },
      {
        flags: set('samples.publicUrls[0]=wss://relays.example.com'),
        spec: { publicUrls: ['wss://relays.example.com'] },
      },
    ];
    for (const { flags, spec } of cases) {
      const manifests = await template([...set('samples.enabled=true'), ...flags]);
      const pool = manifests.find((m) => m.kind === 'RelayPool');
      expect(pool?.spec).toMatchObject(spec);
      const parsed = groveResourceSchema.parse(pool);
      expect(validateGroveResource(parsed)).toEqual([]);
    }
  });

  it('without leader election: one operator, no --leader-elect, no Lease role', async () => {
    const manifests = await template(set('operator.leaderElection=false', 'operator.replicas=1'));
    const c = container(find(manifests, 'Deployment', 'grove-operator'));
    expect(c.args).toEqual([
      'operator',
      '--metrics-port',
      '8080',
      '--health-port',
      '8081',
      '--namespace',
      releaseNamespace,
      '--manager-service-account',
      `${releaseNamespace}/grove-manager`,
      '--manager-url',
      `http://grove-manager.${releaseNamespace}.svc:80`,
      '--bridge-service-account',
      `${releaseNamespace}/grove-bridge`,
    ]);
    expect(manifests.filter((m) => m.metadata.name.endsWith('leader-election'))).toEqual([]);
  });

  it('reads the bootstrap token from the Secret named in values, and creates none', async () => {
    const manifests = await template(
      set(
        'manager.bootstrapTokenSecret.name=admin-token',
        'manager.bootstrapTokenSecret.key=value',
      ),
    );
    expect(manifests.filter((m) => m.kind === 'Secret')).toEqual([]);
    const c = container(find(manifests, 'Deployment', 'grove-manager'));
    expect(env(c, 'GROVE_BOOTSTRAP_TOKEN')?.valueFrom?.secretKeyRef).toEqual({
      name: 'admin-token',
      key: 'value',
    });
  });

  it('leaves the Manager out when disabled, and pins the image by digest when given', async () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const manifests = await template(set('manager.enabled=false', `image.digest=${digest}`));
    expect(
      manifests.filter((m) => m.metadata.labels?.['app.kubernetes.io/component'] === 'manager'),
    ).toEqual([]);
    const c = container(find(manifests, 'Deployment', 'grove-operator'));
    // Nobody to grant signing keys to.
    expect(c.args).not.toContain('--manager-service-account');
    expect(c.image).toBe(`grove@${digest}`);
    expect(env(c, 'GROVE_IMAGE')?.value).toBe(`grove@${digest}`);
  });

  it('renders ServiceMonitors for the operator, Manager and relay metrics Services only when enabled', async () => {
    expect((await template()).filter((m) => m.kind === 'ServiceMonitor')).toEqual([]);
    const manifests = await template(
      set(
        'metrics.serviceMonitor.enabled=true',
        'metrics.serviceMonitor.labels.release=prometheus',
      ),
    );
    const selectedBy = (name: string) => {
      const monitor = find(manifests, 'ServiceMonitor', name);
      expect(monitor.metadata.labels?.release).toBe('prometheus');
      expect(monitor.spec.endpoints).toEqual([
        { port: 'metrics', path: '/metrics', interval: '30s' },
      ]);
      return manifests
        .filter((m): m is Service => m.kind === 'Service')
        .filter((s) =>
          Object.entries(monitor.spec.selector.matchLabels).every(
            ([key, value]) => s.metadata.labels?.[key] === value,
          ),
        )
        .filter((s) => s.spec.ports.some((port) => port.name === 'metrics'))
        .map((s) => s.metadata.name);
    };
    expect(selectedBy('grove-operator')).toEqual(['grove-operator-metrics']);
    expect(selectedBy('grove-manager')).toEqual(['grove-manager-metrics']);
    // The relays' metrics Services are the operator's, one per RelayPool: the labels it gives them.
    const relays = find(manifests, 'ServiceMonitor', 'grove-relays');
    const relayService = buildRelayMetricsService(makePool({}));
    expect(
      Object.entries(relays.spec.selector.matchLabels).every(
        ([key, value]) => relayService.metadata.labels?.[key] === value,
      ),
    ).toBe(true);
    expect(relays.spec.namespaceSelector).toEqual({ matchNames: [releaseNamespace] });
  });

  it('passes the Manager limits from values, and refuses a head timeout longer than the request', async () => {
    const manifests = await template([
      ...set(
        'manager.limits.maxConnections=500',
        'manager.limits.rateLimits.enrollPerMinute=7',
        'manager.limits.trustProxy=10.0.0.0/8',
        'manager.limits.auditMaxFailures=10000000',
      ),
      '--set-json',
      'manager.limits.headersTimeoutSeconds=2.5',
    ]);
    const args = container(find(manifests, 'Deployment', 'grove-manager')).args;
    const flag = (name: string) => args[args.indexOf(name) + 1];
    expect(flag('--headers-timeout')).toBe('2.5');
    expect(flag('--max-connections')).toBe('500');
    expect(flag('--rate-limit-enroll')).toBe('7');
    expect(flag('--trust-proxy')).toBe('10.0.0.0/8');
    expect(flag('--audit-max-failures')).toBe('10000000');
    // What the chart passes, the Manager accepts, limit for limit.
    const limits = parseManagerArgs(args.slice(1), { KUBERNETES_SERVICE_HOST: '10.0.0.1' }).limits;
    expect(limits?.connection).toMatchObject({ headersTimeoutMs: 2500, maxConnections: 500 });
    expect(limits?.trustProxy).toEqual(['10.0.0.0/8']);
    await expect(
      template(['--set-json', 'manager.limits.headersTimeoutSeconds=40']),
    ).rejects.toThrow(/headersTimeoutSeconds must not be longer than requestTimeoutSeconds/);
  });

  it('grants the operator exactly what resource-types.ts needs, and the Manager read access', async () => {
    const manifests = await template();
    const expected = expectedOperatorGrants();
    const operatorRole = find(manifests, 'Role', 'grove-operator');
    expect(operatorRole.metadata.namespace).toBe(releaseNamespace);
    expect(grants(operatorRole.rules)).toEqual(expected.main);
    expect(grants(find(manifests, 'Role', 'grove-operator-leader-election').rules)).toEqual(
      expected.leaderElection,
    );
    expect(grants(find(manifests, 'ClusterRole', 'grove-operator-nodes').rules)).toEqual(
      expected.nodes,
    );
    expect(grants(find(manifests, 'Role', 'grove-manager').rules)).toEqual(managerGrants);
    expect(grants(find(manifests, 'Role', 'grove-manager-redis-auth').rules)).toEqual(
      managerRedisAuthGrants(),
    );
    const bindings = manifests.filter((m): m is RoleBinding => m.kind.endsWith('Binding'));
    expect(
      bindings
        .map(
          (b) =>
            `${b.kind}/${b.metadata.name} -> ${b.roleRef.kind}/${b.roleRef.name} for ${b.subjects.map((s) => s.name).join()}`,
        )
        .sort(),
    ).toEqual([
      'ClusterRoleBinding/grove-operator-nodes -> ClusterRole/grove-operator-nodes for grove-operator',
      'RoleBinding/grove-manager -> Role/grove-manager for grove-manager',
      'RoleBinding/grove-manager-redis-auth -> Role/grove-manager-redis-auth for grove-manager',
      'RoleBinding/grove-operator -> Role/grove-operator for grove-operator',
      'RoleBinding/grove-operator-leader-election -> Role/grove-operator-leader-election for grove-operator',
    ]);
  });

  it('with operator.clusterWide: ClusterRoles, no --namespace; never together with watchNamespace', async () => {
    const manifests = await template(set('operator.clusterWide=true'));
    const expected = expectedOperatorGrants();
    expect(grants(find(manifests, 'ClusterRole', 'grove-operator').rules)).toEqual(expected.main);
    expect(grants(find(manifests, 'ClusterRole', 'grove-manager').rules)).toEqual(managerGrants);
    // Still the one Secret by name, in the pool's namespace.
    expect(grants(find(manifests, 'Role', 'grove-manager-redis-auth').rules)).toEqual(
      managerRedisAuthGrants(),
    );
    expect(container(find(manifests, 'Deployment', 'grove-operator')).args).not.toContain(
      '--namespace',
    );
    expect(container(find(manifests, 'Deployment', 'grove-manager')).args).not.toContain(
      '--namespace',
    );
    const run = await helm([
      'template',
      'grove',
      chartDir,
      ...set('operator.clusterWide=true', 'operator.watchNamespace=apps'),
    ]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('operator.watchNamespace must be empty with operator.clusterWide');
    const parsed = valuesSchema.safeParse({
      operator: { clusterWide: true, watchNamespace: 'apps' },
    });
    expect(parsed.error?.issues.map((issue) => issue.path.join('.'))).toEqual([
      'operator.watchNamespace',
    ]);
  });

  it('with an external Redis, no Secret grant for the Manager at all', async () => {
    const manifests = await template(set('manager.redis.url=redis://redis.example:6379'));
    const managerSecretGrants = manifests
      .filter((m) => m.kind === 'Role' || m.kind === 'ClusterRole')
      .filter((m) => m.metadata.labels?.['app.kubernetes.io/component'] === 'manager')
      .flatMap((m) => grants((m as unknown as { rules: Parameters<typeof grants>[0] }).rules))
      .filter((grant) => grant.startsWith('|secrets|'));
    expect(managerSecretGrants).toEqual([]);
  });
});
