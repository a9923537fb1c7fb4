// The chart's RBAC with the real operator running under it, against a real kube-apiserver:
// the roles `helm template` renders with the default values are applied, the operator runs as
// its ServiceAccount (a token from the TokenRequest API, as in a pod) with the arguments the
// chart gives it, and creates a RelayPool's and a Domain's Secrets; then the Manager's and the
// operator's own tokens read what they need and are refused everything else: another Secret
// of the same namespace, a Secret of another namespace, listing or watching Secrets. The
// authorizer's answers (SubjectAccessReviews) are checked for the cluster-wide mode too.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { KubeClient, isKubeApiError } from '../kube/kube-client.js';
import type { KubeObject, ResourceType } from '../kube/kube-object.js';
import { resourceTypes as t } from '../kube/resource-types.js';
import { KubeConfigSource } from '../manager/config-source/kube-config-source.js';
import { createNamespace, installGroveCrds } from '../test/support/grove-crds.js';
import { KubeApiServer } from '../test/support/kube-apiserver.js';
import { OperatorProcess } from '../test/support/operator-process.js';
import { waitFor } from '../test/support/ports.js';
import { serviceAccountClient, serviceAccountKubeconfig } from '../test/support/service-account.js';
import {
  container,
  find,
  releaseNamespace,
  set,
  template,
  useHelmHome,
  type Json,
  type Manifest,
} from './chart-test-support.js';

useHelmHome();

const ns = releaseNamespace;
const elsewhere = 'team-a';
const rbac = (kind: string, plural: string, namespaced: boolean): ResourceType => ({
  group: 'rbac.authorization.k8s.io',
  version: 'v1',
  kind,
  plural,
  namespaced,
});
/** The kinds of the chart's identities, grants and Secrets, which this test applies. */
const rbacTypes = new Map<string, ResourceType>([
  [
    'ServiceAccount',
    {
      group: '',
      version: 'v1',
      kind: 'ServiceAccount',
      plural: 'serviceaccounts',
      namespaced: true,
    },
  ],
  ['Secret', t.secrets],
  ['ClusterRole', rbac('ClusterRole', 'clusterroles', false)],
  ['ClusterRoleBinding', rbac('ClusterRoleBinding', 'clusterrolebindings', false)],
  ['Role', rbac('Role', 'roles', true)],
  ['RoleBinding', rbac('RoleBinding', 'rolebindings', true)],
]);
const rbacKinds = new Set(rbacTypes.keys());

let kube: KubeApiServer | undefined;
let admin: KubeClient;
let operator: OperatorProcess | undefined;
let managerClient: KubeClient | undefined;
let operatorClient: KubeClient | undefined;

function secret(namespace: string, name: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace },
    data: { password: Buffer.from('not for Grove').toString('base64') },
  };
}

async function applyAll(manifests: readonly Manifest[]): Promise<void> {
  for (const m of manifests) {
    await admin.apply(m, {
      fieldManager: 'grove-test',
      force: true,
      resourceType: rbacTypes.get(m.kind),
    });
  }
}

/** What a call as some ServiceAccount got: "ok", or the HTTP status it was refused with. */
async function outcome(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return 'ok';
  } catch (error) {
    if (isKubeApiError(error)) return String(error.code);
    throw error;
  }
}

/** Whether the authorizer lets ServiceAccount `sa` of the release namespace do this. */
async function allowed(
  sa: string,
  attributes: { namespace?: string; verb: string; group: string; resource: string; name?: string },
): Promise<boolean> {
  const review = await admin.create<KubeObject & { status?: { allowed?: boolean } }>(
    {
      group: 'authorization.k8s.io',
      version: 'v1',
      kind: 'SubjectAccessReview',
      plural: 'subjectaccessreviews',
      namespaced: false,
    } satisfies ResourceType,
    {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      metadata: { name: '' },
      spec: {
        user: `system:serviceaccount:${ns}:${sa}`,
        groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'],
        resourceAttributes: attributes,
      },
    },
  );
  return review.status?.allowed === true;
}

beforeAll(async () => {
  kube = await KubeApiServer.start({
    controllerManager: true,
    beforeControllerManager: async (server) => {
      admin = await KubeClient.fromKubeConfig({ kubeconfigPath: server.kubeconfigPath });
      await installGroveCrds(admin);
    },
  });
  await createNamespace(admin, ns);
  await createNamespace(admin, elsewhere);
  await admin.create(t.secrets, secret(ns, 'other-app'));
  await admin.create(t.secrets, secret(elsewhere, 'unrelated'));

  // The chart with its default values: its ServiceAccounts and roles.
  const manifests = await template();
  await applyAll(manifests.filter((m) => rbacKinds.has(m.kind)));

  // The operator as the chart runs it, minus the ports the harness chooses.
  const args = container(find(manifests, 'Deployment', 'grove-operator')).args.slice(1);
  const extraArgs: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg === '--metrics-port' || arg === '--health-port') i++;
    else extraArgs.push(arg === '$(POD_NAMESPACE)' ? ns : arg);
  }
  // The chart gives the token in GROVE_MANAGER_TOKEN from the bootstrap Secret; here a file.
  const tokenFile = join(mkdtempSync(join(tmpdir(), 'grove-rbac-')), 'manager-token');
  writeFileSync(tokenFile, 'not-used-without-backup-schedules', { mode: 0o600 });
  operator = await OperatorProcess.start({
    kubeconfigPath: await serviceAccountKubeconfig(kube, ns, 'grove-operator'),
    extraArgs: [...extraArgs, '--manager-token-file', tokenFile],
  });
  await operator.waitReady(60_000);
  managerClient = await serviceAccountClient(kube, ns, 'grove-manager');
  operatorClient = await serviceAccountClient(kube, ns, 'grove-operator');

  await admin.create(t.relayPools, {
    apiVersion: 'grove.dev/v1alpha1',
    kind: 'RelayPool',
    metadata: { name: 'main', namespace: ns },
    spec: {},
  });
  await admin.create(t.domains, {
    apiVersion: 'grove.dev/v1alpha1',
    kind: 'Domain',
    metadata: { name: 'acme', namespace: ns },
    spec: { relayPools: ['main'] },
  });
  await waitFor(
    async () =>
      (await admin.get(t.secrets, ns, 'main-redis-auth')) !== undefined &&
      (await admin.get(t.secrets, ns, 'acme-signing-key')) !== undefined,
    'the operator to create the pool and Domain Secrets',
    60_000,
    200,
  ).catch((error: unknown) => {
    throw new Error(`${String(error)}\n${operator?.lines.slice(-20).join('\n') ?? ''}`);
  });
}, 240_000);

afterAll(async () => {
  await operator?.stop();
  managerClient?.close();
  operatorClient?.close();
  admin.close();
  await kube?.stop();
});

describe('the chart RBAC, default values (one namespace)', () => {
  it('is enough for the operator: it reconciles with no refusal in its log', async () => {
    await waitFor(
      async () => (await admin.get(t.relayPools, ns, 'main'))?.status !== undefined,
      'the RelayPool status',
      20_000,
      100,
    );
    const forbidden = operator?.lines.filter((line) => /forbidden|\b403\b/i.test(line)) ?? [];
    expect(forbidden).toEqual([]);
  });

  it("lets the Manager read its pool's Redis password and its Domains' signing keys, and nothing else", async () => {
    const manager = managerClient as KubeClient;
    // What the Manager reads, as the Manager reads it.
    expect(await outcome(manager.get(t.secrets, ns, 'main-redis-auth'))).toBe('ok');
    const config = new KubeConfigSource(manager, { namespace: ns });
    await config.start();
    try {
      await waitFor(
        () => config.getDomain('acme') !== undefined,
        'the Manager to see the Domain',
        20_000,
        100,
      );
      expect((await config.signingKeys('acme'))?.current.kid).toMatch(/^acme-/);
    } finally {
      await config.stop();
    }
    // And what it must not.
    expect({
      otherSecretSameNamespace: await outcome(manager.get(t.secrets, ns, 'other-app')),
      secretElsewhere: await outcome(manager.get(t.secrets, elsewhere, 'unrelated')),
      listHere: await outcome(manager.list(t.secrets, { namespace: ns })),
      listEverywhere: await outcome(manager.list(t.secrets)),
      bootstrapTokenSecret: await outcome(manager.get(t.secrets, ns, 'grove-manager-bootstrap')),
    }).toEqual({
      otherSecretSameNamespace: '403',
      secretElsewhere: '403',
      listHere: '403',
      listEverywhere: '403',
      // The kubelet hands it to the pod (secretKeyRef): the Manager never reads it itself.
      bootstrapTokenSecret: '403',
    });
  });

  it('keeps the operator to Secrets by name in its namespace: no list, no watch, nothing elsewhere', async () => {
    const self = operatorClient as KubeClient;
    expect({
      secretElsewhere: await outcome(self.get(t.secrets, elsewhere, 'unrelated')),
      listHere: await outcome(self.list(t.secrets, { namespace: ns })),
      listEverywhere: await outcome(self.list(t.secrets)),
    }).toEqual({ secretElsewhere: '403', listHere: '403', listEverywhere: '403' });
    const verbs = async (namespace: string) => ({
      get: await allowed('grove-operator', {
        namespace,
        verb: 'get',
        group: '',
        resource: 'secrets',
      }),
      list: await allowed('grove-operator', {
        namespace,
        verb: 'list',
        group: '',
        resource: 'secrets',
      }),
      watch: await allowed('grove-operator', {
        namespace,
        verb: 'watch',
        group: '',
        resource: 'secrets',
      }),
    });
    expect(await verbs(ns)).toEqual({ get: true, list: false, watch: false });
    expect(await verbs(elsewhere)).toEqual({ get: false, list: false, watch: false });
  });
});

describe('the chart RBAC, operator.clusterWide', () => {
  it('grants the operator Secrets by name in every namespace, never list or watch; the Manager still only its own', async () => {
    const manifests = await template(set('operator.clusterWide=true'), 'wide');
    await applyAll(manifests.filter((m) => rbacKinds.has(m.kind)));
    const secretVerbs = async (sa: string, namespace: string, name?: string) => {
      const verbs: Json = {};
      for (const verb of ['get', 'list', 'watch', 'create', 'update']) {
        verbs[verb] = await allowed(sa, {
          namespace,
          verb,
          group: '',
          resource: 'secrets',
          ...(name === undefined || verb === 'list' || verb === 'watch' || verb === 'create'
            ? {}
            : { name }),
        });
      }
      return verbs;
    };
    expect(await secretVerbs('wide-grove-operator', elsewhere, 'unrelated')).toEqual({
      get: true,
      list: false,
      watch: false,
      create: true,
      update: true,
    });
    expect(await secretVerbs('wide-grove-manager', elsewhere, 'unrelated')).toEqual({
      get: false,
      list: false,
      watch: false,
      create: false,
      update: false,
    });
    expect(await secretVerbs('wide-grove-manager', ns, 'main-redis-auth')).toEqual({
      get: true,
      list: false,
      watch: false,
      create: false,
      update: false,
    });
  });
});
