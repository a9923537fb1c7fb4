// Helpers of the Helm chart tests (chart-templates.int.test.ts and chart-install.int.test.ts):
// running the real Helm (3.22, scripts/k8s-binaries.sh) in a temp home, rendering the chart,
// finding manifests by kind and name, and the RBAC grants the operator and Manager must have.

import { afterAll, beforeAll } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { resourceTypes } from '../kube/resource-types.js';
import { requireKubeBinaries } from '../test/support/kube-apiserver.js';
import { chartDir } from './generate-chart.js';

export type Json = Record<string, unknown>;

export interface Manifest {
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

export interface Deployment extends Manifest {
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

export interface Service extends Manifest {
  spec: {
    type: string;
    selector: Record<string, string>;
    ports: { name: string; port: number; targetPort: string }[];
  };
}

interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  resourceNames?: string[];
  verbs: string[];
}

interface Role extends Manifest {
  rules: PolicyRule[];
}

export interface RoleBinding extends Manifest {
  roleRef: { kind: string; name: string };
  subjects: { kind: string; name: string; namespace: string }[];
}

export const releaseNamespace = 'grove-system';
export const watchedNamespace = 'grove-apps';
export const image = 'grove:0.1.0';

const helmBin = requireKubeBinaries(['helm']).helm;
let helmHome = '';

/**
 * Gives helm a temp dir for its config, cache and data, made before the file's tests and
 * removed after them. Call it at the top level of a test file that runs helm.
 */
export function useHelmHome(): void {
  beforeAll(async () => {
    helmHome = await mkdtemp(join(tmpdir(), 'grove-helm-'));
  });
  afterAll(async () => {
    await rm(helmHome, { recursive: true, force: true });
  });
}

/** helm's temp dir (see useHelmHome), for files a test hands it. */
export function helmHomeDir(): string {
  if (helmHome === '') throw new Error('useHelmHome() was not called');
  return helmHome;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs helm with its config, cache and data in a temp dir (never the user's). */
export function helm(args: readonly string[]): Promise<Run> {
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
export function set(...pairs: string[]): string[] {
  return pairs.flatMap((pair) => ['--set', pair]);
}

export function mustSucceed(run: Run, what: string): void {
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

export function manifestsOf(yamlText: string): Manifest[] {
  return parseAllDocuments(yamlText)
    .map((doc) => doc.toJS() as unknown)
    .filter(isManifest);
}

/** `helm template` with these flags; throws with Helm's message when it fails. */
export async function template(
  flags: readonly string[] = [],
  release = 'grove',
): Promise<Manifest[]> {
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
    namespaceSelector: { matchNames?: string[]; any?: boolean };
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

export function find<K extends keyof Kinds>(
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

export function container(deployment: Deployment): Container {
  const [first] = deployment.spec.template.spec.containers;
  if (first === undefined) throw new Error(`${deployment.metadata.name} has no container`);
  return first;
}

export function env(c: Container, name: string): EnvVar | undefined {
  return c.env.find((e) => e.name === name);
}

/**
 * "group|resource|verb" for every permission a set of rules grants; "group|resource|verb|name"
 * for each name of a rule limited to resourceNames.
 */
export function grants(rules: readonly PolicyRule[]): string[] {
  return rules
    .flatMap((rule) =>
      rule.apiGroups.flatMap((group) =>
        rule.resources.flatMap((resource) =>
          rule.verbs.flatMap((verb) =>
            rule.resourceNames === undefined
              ? [`${group}|${resource}|${verb}`]
              : rule.resourceNames.map((name) => `${group}|${resource}|${verb}|${name}`),
          ),
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
  // By name only: never list or watch, which would hand it every Secret in its scope.
  secrets: ['get', 'create', 'update'],
  services: ownedVerbs,
  ingresses: ownedVerbs,
  // The NetworkPolicies of each RelayPool (relays, built-in Redis).
  networkPolicies: ownedVerbs,
  deployments: ownedVerbs,
  statefulSets: ownedVerbs,
  podDisruptionBudgets: ownedVerbs,
  horizontalPodAutoscalers: ownedVerbs,
  // The Role and RoleBinding per Domain that let the Manager read its signing key.
  roles: ownedVerbs,
  roleBindings: ownedVerbs,
  // get: after a 409 on create, the event recorder reads the event to count the repeat.
  events: ['get', 'create', 'patch'],
  // Nothing: the operator never reads namespaces (only tests create them).
  namespaces: [],
  // Leader election, in its own Role in the release namespace.
  leases: ['get', 'create', 'update'],
  // The addresses of NodePort pools, in a ClusterRole of its own (nodes are cluster-scoped).
  nodes: ['list'],
};

/**
 * Expected "group|resource|verb" grants of the operator's main role, its leader-election Role,
 * and its node-reading ClusterRole.
 */
export function expectedOperatorGrants(): {
  main: string[];
  leaderElection: string[];
  nodes: string[];
} {
  const main: string[] = [];
  const leaderElection: string[] = [];
  const nodes: string[] = [];
  for (const [key, verbs] of Object.entries(operatorVerbs) as [
    keyof typeof resourceTypes,
    Verb[],
  ][]) {
    const type = resourceTypes[key];
    const into = key === 'leases' ? leaderElection : key === 'nodes' ? nodes : main;
    for (const verb of verbs) {
      // Reading and renewing the Lease are limited to its name (creating cannot be).
      const name = key === 'leases' && verb !== 'create' ? '|grove-operator' : '';
      into.push(`${type.group}|${type.plural}|${verb}${name}`);
    }
    if (type.group === 'grove.dev') {
      for (const verb of ['get', 'update', 'patch']) {
        main.push(`${type.group}|${type.plural}/status|${verb}`);
      }
      main.push(`${type.group}|${type.plural}/finalizers|update`);
    }
  }
  return { main: main.sort(), leaderElection: leaderElection.sort(), nodes: nodes.sort() };
}

export const managerGrants = [
  'grove.dev|domains|get',
  'grove.dev|domains|list',
  'grove.dev|domains|watch',
  'grove.dev|policies|get',
  'grove.dev|policies|list',
  'grove.dev|policies|watch',
  'grove.dev|relaypools|get',
  'grove.dev|relaypools|list',
  'grove.dev|relaypools|watch',
].sort();

/** The Manager's one Secret grant from the chart: its RelayPool's Redis password, by name. */
export function managerRedisAuthGrants(pool = 'main'): string[] {
  return [`|secrets|get|${pool}-redis-auth`];
}
