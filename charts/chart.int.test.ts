// The Helm chart charts/grove, with the real Helm (3.22, scripts/k8s-binaries.sh) and a real
// kube-apiserver: the values schema rejects what zod rejects, the templates render what the
// operator and Manager expect, every rendered manifest passes a server-side dry run (restricted
// Pod Security Standard included), the roles grant exactly what operator/kube/resource-types.ts
// needs (checked by the API server's own authorizer), and install, upgrade and uninstall work.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request, type RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { GROVE_KINDS, groveResourceSchema, validateGroveResource } from '../crds/index.js';
import { resourceTypes } from '../operator/kube/resource-types.js';
import { KubeApiServer, requireKubeBinaries } from '../test/support/kube-apiserver.js';
import { waitFor } from '../test/support/ports.js';
import { chartCrdFile, chartDir } from './generate-chart.js';
import { valuesSchema } from './values-schema.js';

type Json = Record<string, unknown>;

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    fieldRef?: { fieldPath: string };
    secretKeyRef?: { name: string; key: string };
  };
}

interface Container {
  name: string;
  image: string;
  imagePullPolicy: string;
  args: string[];
  env: EnvVar[];
  ports: { name: string; containerPort: number }[];
  livenessProbe: { httpGet: { path: string; port: string } };
  readinessProbe: { httpGet: { path: string; port: string } };
  securityContext: Json;
}

interface Deployment extends Manifest {
  spec: {
    replicas: number;
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string> };
      spec: {
        serviceAccountName: string;
        securityContext: Json;
        containers: Container[];
        nodeSelector?: Record<string, string>;
      };
    };
  };
}

interface Service extends Manifest {
  spec: {
    type: string;
    selector: Record<string, string>;
    ports: { name: string; port: number; targetPort: string }[];
  };
}

interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

interface Role extends Manifest {
  rules: PolicyRule[];
}

interface RoleBinding extends Manifest {
  roleRef: { kind: string; name: string };
  subjects: { kind: string; name: string; namespace: string }[];
}

const releaseNamespace = 'grove-system';
const watchedNamespace = 'grove-apps';
const image = 'grove:0.1.0';

const helmBin = requireKubeBinaries(['helm']).helm;
let helmHome = '';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs helm with its config, cache and data in a temp dir (never the user's). */
function helm(args: readonly string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      helmBin,
      args,
      {
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          HOME: helmHome,
          HELM_CONFIG_HOME: join(helmHome, 'config'),
          HELM_CACHE_HOME: join(helmHome, 'cache'),
          HELM_DATA_HOME: join(helmHome, 'data'),
          // No cluster unless a test passes --kubeconfig.
          KUBECONFIG: join(helmHome, 'no-kubeconfig'),
        },
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** `--set` flags, one per "key=value". */
function set(...pairs: string[]): string[] {
  return pairs.flatMap((pair) => ['--set', pair]);
}

function mustSucceed(run: Run, what: string): void {
  if (run.code !== 0) throw new Error(`${what} exited with ${run.code}:\n${run.stderr}`);
}

function isManifest(value: unknown): value is Manifest {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Json).kind === 'string' &&
    typeof (value as Json).apiVersion === 'string'
  );
}

function manifestsOf(yamlText: string): Manifest[] {
  return parseAllDocuments(yamlText)
    .map((doc) => doc.toJS() as unknown)
    .filter(isManifest);
}

/** `helm template` with these flags; throws with Helm's message when it fails. */
async function template(flags: readonly string[] = [], release = 'grove'): Promise<Manifest[]> {
  const run = await helm([
    'template',
    release,
    chartDir,
    '--namespace',
    releaseNamespace,
    ...flags,
  ]);
  if (run.code !== 0) throw new Error(`helm template ${flags.join(' ')} failed:\n${run.stderr}`);
  return manifestsOf(run.stdout);
}

interface Secret extends Manifest {
  data: Record<string, string>;
}

interface Domain extends Manifest {
  spec: { relayPools: string[] };
}

interface ServiceMonitor extends Manifest {
  spec: {
    selector: { matchLabels: Record<string, string> };
    endpoints: { port: string; path: string; interval: string }[];
  };
}

/** The shapes the tests read, by kind. */
interface Kinds {
  Deployment: Deployment;
  Service: Service;
  Secret: Secret;
  Role: Role;
  ClusterRole: Role;
  RoleBinding: RoleBinding;
  ClusterRoleBinding: RoleBinding;
  Domain: Domain;
  ServiceMonitor: ServiceMonitor;
}

function find<K extends keyof Kinds>(
  manifests: readonly Manifest[],
  kind: K,
  name: string,
): Kinds[K] {
  const found = manifests.find((m) => m.kind === kind && m.metadata.name === name);
  if (found === undefined) {
    const present = manifests.map((m) => `${m.kind}/${m.metadata.name}`).join(', ');
    throw new Error(`no ${kind}/${name} among ${present}`);
  }
  return found as Kinds[K];
}

function container(deployment: Deployment): Container {
  const [first] = deployment.spec.template.spec.containers;
  if (first === undefined) throw new Error(`${deployment.metadata.name} has no container`);
  return first;
}

function env(c: Container, name: string): EnvVar | undefined {
  return c.env.find((e) => e.name === name);
}

/** "group|resource|verb" for every permission a set of rules grants. */
function grants(rules: readonly PolicyRule[]): string[] {
  return rules
    .flatMap((rule) =>
      rule.apiGroups.flatMap((group) =>
        rule.resources.flatMap((resource) =>
          rule.verbs.map((verb) => `${group}|${resource}|${verb}`),
        ),
      ),
    )
    .sort();
}

type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';

const groveVerbs: Verb[] = ['get', 'list', 'watch', 'update', 'patch'];
const ownedVerbs: Verb[] = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'];

/**
 * What the operator may do with each kind it talks to. A Record over resource-types.ts: a new
 * kind there fails the typecheck here until its grant is decided (and the chart updated).
 */
const operatorVerbs: Record<keyof typeof resourceTypes, Verb[]> = {
  relayPools: groveVerbs,
  domains: groveVerbs,
  policies: groveVerbs,
  backupSchedules: groveVerbs,
  configMaps: ownedVerbs,
  secrets: ownedVerbs,
  services: ownedVerbs,
  deployments: ownedVerbs,
  statefulSets: ownedVerbs,
  podDisruptionBudgets: ownedVerbs,
  horizontalPodAutoscalers: ownedVerbs,
  // get: after a 409 on create, the event recorder reads the event to count the repeat.
  events: ['get', 'create', 'patch'],
  // Nothing: the operator never reads namespaces (only tests create them).
  namespaces: [],
  // Leader election, in its own Role in the release namespace.
  leases: ['get', 'create', 'update'],
};

/** Expected "group|resource|verb" grants of the operator's main role and its leader-election Role. */
function expectedOperatorGrants(): { main: string[]; leaderElection: string[] } {
  const main: string[] = [];
  const leaderElection: string[] = [];
  for (const [key, verbs] of Object.entries(operatorVerbs) as [
    keyof typeof resourceTypes,
    Verb[],
  ][]) {
    const type = resourceTypes[key];
    const into = key === 'leases' ? leaderElection : main;
    for (const verb of verbs) into.push(`${type.group}|${type.plural}|${verb}`);
    if (type.group === 'grove.dev') {
      for (const verb of ['get', 'update', 'patch']) {
        main.push(`${type.group}|${type.plural}/status|${verb}`);
      }
      main.push(`${type.group}|${type.plural}/finalizers|update`);
    }
  }
  return { main: main.sort(), leaderElection: leaderElection.sort() };
}

const managerGrants = [
  'grove.dev|domains|get',
  'grove.dev|domains|list',
  'grove.dev|domains|watch',
  'grove.dev|policies|get',
  'grove.dev|policies|list',
  'grove.dev|policies|watch',
  'grove.dev|relaypools|get',
  'grove.dev|relaypools|list',
  'grove.dev|relaypools|watch',
  '|secrets|get',
].sort();

beforeAll(async () => {
  helmHome = await mkdtemp(join(tmpdir(), 'grove-helm-'));
});

afterAll(async () => {
  await rm(helmHome, { recursive: true, force: true });
});

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
    const file = join(helmHome, 'values.json');
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
    // Its Redis: the built-in Redis of RelayPool "main" by default, password from that pool's Secret.
    expect(c.args).toEqual([
      'manager',
      '--port',
      '8080',
      '--redis',
      'redis://main-redis-0.main-redis.grove-system.svc:6379',
    ]);
    expect(env(c, 'GROVE_REDIS_PASSWORD')?.valueFrom?.secretKeyRef).toEqual({
      name: 'main-redis-auth',
      key: 'password',
    });
    expect(c.ports).toEqual([{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
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
    expect(manifests.filter((m) => m.kind.startsWith('Cluster'))).toEqual([]);
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
    expect(operatorArgs.slice(-2)).toEqual(['--namespace', watchedNamespace]);
    const managerArgs = container(find(manifests, 'Deployment', 'grove-manager')).args;
    expect(managerArgs).toEqual([
      'manager',
      '--port',
      '8080',
      '--namespace',
      watchedNamespace,
      '--redis',
      // Samples are on here: the Manager uses the sample RelayPool's Redis.
      `redis://grove-sample-redis-0.grove-sample-redis.${watchedNamespace}.svc:6379`,
    ]);
    for (const sample of manifests.filter((m) => m.apiVersion === 'grove.dev/v1alpha1')) {
      expect(sample.metadata.namespace).toBe(watchedNamespace);
    }
  });

  it('without leader election: one operator, no --leader-elect, no Lease role', async () => {
    const manifests = await template(set('operator.leaderElection=false', 'operator.replicas=1'));
    const c = container(find(manifests, 'Deployment', 'grove-operator'));
    expect(c.args).toEqual(['operator', '--metrics-port', '8080', '--health-port', '8081']);
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
    expect(c.image).toBe(`grove@${digest}`);
    expect(env(c, 'GROVE_IMAGE')?.value).toBe(`grove@${digest}`);
  });

  it('renders a ServiceMonitor for the operator metrics Service only when enabled', async () => {
    expect((await template()).filter((m) => m.kind === 'ServiceMonitor')).toEqual([]);
    const manifests = await template(
      set(
        'metrics.serviceMonitor.enabled=true',
        'metrics.serviceMonitor.labels.release=prometheus',
      ),
    );
    const monitor = find(manifests, 'ServiceMonitor', 'grove-operator');
    expect(monitor.metadata.labels?.release).toBe('prometheus');
    expect(monitor.spec.endpoints).toEqual([
      { port: 'metrics', path: '/metrics', interval: '30s' },
    ]);
    const selected = manifests
      .filter((m): m is Service => m.kind === 'Service')
      .filter((s) =>
        Object.entries(monitor.spec.selector.matchLabels).every(
          ([key, value]) => s.metadata.labels?.[key] === value,
        ),
      );
    expect(selected.map((s) => s.metadata.name)).toEqual(['grove-operator-metrics']);
  });

  it('grants the operator exactly what resource-types.ts needs, and the Manager read access', async () => {
    const manifests = await template();
    const expected = expectedOperatorGrants();
    expect(grants(find(manifests, 'ClusterRole', 'grove-operator').rules)).toEqual(expected.main);
    expect(grants(find(manifests, 'Role', 'grove-operator-leader-election').rules)).toEqual(
      expected.leaderElection,
    );
    expect(grants(find(manifests, 'ClusterRole', 'grove-manager').rules)).toEqual(managerGrants);
    const bindings = manifests.filter((m): m is RoleBinding => m.kind.endsWith('Binding'));
    expect(
      bindings
        .map(
          (b) =>
            `${b.kind}/${b.metadata.name} -> ${b.roleRef.kind}/${b.roleRef.name} for ${b.subjects.map((s) => s.name).join()}`,
        )
        .sort(),
    ).toEqual([
      'ClusterRoleBinding/grove-manager -> ClusterRole/grove-manager for grove-manager',
      'ClusterRoleBinding/grove-operator -> ClusterRole/grove-operator for grove-operator',
      'RoleBinding/grove-operator-leader-election -> Role/grove-operator-leader-election for grove-operator',
    ]);
  });
});

describe('against a real API server', () => {
  let kube: KubeApiServer | undefined;
  let kubeConfig: KubeConfig | undefined;

  beforeAll(async () => {
    kube = await KubeApiServer.start();
    const config = new KubeConfig();
    config.loadFromFile(kube.kubeconfigPath);
    kubeConfig = config;
  }, 60_000);

  afterAll(async () => {
    await kube?.stop();
  });

  function server(): { kube: KubeApiServer; config: KubeConfig } {
    if (kube === undefined || kubeConfig === undefined)
      throw new Error('the API server did not start');
    return { kube, config: kubeConfig };
  }

  interface Reply {
    status: number;
    body: Json;
    warnings: string;
  }

  /** One request as the admin user of the kubeconfig. */
  async function api(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
  ): Promise<Reply> {
    const { config } = server();
    const cluster = config.getCurrentCluster();
    if (cluster === null) throw new Error('kubeconfig has no current cluster');
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const options: RequestOptions = {
      method,
      headers: {
        accept: 'application/json',
        ...(payload !== undefined && { 'content-type': contentType }),
      },
    };
    await config.applyToHTTPSOptions(options);
    return new Promise((resolve, reject) => {
      const req = request(`${cluster.server}${path}`, options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const warning = res.headers.warning;
          resolve({
            status: res.statusCode ?? 0,
            body: text === '' ? {} : (JSON.parse(text) as Json),
            warnings: Array.isArray(warning) ? warning.join('\n') : (warning ?? ''),
          });
        });
      });
      req.on('error', reject);
      req.end(payload);
    });
  }

  function assertOk(reply: Reply, what: string): void {
    if (reply.status >= 300) {
      throw new Error(
        `${what}: HTTP ${reply.status} ${JSON.stringify(reply.body.message ?? reply.body)}`,
      );
    }
  }

  const discovered = new Map<string, { plural: string; namespaced: boolean }>();

  /** The URL of an object, its plural found by discovery as kubectl does. */
  async function objectPath(m: Manifest): Promise<string> {
    const key = `${m.apiVersion}/${m.kind}`;
    let found = discovered.get(key);
    if (found === undefined) {
      const base = m.apiVersion.includes('/') ? `/apis/${m.apiVersion}` : `/api/${m.apiVersion}`;
      const list = await api('GET', base);
      const resources = (list.body.resources ?? []) as {
        name: string;
        kind: string;
        namespaced: boolean;
      }[];
      const resource = resources.find((r) => r.kind === m.kind && !r.name.includes('/'));
      if (resource === undefined) throw new Error(`the API server serves no ${key}`);
      found = { plural: resource.name, namespaced: resource.namespaced };
      discovered.set(key, found);
    }
    const base = m.apiVersion.includes('/') ? `/apis/${m.apiVersion}` : `/api/${m.apiVersion}`;
    const namespace = found.namespaced ? `/namespaces/${m.metadata.namespace ?? 'default'}` : '';
    return `${base}${namespace}/${found.plural}/${m.metadata.name}`;
  }

  async function apply(m: Manifest, dryRun: boolean): Promise<Reply> {
    const query = `fieldManager=helm-test&force=true${dryRun ? '&dryRun=All' : ''}`;
    return api('PATCH', `${await objectPath(m)}?${query}`, m, 'application/apply-patch+yaml');
  }

  async function ensureNamespace(name: string, labels: Record<string, string> = {}): Promise<void> {
    const reply = await apply(
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } },
      false,
    );
    assertOk(reply, `applying namespace ${name}`);
  }

  async function waitEstablished(
    crdName: string,
    group: string,
    version: string,
    plural: string,
  ): Promise<void> {
    await waitFor(
      async () => {
        const crd = await api(
          'GET',
          `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crdName}`,
        );
        const conditions = ((crd.body.status as Json | undefined)?.conditions ?? []) as {
          type: string;
          status: string;
        }[];
        if (!conditions.some((c) => c.type === 'Established' && c.status === 'True')) return false;
        const list = await api('GET', `/apis/${group}/${version}`);
        const resources = (list.body.resources ?? []) as { name: string }[];
        return resources.some((r) => r.name === plural);
      },
      `CRD ${crdName} to be established and served`,
      20_000,
      100,
    );
  }

  /** Applies the chart's CRDs (idempotent: helm install may have created them already). */
  async function ensureCrds(): Promise<void> {
    for (const kind of GROVE_KINDS) {
      const crd = parse(await readFile(chartCrdFile(kind), 'utf8')) as Manifest & {
        spec: { group: string; names: { plural: string }; versions: { name: string }[] };
      };
      assertOk(await apply(crd, false), `applying the ${kind} CRD`);
      await waitEstablished(
        crd.metadata.name,
        crd.spec.group,
        crd.spec.versions[0]?.name ?? '',
        crd.spec.names.plural,
      );
    }
  }

  /** The Prometheus Operator's ServiceMonitor kind, reduced to "anything goes". */
  async function ensureServiceMonitorCrd(): Promise<void> {
    const crd: Manifest = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'servicemonitors.monitoring.coreos.com' },
      spec: {
        group: 'monitoring.coreos.com',
        names: {
          kind: 'ServiceMonitor',
          listKind: 'ServiceMonitorList',
          plural: 'servicemonitors',
          singular: 'servicemonitor',
        },
        scope: 'Namespaced',
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: {
              openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
            },
          },
        ],
      },
    };
    assertOk(await apply(crd, false), 'applying the ServiceMonitor CRD');
    await waitEstablished(crd.metadata.name, 'monitoring.coreos.com', 'v1', 'servicemonitors');
  }

  const kubeconfigFlag = (): string[] => ['--kubeconfig', server().kube.kubeconfigPath];

  async function secretToken(namespace: string, name: string): Promise<string> {
    const reply = await api('GET', `/api/v1/namespaces/${namespace}/secrets/${name}`);
    expect(reply.status).toBe(200);
    return String((reply.body.data as Json | undefined)?.token);
  }

  // First, on a cluster without Grove, so Helm installs the CRDs itself (and before the RBAC
  // test, whose ClusterRoles of the same names Helm would refuse to adopt).
  it('helm install, upgrade (bootstrap token kept) and uninstall (CRDs kept) work', async () => {
    const namespace = 'grove-lifecycle';
    const install = await helm([
      'install',
      'grove',
      chartDir,
      '--namespace',
      namespace,
      '--create-namespace',
      '--set',
      'samples.enabled=true',
      ...kubeconfigFlag(),
    ]);
    mustSucceed(install, 'helm install');
    expect(install.stdout).toContain('STATUS: deployed');
    // NOTES.txt rendered with the release's names.
    expect(install.stdout).toContain(
      'kubectl -n grove-lifecycle get secret grove-manager-bootstrap',
    );
    const token = await secretToken(namespace, 'grove-manager-bootstrap');
    expect(Buffer.from(token, 'base64').toString()).toMatch(/^[A-Za-z0-9]{32}$/);
    const pool = await api(
      'GET',
      `/apis/grove.dev/v1alpha1/namespaces/${namespace}/relaypools/grove-sample`,
    );
    expect(pool.status).toBe(200);

    // What an upgrade would apply, rendered against the cluster: the same token.
    const preview = await helm([
      'upgrade',
      'grove',
      chartDir,
      '--namespace',
      namespace,
      '--reuse-values',
      '--dry-run=server',
      '--set',
      'operator.replicas=3',
      ...kubeconfigFlag(),
    ]);
    mustSucceed(preview, 'helm upgrade --dry-run=server');
    const rendered = preview.stdout.slice(
      preview.stdout.indexOf('MANIFEST:') + 'MANIFEST:'.length,
      preview.stdout.indexOf('\nNOTES:'),
    );
    const previewSecret = find(manifestsOf(rendered), 'Secret', 'grove-manager-bootstrap');
    expect(previewSecret.data.token).toBe(token);

    const upgrade = await helm([
      'upgrade',
      'grove',
      chartDir,
      '--namespace',
      namespace,
      '--reuse-values',
      '--set',
      'operator.replicas=3',
      ...kubeconfigFlag(),
    ]);
    mustSucceed(upgrade, 'helm upgrade');
    expect(await secretToken(namespace, 'grove-manager-bootstrap')).toBe(token);
    const deployment = await api(
      'GET',
      `/apis/apps/v1/namespaces/${namespace}/deployments/grove-operator`,
    );
    expect((deployment.body.spec as Json).replicas).toBe(3);

    const uninstall = await helm([
      'uninstall',
      'grove',
      '--namespace',
      namespace,
      ...kubeconfigFlag(),
    ]);
    mustSucceed(uninstall, 'helm uninstall');
    expect(
      (await api('GET', `/apis/apps/v1/namespaces/${namespace}/deployments/grove-operator`)).status,
    ).toBe(404);
    expect(
      (await api('GET', `/api/v1/namespaces/${namespace}/secrets/grove-manager-bootstrap`)).status,
    ).toBe(404);
    for (const kind of GROVE_KINDS) {
      const name = (parse(await readFile(chartCrdFile(kind), 'utf8')) as Manifest).metadata.name;
      expect({
        kind,
        status: (
          await api('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`)
        ).status,
      }).toEqual({ kind, status: 200 });
    }
  }, 60_000);

  const variants: [string, string[]][] = [
    ['default values', []],
    [
      'samples and ServiceMonitor',
      set('samples.enabled=true', 'metrics.serviceMonitor.enabled=true'),
    ],
    ['watchNamespace', set(`operator.watchNamespace=${watchedNamespace}`, 'samples.enabled=true')],
    [
      'own bootstrap Secret, one operator without leader election',
      set(
        'manager.bootstrapTokenSecret.name=admin-token',
        'operator.leaderElection=false',
        'operator.replicas=1',
      ),
    ],
  ];

  it.each(variants)(
    'accepts every rendered manifest in a server-side dry run: %s',
    async (_name, flags) => {
      // Pods there must meet the restricted Pod Security Standard: the API server warns about a
      // Deployment whose pods would not.
      const restricted = {
        'pod-security.kubernetes.io/enforce': 'restricted',
        'pod-security.kubernetes.io/warn': 'restricted',
      };
      await ensureNamespace(releaseNamespace, restricted);
      await ensureNamespace(watchedNamespace, restricted);
      await ensureCrds();
      await ensureServiceMonitorCrd();
      const manifests = await template(flags);
      expect(manifests.length).toBeGreaterThan(8);
      const replies = await Promise.all(
        manifests.map(async (m) => ({ m, reply: await apply(m, true) })),
      );
      const problems = replies
        .filter(({ reply }) => reply.status >= 300 || reply.warnings !== '')
        .map(
          ({ m, reply }) =>
            `${m.kind}/${m.metadata.name}: HTTP ${reply.status} ${JSON.stringify(reply.body.message)} ${reply.warnings}`,
        );
      expect(problems).toEqual([]);
      // Dry run: nothing was stored.
      const operatorPath = `/apis/apps/v1/namespaces/${releaseNamespace}/deployments/grove-operator`;
      expect((await api('GET', operatorPath)).status).toBe(404);
    },
  );

  it('warns when a value breaks the restricted Pod Security Standard (the dry run above can fail)', async () => {
    await ensureNamespace(releaseNamespace, {
      'pod-security.kubernetes.io/enforce': 'restricted',
      'pod-security.kubernetes.io/warn': 'restricted',
    });
    const manifests = await template(set('securityContext.allowPrivilegeEscalation=true'));
    const reply = await apply(find(manifests, 'Deployment', 'grove-operator'), true);
    expect(reply.status).toBeLessThan(300);
    // A Warning header, its quotes escaped: 299 - "would violate PodSecurity \"restricted:latest\": …"
    expect(reply.warnings).toContain('would violate PodSecurity');
    expect(reply.warnings).toContain('allowPrivilegeEscalation != false');
  });

  /** Whether the API server's authorizer lets a ServiceAccount do this. */
  async function allowed(
    serviceAccount: string,
    attributes: {
      namespace?: string;
      verb: string;
      group: string;
      resource: string;
      subresource?: string;
      name?: string;
    },
  ): Promise<boolean> {
    const reply = await api('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user: `system:serviceaccount:${releaseNamespace}:${serviceAccount}`,
        groups: [
          'system:serviceaccounts',
          `system:serviceaccounts:${releaseNamespace}`,
          'system:authenticated',
        ],
        resourceAttributes: attributes,
      },
    });
    expect(reply.status).toBe(201);
    return (reply.body.status as Json | undefined)?.allowed === true;
  }

  /** Every grant as SubjectAccessReview attributes, in `namespace` (cluster-scoped kinds: none). */
  function reviewsOf(grantList: readonly string[], namespace: string) {
    return grantList.map((grant) => {
      const [group = '', resourcePath = '', verb = ''] = grant.split('|');
      const [resource = '', subresource] = resourcePath.split('/');
      return {
        namespace,
        verb,
        group,
        resource,
        ...(subresource !== undefined && { subresource }),
      };
    });
  }

  it('the API server authorizes the operator and the Manager for what they need, and no more', async () => {
    await ensureNamespace(releaseNamespace);
    await ensureNamespace(watchedNamespace);
    // Cluster-wide release "grove", and a second release "scoped" confined to one namespace.
    const rbacKinds = new Set(['ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);
    const scoped = (
      await template(set(`operator.watchNamespace=${watchedNamespace}`), 'scoped')
    ).filter((m) => rbacKinds.has(m.kind));
    const cluster = (await template()).filter((m) => rbacKinds.has(m.kind));
    for (const m of [...cluster, ...scoped]) {
      assertOk(await apply(m, false), `applying ${m.kind}/${m.metadata.name}`);
    }

    const expected = expectedOperatorGrants();
    const checks: { what: string; want: boolean; got: Promise<boolean> }[] = [];
    const check = (sa: string, attributes: Parameters<typeof allowed>[1], want: boolean) => {
      checks.push({
        what: `${sa} ${JSON.stringify(attributes)}`,
        want,
        got: allowed(sa, attributes),
      });
    };
    for (const attributes of reviewsOf(expected.main, 'team-a'))
      check('grove-operator', attributes, true);
    // Its own Lease only (named after the release), which it may create.
    for (const attributes of reviewsOf(expected.leaderElection, releaseNamespace)) {
      const name = attributes.verb === 'create' ? {} : { name: 'grove-operator' };
      check('grove-operator', { ...attributes, ...name }, true);
    }
    for (const attributes of reviewsOf(managerGrants, 'team-a'))
      check('grove-manager', attributes, true);
    // Scoped: everything in the watched namespace, nothing elsewhere.
    for (const attributes of reviewsOf(expected.main, watchedNamespace))
      check('scoped-grove-operator', attributes, true);
    for (const attributes of reviewsOf(expected.main, 'team-a'))
      check('scoped-grove-operator', attributes, false);
    for (const attributes of reviewsOf(managerGrants, watchedNamespace))
      check('scoped-grove-manager', attributes, true);
    for (const attributes of reviewsOf(managerGrants, 'team-a'))
      check('scoped-grove-manager', attributes, false);
    // Least privilege: a few things neither may do.
    const denied: [string, Parameters<typeof allowed>[1]][] = [
      [
        'grove-operator',
        { namespace: 'team-a', verb: 'create', group: 'grove.dev', resource: 'relaypools' },
      ],
      [
        'grove-operator',
        { namespace: 'team-a', verb: 'delete', group: 'grove.dev', resource: 'domains' },
      ],
      ['grove-operator', { namespace: 'team-a', verb: 'get', group: '', resource: 'pods' }],
      [
        'grove-operator',
        {
          namespace: 'team-a',
          verb: 'create',
          group: 'rbac.authorization.k8s.io',
          resource: 'roles',
        },
      ],
      ['grove-operator', { verb: 'list', group: '', resource: 'namespaces' }],
      [
        'grove-operator',
        { namespace: 'team-a', verb: 'update', group: 'coordination.k8s.io', resource: 'leases' },
      ],
      [
        'grove-operator',
        { verb: 'create', group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions' },
      ],
      [
        'grove-operator',
        {
          namespace: releaseNamespace,
          verb: 'update',
          group: 'coordination.k8s.io',
          resource: 'leases',
          name: 'other',
        },
      ],
      ['grove-manager', { namespace: 'team-a', verb: 'list', group: '', resource: 'secrets' }],
      [
        'grove-manager',
        { namespace: 'team-a', verb: 'update', group: 'grove.dev', resource: 'domains' },
      ],
      [
        'grove-manager',
        {
          namespace: 'team-a',
          verb: 'update',
          group: 'grove.dev',
          resource: 'domains',
          subresource: 'status',
        },
      ],
    ];
    for (const [sa, attributes] of denied) check(sa, attributes, false);

    const results = await Promise.all(
      checks.map(async ({ what, want, got }) => ({ what, want, got: await got })),
    );
    expect(results.filter((r) => r.got !== r.want)).toEqual([]);
    expect(results.length).toBeGreaterThan(100);
  });
});
