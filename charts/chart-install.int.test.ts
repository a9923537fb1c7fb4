// The Helm chart charts/grove against a real kube-apiserver, with the real Helm (3.22,
// scripts/k8s-binaries.sh): every rendered manifest passes a server-side dry run (restricted
// Pod Security Standard included), the roles grant exactly what kube/resource-types.ts
// needs (checked by the API server's own authorizer), and install, upgrade and uninstall work.
// chart-templates.int.test.ts checks the rendering itself.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { readFile } from 'node:fs/promises';
import { request, type RequestOptions } from 'node:https';
import { parse } from 'yaml';
import { GROVE_KINDS } from '../crds/index.js';
import { KubeApiServer } from '../test/support/kube-apiserver.js';
import { waitFor } from '../test/support/ports.js';
import {
  expectedOperatorGrants,
  find,
  helm,
  managerGrants,
  managerRedisAuthGrants,
  manifestsOf,
  mustSucceed,
  releaseNamespace,
  set,
  template,
  useHelmHome,
  watchedNamespace,
  type Json,
  type Manifest,
} from './chart-test-support.js';
import { chartCrdFile, chartDir } from './generate-chart.js';

useHelmHome();

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
    ['clusterWide', set('operator.clusterWide=true', 'samples.enabled=true')],
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
      const [group = '', resourcePath = '', verb = '', name] = grant.split('|');
      const [resource = '', subresource] = resourcePath.split('/');
      return {
        namespace,
        verb,
        group,
        resource,
        ...(subresource !== undefined && { subresource }),
        ...(name !== undefined && { name }),
      };
    });
  }

  it('the API server authorizes the operator and the Manager for what they need, and no more', async () => {
    await ensureNamespace(releaseNamespace);
    await ensureNamespace(watchedNamespace);
    // Cluster-wide release "grove" (operator.clusterWide), and a second release "scoped" with
    // the default: confined to one namespace (here another than its own).
    const rbacKinds = new Set(['ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);
    const scoped = (
      await template(set(`operator.watchNamespace=${watchedNamespace}`), 'scoped')
    ).filter((m) => rbacKinds.has(m.kind));
    const cluster = (await template(set('operator.clusterWide=true'))).filter((m) =>
      rbacKinds.has(m.kind),
    );
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
    // Its RelayPool's Redis password, by name, where the pool is; no other Secret anywhere.
    for (const attributes of reviewsOf(managerRedisAuthGrants(), releaseNamespace))
      check('grove-manager', attributes, true);
    for (const attributes of reviewsOf(managerRedisAuthGrants(), watchedNamespace))
      check('scoped-grove-manager', attributes, true);
    for (const [sa, namespace] of [
      ['grove-manager', releaseNamespace],
      ['grove-manager', 'team-a'],
      ['scoped-grove-manager', watchedNamespace],
      ['scoped-grove-manager', 'team-a'],
    ] as const) {
      for (const verb of ['get', 'list', 'watch']) {
        check(sa, { namespace, verb, group: '', resource: 'secrets' }, false);
        check(sa, { namespace, verb, group: '', resource: 'secrets', name: 'unrelated' }, false);
      }
    }
    // The operator: Secrets by name, never listed or watched.
    for (const [sa, namespace] of [
      ['grove-operator', 'team-a'],
      ['scoped-grove-operator', watchedNamespace],
    ] as const) {
      for (const verb of ['list', 'watch', 'delete'])
        check(sa, { namespace, verb, group: '', resource: 'secrets' }, false);
    }
    // Scoped: everything in the watched namespace, nothing elsewhere.
    for (const attributes of reviewsOf(expected.main, watchedNamespace))
      check('scoped-grove-operator', attributes, true);
    for (const attributes of reviewsOf(expected.main, 'team-a'))
      check('scoped-grove-operator', attributes, false);
    for (const attributes of reviewsOf(managerGrants, watchedNamespace))
      check('scoped-grove-manager', attributes, true);
    for (const attributes of reviewsOf(managerGrants, 'team-a'))
      check('scoped-grove-manager', attributes, false);
    // Node addresses (NodePort pools): list, cluster-wide, in both releases; nothing else on nodes.
    for (const sa of ['grove-operator', 'scoped-grove-operator']) {
      check(sa, { verb: 'list', group: '', resource: 'nodes' }, true);
      check(sa, { verb: 'watch', group: '', resource: 'nodes' }, false);
      check(sa, { verb: 'update', group: '', resource: 'nodes' }, false);
    }
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
      // Roles and RoleBindings it may make (a Domain's signing key reader); never cluster-wide
      // ones, nor bind or escalate beyond what it holds.
      [
        'grove-operator',
        { verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'clusterroles' },
      ],
      [
        'grove-operator',
        { verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'clusterrolebindings' },
      ],
      [
        'grove-operator',
        {
          namespace: 'team-a',
          verb: 'bind',
          group: 'rbac.authorization.k8s.io',
          resource: 'roles',
        },
      ],
      [
        'grove-operator',
        {
          namespace: 'team-a',
          verb: 'escalate',
          group: 'rbac.authorization.k8s.io',
          resource: 'roles',
        },
      ],
      [
        'scoped-grove-operator',
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
