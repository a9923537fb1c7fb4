import type { V1Container, V1PodDisruptionBudget } from '@kubernetes/client-node';
import type { BuiltinRedisHa, RelayPool } from '../../../crds/relaypool.js';
import type { KubeObject } from '../../../kube/kube-object.js';
import { childMetadata, containerSecurityContext, selectorLabels, type Plain } from './metadata.js';
import { poolIdentity, relayPoolNames } from './names.js';
import { REDIS_PORT } from './relay-config.js';

/**
 * The built-in Redis with high availability (spec.redis.builtin.highAvailability): one
 * StatefulSet `<pool>-redis` of 1 + replicas pods, each with a Redis and a Sentinel. Pod 0 is
 * the first primary; afterwards the Sentinels decide. A pod that starts asks the Sentinels
 * which pod is the primary and replicates from it (or is it), so a replaced pod or volume comes
 * back as a replica and catches up, never as a second primary. Relays reach the primary through
 * the Sentinels (sentinel:// with every pod's address) and acknowledge a send only once
 * `replicaAcks` replicas have it (WAITAOF).
 */

export const SENTINEL_PORT = 26379;
/** The name the Sentinels monitor the primary under. */
export const SENTINEL_MASTER_NAME = 'grove';
/** Where each container writes the config it generates at start (an emptyDir). */
export const REDIS_RUN_DIR = '/etc/redis-run';

export function builtinRedisHa(pool: RelayPool): BuiltinRedisHa | undefined {
  return 'builtin' in pool.spec.redis ? pool.spec.redis.builtin.highAvailability : undefined;
}

/** Redis pods of a built-in Redis: 1, or the primary and its replicas. */
export function redisPodCount(pool: RelayPool): number {
  return 1 + (builtinRedisHa(pool)?.replicas ?? 0);
}

/** The stable DNS names of the Redis pods, through the headless Service. */
export function redisPodHosts(pool: RelayPool): string[] {
  const { name, namespace } = poolIdentity(pool);
  const { redis } = relayPoolNames(name);
  return Array.from(
    { length: redisPodCount(pool) },
    (_, i) => `${redis}-${i}.${redis}.${namespace}.svc`,
  );
}

/** sentinel://every pod's Sentinel/grove: what the relays of an HA pool connect to. */
export function builtinSentinelUrl(pool: RelayPool): string {
  const hosts = redisPodHosts(pool).map((host) => `${host}:${SENTINEL_PORT}`);
  return `sentinel://${hosts.join(',')}/${SENTINEL_MASTER_NAME}`;
}

/** A majority of the Sentinels (one per pod). */
export function sentinelQuorum(pool: RelayPool): number {
  return Math.floor(redisPodCount(pool) / 2) + 1;
}

/**
 * Shell shared by both containers: the pod's own address, and the primary as the Sentinels
 * see it (the first Sentinel of another pod that answers), else pod 0 (the first start). The
 * password reaches redis-cli in REDISCLI_AUTH, never on a command line.
 *
 * A Sentinel that names this very pod remembers it from before it was replaced: the other
 * Sentinels have not yet seen it go (down-after-milliseconds). Starting as that primary would
 * serve whatever this pod's volume holds, nothing when the volume was lost, and the replicas
 * would then copy it: every queued message gone (seen on a real cluster, where the pod came
 * back in 5 s). So the pod asks those Sentinels to fail over at once (SENTINEL FAILOVER
 * promotes the replica furthest ahead) and waits, at most `failoverWaitSeconds`, until they
 * name another pod; `$primary_is_stale` tells the caller whether they never did.
 */
function findPrimaryScript(pool: RelayPool, authDir: string): string {
  const { name, namespace } = poolIdentity(pool);
  const { redis } = relayPoolNames(name);
  const domain = `${redis}.${namespace}.svc`;
  const others = `for host in ${redisPodHosts(pool).join(' ')}; do [ "$host" = "$self" ] && continue`;
  const sentinel = `timeout 3 redis-cli --no-auth-warning -h "$host" -p ${SENTINEL_PORT} sentinel`;
  return [
    'set -eu',
    `self="$POD_NAME.${domain}"`,
    `REDISCLI_AUTH="$(cat ${authDir}/password)"`,
    'export REDISCLI_AUTH',
    'ask_primary() {',
    `  ${others}`,
    `    answer="$(${sentinel} get-master-addr-by-name ${SENTINEL_MASTER_NAME} 2>/dev/null | head -n 1 || true)"`,
    '    case "$answer" in ""|*ERR*|*NOAUTH*|*WRONGPASS*) ;; *) echo "$answer"; return 0 ;; esac',
    '  done',
    '  return 0',
    '}',
    'primary="$(ask_primary)"',
    'primary_is_stale=no',
    'waited=0',
    'while [ "$primary" = "$self" ]; do',
    `  if [ "$waited" -ge ${failoverWaitSeconds(pool)} ]; then primary_is_stale=yes; break; fi`,
    '  if [ $((waited % 5)) -eq 0 ]; then',
    `    echo "the Sentinels still name this pod the primary: asking them to fail over" >&2`,
    // INPROG while a failover runs, NOGOODSLAVE while no replica can take over: ask again.
    `    ${others}; ${sentinel} failover ${SENTINEL_MASTER_NAME} >/dev/null 2>&1 && break; done || true`,
    '  fi',
    '  sleep 1',
    '  waited=$((waited + 1))',
    '  primary="$(ask_primary)"',
    'done',
    `[ -n "$primary" ] || primary="${redis}-0.${domain}"`,
  ].join('\n');
}

/**
 * How long a replaced pod waits for the Sentinels to name another primary: their
 * down-after-milliseconds, the election, and a margin. Below the Redis container's liveness
 * budget would not matter: a restarted container waits again.
 */
export function failoverWaitSeconds(pool: RelayPool): number {
  const downAfter = builtinRedisHa(pool)?.downAfterMilliseconds ?? 5000;
  return Math.ceil(downAfter / 1000) + 20;
}

/** The Redis container's start: config from the password file, then primary or replica. */
export function redisHaStartScript(
  pool: RelayPool,
  authDir: string,
  dataDir: string,
  serverArgs: string[],
): string {
  const quoted = serverArgs.map((arg) => `'${arg.replaceAll("'", `'"'"'`)}'`).join(' ');
  return [
    findPrimaryScript(pool, authDir),
    `conf=${REDIS_RUN_DIR}/redis.conf`,
    '{',
    `  echo "include ${authDir}/redis.conf"`,
    // The same quoted password, as the replicas' credential towards the primary.
    `  sed 's/^requirepass /masterauth /' ${authDir}/redis.conf`,
    '  echo "replica-announce-ip $self"',
    '} > "$conf"',
    'if [ "$primary" = "$self" ]; then',
    // Still named after the wait: with its data this pod may serve again (every write it
    // acknowledged is in its AOF); without, it would hand the replicas an empty store.
    `  if [ "$primary_is_stale" = yes ] && [ ! -e ${dataDir}/appendonlydir ] && [ ! -e ${dataDir}/appendonly.aof ]; then`,
    '    echo "the Sentinels still name this pod, whose volume is empty, the primary: not starting an empty primary" >&2',
    '    exit 1',
    '  fi',
    `  exec redis-server "$conf" ${quoted}`,
    'fi',
    `exec redis-server "$conf" ${quoted} --replicaof "$primary" ${REDIS_PORT}`,
  ].join('\n');
}

/** The Sentinel container's start: a fresh config monitoring the current primary. */
export function sentinelStartScript(pool: RelayPool, ha: BuiltinRedisHa, authDir: string): string {
  const master = SENTINEL_MASTER_NAME;
  return [
    findPrimaryScript(pool, authDir),
    `conf=${REDIS_RUN_DIR}/sentinel.conf`,
    '{',
    `  echo "port ${SENTINEL_PORT}"`,
    `  echo "dir ${REDIS_RUN_DIR}"`,
    '  echo "sentinel resolve-hostnames yes"',
    '  echo "sentinel announce-hostnames yes"',
    '  echo "sentinel announce-ip $self"',
    `  echo "sentinel monitor ${master} $primary ${REDIS_PORT} ${sentinelQuorum(pool)}"`,
    `  echo "sentinel down-after-milliseconds ${master} ${ha.downAfterMilliseconds}"`,
    `  echo "sentinel failover-timeout ${master} ${Math.max(ha.downAfterMilliseconds * 2, 10_000)}"`,
    `  echo "sentinel parallel-syncs ${master} 1"`,
    // The Sentinel's password towards the Redis pods, and its own (the same one).
    `  sed 's/^requirepass /sentinel auth-pass ${master} /' ${authDir}/redis.conf`,
    `  cat ${authDir}/redis.conf`,
    '} > "$conf"',
    'exec redis-server "$conf" --sentinel',
  ].join('\n');
}

/** The Sentinel container of each Redis pod. */
export function sentinelContainer(
  pool: RelayPool,
  ha: BuiltinRedisHa,
  image: string,
  authDir: string,
): Plain<V1Container> {
  return {
    name: 'sentinel',
    image,
    command: ['sh', '-c', sentinelStartScript(pool, ha, authDir)],
    env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
    ports: [{ name: 'sentinel', containerPort: SENTINEL_PORT, protocol: 'TCP' }],
    readinessProbe: { tcpSocket: { port: 'sentinel' }, periodSeconds: 5 },
    livenessProbe: { tcpSocket: { port: 'sentinel' }, periodSeconds: 10, failureThreshold: 3 },
    resources: {
      requests: { cpu: '10m', memory: '16Mi' },
      limits: { memory: '64Mi' },
    },
    securityContext: containerSecurityContext(),
    volumeMounts: [
      { name: 'run', mountPath: REDIS_RUN_DIR },
      { name: 'auth', mountPath: authDir, readOnly: true },
    ],
  };
}

/**
 * At most one Redis pod voluntarily down at a time (a node drain): the Sentinels keep their
 * majority and at least one replica stays in sync. Undefined without highAvailability.
 */
export function buildRedisPodDisruptionBudget(pool: RelayPool): KubeObject | undefined {
  if (builtinRedisHa(pool) === undefined) return undefined;
  const { name } = poolIdentity(pool);
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: childMetadata(pool, relayPoolNames(name).redis, 'redis'),
    spec: {
      maxUnavailable: 1,
      selector: { matchLabels: selectorLabels(name, 'redis') },
    },
  } satisfies Plain<V1PodDisruptionBudget> & KubeObject;
}
