/**
 * The RelayPool with a replicated built-in Redis (spec.redis.builtin.highAvailability) that
 * scenario 7 runs, its Domain, and what the scenario reads and breaks: status.redis, the
 * StatefulSet of the primary and its replicas, a pod together with its volume.
 */
import { relayPoolService } from './access.js';
import { e2eEnv } from './env.js';
import {
  describeObject,
  imageValues,
  installRelease,
  releaseInstalled,
  waitManagerServing,
  waitPoolSettled,
} from './grove.js';
import {
  apply,
  getObject,
  helm,
  isReadyNow,
  kubectl,
  mustGet,
  waitFor,
  type KubeObject,
} from './kube.js';

export const HA_POOL = 'ha';
/** A pool of relays only, on the HA pool's store (spec.redis.relayPool): the Domain's failover. */
export const FAILOVER_POOL = 'ha-fo';
export const HA_DOMAIN = 'e2e-ha';
/** Relays of the HA pool. */
export const HA_RELAYS = 2;

export interface RedisReplicaStatus {
  pod: string;
  state: string;
  lagBytes: number;
  lastAckSeconds: number;
}

export interface RedisStatus {
  primary?: string;
  replicas?: RedisReplicaStatus[];
  error?: string;
}

export function haPoolManifest(redisReplicas: number): string {
  const env = e2eEnv();
  const builtin: Record<string, unknown> = {
    storage: '256Mi',
    highAvailability: { replicas: redisReplicas, replicaAcks: 1 },
  };
  if (env.storageClass !== '') builtin.storageClassName = env.storageClass;
  return JSON.stringify({
    apiVersion: 'grove.dev/v1alpha1',
    kind: 'RelayPool',
    metadata: { name: HA_POOL, namespace: env.namespace },
    spec: { replicas: HA_RELAYS, service: relayPoolService(), redis: { builtin } },
  });
}

export function failoverPoolManifest(): string {
  return JSON.stringify({
    apiVersion: 'grove.dev/v1alpha1',
    kind: 'RelayPool',
    metadata: { name: FAILOVER_POOL, namespace: e2eEnv().namespace },
    spec: {
      replicas: HA_RELAYS,
      service: relayPoolService(),
      redis: { relayPool: { name: HA_POOL } },
    },
  });
}

export function haDomainManifest(pools: readonly string[] = [HA_POOL, FAILOVER_POOL]): string {
  return JSON.stringify({
    apiVersion: 'grove.dev/v1alpha1',
    kind: 'Domain',
    metadata: { name: HA_DOMAIN, namespace: e2eEnv().namespace },
    spec: { displayName: 'End-to-end suite, replicated store', relayPools: pools },
  });
}

/** The Redis the chart's Manager keeps its directory in: the HA pool's, through its Sentinels. */
const MANAGER_ON_HA_POOL = ['--set', `manager.redis.relayPool=${HA_POOL}`];

/**
 * The release with its Manager on the HA pool's store: installed so when absent (after
 * scenario 6 uninstalled it), upgraded to it when it uses another pool or another image.
 */
export async function ensureReleaseOnHaPool(): Promise<void> {
  const env = e2eEnv();
  if (!(await releaseInstalled())) {
    await installRelease(MANAGER_ON_HA_POOL);
    return;
  }
  const values = JSON.parse(
    await helm(['get', 'values', env.release, '-n', env.namespace, '-o', 'json']),
  ) as { manager?: { redis?: { relayPool?: string } }; image?: { tag?: string } };
  // A cluster kept from an earlier run may hold a release of an older image: this scenario
  // tests what the operator of this tree builds.
  const tag = values.image?.tag;
  const current = tag === env.image.tag || (env.altTag !== '' && tag === env.altTag);
  if (values.manager?.redis?.relayPool === HA_POOL && current) return;
  await helm(
    [
      'upgrade',
      env.release,
      env.chart,
      '-n',
      env.namespace,
      '--reuse-values',
      ...imageValues(),
      ...MANAGER_ON_HA_POOL,
      '--wait',
      '--timeout',
      '240s',
    ],
    { timeoutMs: 300_000 },
  );
}

export async function redisStatus(pool: string = HA_POOL): Promise<RedisStatus> {
  const object = await mustGet('relaypool', pool);
  return (object.status as { redis?: RedisStatus } | undefined)?.redis ?? {};
}

/** The Redis pods of the HA pool that exist and are not being deleted, by name. */
export async function redisPods(pool: string = HA_POOL): Promise<KubeObject[]> {
  const list = JSON.parse(
    await kubectl([
      '-n',
      e2eEnv().namespace,
      'get',
      'pods',
      '-l',
      `app.kubernetes.io/component=redis,app.kubernetes.io/instance=${pool}`,
      '-o',
      'json',
    ]),
  ) as { items: KubeObject[] };
  return list.items.filter((p) => p.metadata.deletionTimestamp === undefined);
}

/**
 * Waits until status.redis names a primary and exactly `replicas` replicas, all `online`
 * (in sync), and `accept` agrees; returns that status.
 */
export async function waitReplicated(
  replicas: number,
  options: { timeoutMs?: number; accept?: (status: RedisStatus) => boolean } = {},
): Promise<RedisStatus> {
  return waitFor(
    `status.redis of ${HA_POOL}: a primary and ${replicas} replicas online`,
    async () => {
      const status = await redisStatus();
      const online = (status.replicas ?? []).filter((r) => r.state === 'online');
      const ok =
        status.primary !== undefined &&
        status.replicas?.length === replicas &&
        online.length === replicas &&
        (options.accept?.(status) ?? true);
      return ok ? status : undefined;
    },
    {
      timeoutMs: options.timeoutMs ?? 180_000,
      intervalMs: 250,
      describe: () => describeObject('relaypool', HA_POOL),
    },
  );
}

/** The StatefulSet of the Redis pods with `pods` pods, all ready and updated. */
export async function waitRedisPodsReady(pods: number, timeoutMs = 240_000): Promise<void> {
  const name = `${HA_POOL}-redis`;
  await waitFor(
    `StatefulSet ${name}: ${pods} pods ready and updated`,
    async () => {
      const set = await mustGet('statefulset', name);
      const spec = set.spec as { replicas?: number };
      const s = set.status as {
        observedGeneration?: number;
        readyReplicas?: number;
        updatedReplicas?: number;
        currentRevision?: string;
        updateRevision?: string;
      };
      return spec.replicas === pods &&
        s.observedGeneration === set.metadata.generation &&
        s.readyReplicas === pods &&
        s.updatedReplicas === pods &&
        s.currentRevision === s.updateRevision
        ? true
        : undefined;
    },
    { timeoutMs, describe: () => describeObject('statefulset', name) },
  );
}

/**
 * The release on the HA pool, the pool (3 Redis pods, 2 relays), the failover pool on its
 * store (2 relays) and their Domain, all Ready.
 */
export async function ensureHaPool(): Promise<{ readyMs: number }> {
  const started = performance.now();
  const ns = e2eEnv().namespace;
  const existing = await getObject('relaypool', HA_POOL);
  const spec = existing?.spec as
    | { replicas?: number; redis?: { builtin?: { highAvailability?: { replicas?: number } } } }
    | undefined;
  // A pool an earlier run scaled up cannot be scaled down, nor be trusted after a failed run:
  // start again from nothing.
  const stale =
    existing !== undefined &&
    (spec?.replicas !== HA_RELAYS || spec.redis?.builtin?.highAvailability?.replicas !== 2);
  if (stale) {
    const wait = ['--ignore-not-found', '--wait=true', '--timeout=120s'];
    await kubectl(['-n', ns, 'delete', 'relaypool', HA_POOL, FAILOVER_POOL, ...wait], {
      timeoutMs: 150_000,
    });
    await kubectl(
      ['-n', ns, 'delete', 'pvc', '-l', `app.kubernetes.io/instance=${HA_POOL}`, ...wait],
      {
        timeoutMs: 150_000,
      },
    );
  }
  // After removing a stale pool: the Manager may wait for its store, helm's --wait with it.
  await ensureReleaseOnHaPool();
  if (existing === undefined || stale) await apply(haPoolManifest(2));
  await apply(failoverPoolManifest());
  await apply(haDomainManifest());
  await waitPoolSettled(HA_RELAYS, 240_000, HA_POOL);
  await waitPoolSettled(HA_RELAYS, 240_000, FAILOVER_POOL);
  await waitFor('Domain e2e-ha Ready', async () =>
    isReadyNow(await mustGet('domain', HA_DOMAIN)) ? true : undefined,
  );
  await waitRedisPodsReady(3);
  await waitReplicated(2);
  // The Manager keeps its records in this store: a new, empty one needs a Manager that starts
  // on it (it stores its bootstrap token at start).
  if (stale)
    await kubectl(['-n', ns, 'rollout', 'restart', 'deployment', `${e2eEnv().release}-manager`]);
  await waitManagerServing();
  return { readyMs: Math.round(performance.now() - started) };
}

/**
 * Deletes a Redis pod and its volume at once, as the loss of a node with its disk does:
 * the PersistentVolumeClaim first (it goes once no pod uses it, and its volume with it: the
 * class's reclaim policy), then the pod, forced, without grace. The StatefulSet makes a new
 * pod with a new, empty volume.
 */
export async function deletePodAndVolume(pod: string): Promise<{ volume: string }> {
  const ns = e2eEnv().namespace;
  const claim = await mustGet('pvc', `data-${pod}`);
  const volume = (claim.spec as { volumeName?: string }).volumeName ?? '';
  await kubectl(['-n', ns, 'delete', 'pvc', `data-${pod}`, '--wait=false']);
  await kubectl(['-n', ns, 'delete', 'pod', pod, '--grace-period=0', '--force', '--wait=false']);
  return { volume };
}

/** Patches spec.redis.builtin.highAvailability.replicas of the HA pool. */
export async function scaleRedisReplicas(replicas: number): Promise<void> {
  await kubectl([
    '-n',
    e2eEnv().namespace,
    'patch',
    'relaypool',
    HA_POOL,
    '--type',
    'merge',
    '-p',
    JSON.stringify({ spec: { redis: { builtin: { highAvailability: { replicas } } } } }),
  ]);
}

/**
 * The lines of a Redis pod's log where its server, as a primary, said it accepts connections
 * (`<pid>:M … Ready to accept connections`): a server started as a replica logs them as `S`.
 */
export async function servedAsPrimary(pod: string): Promise<string[]> {
  const log = await kubectl(['-n', e2eEnv().namespace, 'logs', pod, '-c', 'redis', '--tail=2000']);
  return log.split('\n').filter((line) => /^\d+:M .*Ready to accept connections/.test(line));
}

/** `kubectl scale relaypool` of one of the scenario's pools. */
export async function scaleRelays(pool: string, replicas: number): Promise<void> {
  await kubectl(['-n', e2eEnv().namespace, 'scale', 'relaypool', pool, `--replicas=${replicas}`]);
}
