import { isAbsolute, join, resolve } from 'node:path';

/**
 * What the suite takes from its environment: the cluster (KUBECONFIG), the Grove image
 * already in that cluster's runtime, and the chart. Nothing here is specific to one kind
 * of cluster; e2e/run (this machine's cluster) and e2e/kind set these variables.
 */
export interface E2eEnv {
  root: string;
  kubeconfig: string;
  kubectl: string;
  helm: string;
  image: { repository: string; tag: string; pullPolicy: 'Always' | 'IfNotPresent' | 'Never' };
  /** A second tag of the same image, loaded into the cluster, for an image-change rollout. */
  altTag: string;
  chart: string;
  namespace: string;
  release: string;
  /** StorageClass of the built-in Redis volume; empty: the cluster's default. */
  storageClass: string;
  /** Where figures and diagnostics go. */
  artifacts: string;
}

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new Error(
      `${name} is not set: the e2e suite needs KUBECONFIG, GROVE_IMAGE_REPOSITORY and GROVE_IMAGE_TAG ` +
        '(npm run e2e sets them from e2e/cluster/up; see docs/e2e.md)',
    );
  }
  return value;
}

function pullPolicy(value: string | undefined): E2eEnv['image']['pullPolicy'] {
  if (value === undefined || value === '') return 'IfNotPresent';
  if (value === 'Always' || value === 'IfNotPresent' || value === 'Never') return value;
  throw new Error(`GROVE_IMAGE_PULL_POLICY is ${value}: Always, IfNotPresent or Never`);
}

let cached: E2eEnv | undefined;

export function e2eEnv(): E2eEnv {
  if (cached !== undefined) return cached;
  const root = resolve(import.meta.dirname, '..', '..');
  const fromRoot = (path: string) => (isAbsolute(path) ? path : join(root, path));
  const tag = required('GROVE_IMAGE_TAG');
  cached = {
    root,
    kubeconfig: required('KUBECONFIG'),
    kubectl: process.env.KUBECTL_BIN ?? 'kubectl',
    helm: process.env.HELM_BIN ?? 'helm',
    image: {
      repository: required('GROVE_IMAGE_REPOSITORY'),
      tag,
      pullPolicy: pullPolicy(process.env.GROVE_IMAGE_PULL_POLICY),
    },
    altTag: process.env.GROVE_E2E_IMAGE_TAG_ALT ?? '',
    chart: fromRoot(process.env.GROVE_E2E_CHART ?? 'charts/grove'),
    namespace: process.env.GROVE_E2E_NAMESPACE ?? 'grove-e2e',
    release: process.env.GROVE_E2E_RELEASE ?? 'grove',
    storageClass: process.env.GROVE_E2E_STORAGE_CLASS ?? '',
    artifacts: fromRoot(process.env.GROVE_E2E_ARTIFACTS ?? '.e2e-artifacts/latest'),
  };
  return cached;
}
