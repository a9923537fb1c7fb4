import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { enrollCommand } from '../../client/cli/enroll-command.js';
import { ManagerClient, ManagerHttpError } from '../../client/cli/manager-client.js';
import { readDeviceState } from '../../client/cli/device-state.js';
import { StateSession } from '../../client/cli/state-session.js';
import { managerServiceValues, managerUrl, relayPoolService } from './access.js';
import { e2eEnv } from './env.js';
import {
  apply,
  getObject,
  helm,
  isReadyNow,
  kubectl,
  listObjects,
  mustGet,
  runCommand,
  waitFor,
  type KubeObject,
} from './kube.js';

/** The RelayPool the chart's Manager uses by default (manager.redis.relayPool). */
export const POOL = 'main';
export const DOMAIN = 'e2e';
export const POLICY = 'e2e-limits';
export const DOMAIN_LABEL = { 'grove.dev/e2e': 'suite' };

export function imageValues(tag: string = e2eEnv().image.tag): string[] {
  const { image } = e2eEnv();
  return [
    '--set',
    `image.repository=${image.repository}`,
    '--set',
    `image.tag=${tag}`,
    '--set',
    `image.pullPolicy=${image.pullPolicy}`,
  ];
}

export async function releaseInstalled(): Promise<boolean> {
  const env = e2eEnv();
  const status = await runCommand(env.helm, [
    '--kubeconfig',
    env.kubeconfig,
    'status',
    env.release,
    '-n',
    env.namespace,
  ]);
  return status.code === 0;
}

/**
 * `helm install` of the chart with the suite's image (and its Manager reachable), --wait;
 * `values`: more `--set` arguments.
 */
export async function installRelease(values: readonly string[] = []): Promise<void> {
  const env = e2eEnv();
  await helm(
    [
      'install',
      env.release,
      env.chart,
      '-n',
      env.namespace,
      '--create-namespace',
      ...imageValues(),
      ...managerServiceValues(),
      ...values,
      '--wait',
      '--timeout',
      '240s',
    ],
    { timeoutMs: 300_000 },
  );
}

const GROVE_KINDS = ['relaypools', 'domains', 'policies', 'backupschedules'];

/**
 * Removes what an earlier run left (a cluster kept with GROVE_E2E_KEEP=1): the release, the
 * Grove resources (finalizers dropped: the operator may be gone), the namespace, and the
 * Grove CRDs, so that the install is one from nothing: Helm installs CRDs on the first
 * install only, and an earlier run's CRDs miss the fields of a newer chart (the operator's
 * status patches then fail with "field not declared in schema").
 */
export async function removeEarlierRun(): Promise<boolean> {
  const removedRelease = await removeEarlierRelease();
  let removedCrds = false;
  for (const kind of GROVE_KINDS) {
    if ((await getObject('crd', `${kind}.grove.dev`, 'default')) === undefined) continue;
    await kubectl(['delete', 'crd', `${kind}.grove.dev`, '--wait=true', '--timeout=120s'], {
      timeoutMs: 150_000,
    });
    removedCrds = true;
  }
  return removedRelease || removedCrds;
}

async function removeEarlierRelease(): Promise<boolean> {
  const env = e2eEnv();
  const namespace = await getObject('namespace', env.namespace, 'default');
  if (namespace === undefined) return false;
  if (await releaseInstalled()) {
    await helm(['uninstall', env.release, '-n', env.namespace, '--wait'], { timeoutMs: 180_000 });
  }
  for (const kind of GROVE_KINDS) {
    const crd = await getObject('crd', `${kind}.grove.dev`, 'default');
    if (crd === undefined) continue;
    for (const object of await listObjects(kind)) {
      await kubectl([
        'patch',
        kind,
        object.metadata.name,
        '-n',
        env.namespace,
        '--type',
        'merge',
        '-p',
        '{"metadata":{"finalizers":null}}',
      ]);
    }
  }
  await kubectl(['delete', 'namespace', env.namespace, '--wait=true', '--timeout=180s'], {
    timeoutMs: 200_000,
  });
  return true;
}

export function relayPoolManifest(replicas: number): string {
  const env = e2eEnv();
  const builtin: Record<string, unknown> = { storage: '256Mi' };
  if (env.storageClass !== '') builtin.storageClassName = env.storageClass;
  return JSON.stringify({
    apiVersion: 'grove.dev/v1alpha1',
    kind: 'RelayPool',
    metadata: { name: POOL, namespace: env.namespace },
    spec: { replicas, service: relayPoolService(), redis: { builtin } },
  });
}

export function domainManifest(): string {
  return JSON.stringify({
    apiVersion: 'grove.dev/v1alpha1',
    kind: 'Domain',
    metadata: { name: DOMAIN, namespace: e2eEnv().namespace, labels: DOMAIN_LABEL },
    spec: { displayName: 'End-to-end suite', relayPools: [POOL] },
  });
}

export function policyManifest(relay: Record<string, number>): string {
  return JSON.stringify({
    apiVersion: 'grove.dev/v1alpha1',
    kind: 'Policy',
    metadata: { name: POLICY, namespace: e2eEnv().namespace },
    spec: { priority: 10, domainSelector: { matchLabels: DOMAIN_LABEL }, relay },
  });
}

export async function describeObject(kind: string, name: string): Promise<string> {
  const object = await getObject(kind, name);
  return JSON.stringify(object?.status ?? 'absent');
}

/** Waits until the RelayPool is Ready for its generation, with every relay pod updated. */
export async function waitPoolSettled(
  replicas: number,
  timeoutMs = 180_000,
  name: string = POOL,
): Promise<KubeObject> {
  return waitFor(
    `RelayPool ${name} settled at ${replicas} ready relays`,
    async () => {
      const pool = await mustGet('relaypool', name);
      const status = pool.status as { replicas?: number; readyReplicas?: number } | undefined;
      const deployment = await mustGet('deployment', `${name}-relay`);
      const ds = deployment.status as {
        replicas?: number;
        updatedReplicas?: number;
        readyReplicas?: number;
        observedGeneration?: number;
      };
      const settled =
        isReadyNow(pool) &&
        status?.replicas === replicas &&
        status.readyReplicas === replicas &&
        ds.observedGeneration === deployment.metadata.generation &&
        ds.replicas === replicas &&
        ds.updatedReplicas === replicas &&
        ds.readyReplicas === replicas;
      return settled ? pool : undefined;
    },
    { timeoutMs, describe: () => describeObject('relaypool', name) },
  );
}

/** The RelayPool `main` (3 relays, built-in Redis on a PVC) and the Domain it serves, Ready. */
export async function ensurePool(): Promise<void> {
  const pool = await getObject('relaypool', POOL);
  const domain = await getObject('domain', DOMAIN);
  if (pool !== undefined && domain !== undefined && isReadyNow(pool) && isReadyNow(domain)) return;
  if (pool === undefined) await apply(relayPoolManifest(3));
  if (domain === undefined) await apply(domainManifest());
  await waitFor(
    'RelayPool and Domain Ready',
    async () => {
      const [p, d] = [await mustGet('relaypool', POOL), await mustGet('domain', DOMAIN)];
      return isReadyNow(p) && isReadyNow(d) ? true : undefined;
    },
    { timeoutMs: 180_000, describe: () => describeObject('relaypool', POOL) },
  );
}

/** Waits until the Manager's Deployment is available with every pod updated. */
export async function waitManagerReady(timeoutMs = 180_000): Promise<void> {
  const env = e2eEnv();
  await waitFor(
    'the Manager Deployment available',
    async () => {
      const deployment = await mustGet('deployment', `${env.release}-manager`);
      const spec = deployment.spec as { replicas?: number };
      const s = deployment.status as {
        observedGeneration?: number;
        updatedReplicas?: number;
        readyReplicas?: number;
        availableReplicas?: number;
        replicas?: number;
      };
      const want = spec.replicas ?? 1;
      return s.observedGeneration === deployment.metadata.generation &&
        s.updatedReplicas === want &&
        s.availableReplicas === want &&
        s.replicas === want
        ? true
        : undefined;
    },
    { timeoutMs, describe: () => describeObject('deployment', `${env.release}-manager`) },
  );
}

/** The release, its pool and Domain, all Ready: what every scenario after the first needs. */
export async function ensureGrove(): Promise<void> {
  if (!(await releaseInstalled())) await installRelease();
  await ensurePool();
  await waitManagerServing();
}

/** The Manager available and serving for real (not degraded). */
export async function waitManagerServing(): Promise<void> {
  await waitManagerReady();
  // The Deployment is available while the Manager is degraded (no Redis yet, bootstrap token
  // not stored): wait until it serves for real.
  const url = await managerUrl();
  await waitFor('the Manager /readyz (not degraded)', async () =>
    (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(3000) })).ok ? true : undefined,
  );
}

export async function adminToken(): Promise<string> {
  const env = e2eEnv();
  const secret = await mustGet('secret', `${env.release}-manager-bootstrap`);
  const token = secret.data?.token;
  if (token === undefined) throw new Error('the bootstrap Secret has no token');
  return Buffer.from(token, 'base64').toString('utf8');
}

export async function adminClient(): Promise<ManagerClient> {
  return new ManagerClient(await managerUrl(), await adminToken());
}

export interface Device {
  dir: string;
  identity: string;
  deviceId: string;
}

/** A state directory for the run's devices (private keys: not kept as artifacts). */
export async function deviceRoot(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'grove-e2e-devices-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * Enrolls a device of `identity` (added as a member when new) through the Manager's Service,
 * with the CLI's own enroll code (client/cli/enroll-command.ts), into `dir`.
 */
export async function enrollDevice(
  manager: ManagerClient,
  identity: string,
  dir: string,
  domain: string = DOMAIN,
): Promise<Device> {
  try {
    await manager.addMember(domain, { id: identity, displayName: identity });
  } catch (error) {
    if (!(error instanceof ManagerHttpError && error.code === 'ALREADY_EXISTS')) throw error;
  }
  const { code } = await manager.issueCode(domain, identity);
  await enrollCommand(
    ['--manager', await managerUrl(), '--code', code, '--state', dir, '--name', identity],
    () => undefined,
  );
  const state = await readDeviceState(dir);
  return { dir, identity, deviceId: state.deviceId };
}

export function openSession(device: Device): Promise<StateSession> {
  return StateSession.open(device.dir);
}

/** The pods of the RelayPool's relays. */
export async function relayPods(pool: string = POOL): Promise<KubeObject[]> {
  const pods = await listObjects('pods', {
    selector: `app.kubernetes.io/component=relay,app.kubernetes.io/instance=${pool}`,
  });
  return pods.filter((p) => p.metadata.deletionTimestamp === undefined);
}

/** The `kid` in a JWT's header. */
export function tokenKid(token: string): string | undefined {
  const header = token.split('.')[0] ?? '';
  const parsed = JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as { kid?: string };
  return parsed.kid;
}

/** Enrolls `count` devices named `<prefix><i>` and opens their state sessions. */
export async function enrollParticipants(
  manager: ManagerClient,
  root: string,
  prefix: string,
  count: number,
  transport: (index: number) => 'websocket' | 'long-poll',
  domain: string = DOMAIN,
): Promise<{ device: Device; session: StateSession; transport: 'websocket' | 'long-poll' }[]> {
  const participants = [];
  for (let i = 0; i < count; i++) {
    const device = await enrollDevice(
      manager,
      `${prefix}${i}`,
      join(root, `${prefix}${i}`),
      domain,
    );
    participants.push({ device, session: await openSession(device), transport: transport(i) });
  }
  return participants;
}
