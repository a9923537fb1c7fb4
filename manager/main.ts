import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CliError, ExitCode } from '../client/cli/cli-error.js';
import { KubeClient } from '../kube/kube-client.js';
import { stopOnSignals } from '../contracts/graceful-shutdown.js';
import { jsonLogger, type Logger } from '../contracts/logger.js';
import type { AddressInfo } from 'node:net';
import { listenAddresses } from '../contracts/listen-address.js';
import { DEFAULT_METRICS_PORT, startMetricsServer } from '../contracts/metrics-server.js';
import { connectRedis, type RedisTarget } from '../contracts/redis/connection.js';
import { RedisHealth, redactRedisUrl } from '../contracts/redis/redis-health.js';
import type { ConfigSource } from './config-source/config-source.js';
import { KubeConfigSource } from './config-source/kube-config-source.js';
import { LocalConfigSource } from './config-source/local-config-source.js';
import { createManagerApp, isStorageError } from './manager-app.js';
import { LIMIT_FLAGS, LIMITS_HELP, limitsFromFlags, type ManagerLimits } from './limits.js';
import { ManagerMetrics } from './metrics.js';
import type { BootstrapOutcome } from './store/manager-store.js';
import { RedisManagerStore } from './store/redis-manager-store.js';
import { RedisBridgeRecords } from './bridge/bridge-records.js';
import {
  PoolRedisAuth,
  parsePoolRef,
  pingWithin,
  poolRedisTarget,
  storageProblem,
  watchPoolRedisTarget,
  type PoolRef,
} from './redis-access.js';

export const MANAGER_HELP = `grove manager — the Manager (admin API, enrollment, web UI)

Usage:
  grove manager [--port 8080] [--host 0.0.0.0] --config FILE [--redis URL]
  grove manager [--port 8080] [--host 0.0.0.0] [--kubeconfig FILE] [--namespace NS] --redis URL [--redis-cluster]
                [--redis-relay-pool NS/NAME]

  --config FILE      local mode: Domains, Policies and RelayPools from the local config file;
                     Redis defaults to the LocalStack's redis port
  --kubeconfig FILE  cluster mode (in-cluster when KUBERNETES_SERVICE_HOST is set and no --config)
  --namespace NS     watch one namespace (default: all)
  --redis URL        redis://host:port, or with --redis-cluster a comma-separated list of seeds
  --redis-relay-pool NS/NAME
                     cluster mode: --redis is that RelayPool's built-in Redis; its password is read
                     from the Secret NAME-redis-auth (when GROVE_REDIS_PASSWORD is not set), and
                     while the pool does not exist yet the Manager serves and says so
  --ui-dir DIR       folder of the web UI (default: the bundled one)
  --degraded-ready-after S
                     /readyz?degraded=ok (the chart's readiness probe) answers 200 while Redis
                     does not only after S seconds up (default 15; 0: at once), so a new pod that
                     reaches Redis sooner is Ready only once it serves
  --metrics-port N   serve GET /metrics on this port of --host (default ${DEFAULT_METRICS_PORT}; 0 picks a
                     free one); the public --port answers /metrics with 404

Limits (docs/manager-api.md#limits):
${LIMITS_HELP}
Environment: GROVE_REDIS_PASSWORD (Redis password), GROVE_BOOTSTRAP_TOKEN (a server-admin
token named "bootstrap", created or kept at start; a revoked one is never made again, a new
value replaces and revokes the previous one).
`;

/** A usage error: bin/grove-cli.ts prints it as {"error":{"code":"USAGE"}} and exits 2. */
export class ManagerUsageError extends CliError {
  constructor(message: string) {
    super('USAGE', message, ExitCode.usage);
    this.name = 'ManagerUsageError';
  }
}

export interface ManagerOptions {
  port: number;
  host: string;
  /** Port of /metrics, apart from the public port (0: a free one). */
  metricsPort: number;
  mode:
    { kind: 'local'; config: string } | { kind: 'kube'; kubeconfig?: string; namespace?: string };
  redis?: RedisTarget;
  /** Timeouts, connection cap, rate limits, trusted proxies, audit cap (limits.ts). */
  limits?: ManagerLimits;
  /** The RelayPool whose built-in Redis `redis` is (cluster mode). */
  redisRelayPool?: PoolRef;
  uiDir?: string;
  /** How long /readyz?degraded=ok waits for Redis before it answers 200 without it. */
  degradedReadyAfterMs: number;
}

/** Parses `grove manager` flags (pure: the environment is passed in). */
export function parseManagerArgs(args: string[], env: NodeJS.ProcessEnv): ManagerOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        port: { type: 'string', default: '8080' },
        host: { type: 'string', default: '0.0.0.0' },
        config: { type: 'string' },
        kubeconfig: { type: 'string' },
        namespace: { type: 'string' },
        redis: { type: 'string' },
        'redis-cluster': { type: 'boolean', default: false },
        'redis-relay-pool': { type: 'string' },
        'ui-dir': { type: 'string' },
        'metrics-port': { type: 'string', default: String(DEFAULT_METRICS_PORT) },
        'degraded-ready-after': { type: 'string', default: '15' },
        ...LIMIT_FLAGS,
      },
      strict: true,
    }));
  } catch (error) {
    throw new ManagerUsageError(error instanceof Error ? error.message : String(error));
  }
  const limits = limitsFromFlags(values);
  if (typeof limits === 'string') throw new ManagerUsageError(limits);
  const tcpPort = (flag: string, text: string): number => {
    const value = Number(text);
    if (text.trim() === '' || !Number.isInteger(value) || value < 0 || value > 65535) {
      throw new ManagerUsageError(
        `--${flag} must be a TCP port (0-65535), got ${JSON.stringify(text)}`,
      );
    }
    return value;
  };
  const port = tcpPort('port', values.port);
  const metricsPort = tcpPort('metrics-port', values['metrics-port']);
  if (port !== 0 && metricsPort === port) {
    throw new ManagerUsageError(
      `--metrics-port must differ from --port (${String(port)}): /metrics is never served on the public port`,
    );
  }
  const graceText = values['degraded-ready-after'];
  const grace = Number(graceText);
  if (graceText.trim() === '' || !Number.isFinite(grace) || grace < 0 || grace > 3600) {
    throw new ManagerUsageError(
      `--degraded-ready-after must be a number of seconds from 0 to 3600, got ${JSON.stringify(graceText)}`,
    );
  }
  if (values.config !== undefined && values.kubeconfig !== undefined) {
    throw new ManagerUsageError(
      'give --config (local mode) or --kubeconfig (cluster mode), not both',
    );
  }
  let mode: ManagerOptions['mode'];
  if (values.config !== undefined) mode = { kind: 'local', config: values.config };
  else if (values.kubeconfig !== undefined || (env.KUBERNETES_SERVICE_HOST ?? '') !== '') {
    mode = {
      kind: 'kube',
      ...(values.kubeconfig === undefined ? {} : { kubeconfig: values.kubeconfig }),
      ...(values.namespace === undefined ? {} : { namespace: values.namespace }),
    };
  } else {
    throw new ManagerUsageError(
      'give --config FILE (local mode) or --kubeconfig FILE (cluster mode; in a pod the service account is used)',
    );
  }
  if (mode.kind === 'kube' && values.redis === undefined) {
    throw new ManagerUsageError('--redis URL is required in cluster mode');
  }
  let redisRelayPool: PoolRef | undefined;
  if (values['redis-relay-pool'] !== undefined) {
    if (mode.kind !== 'kube')
      throw new ManagerUsageError('--redis-relay-pool needs cluster mode (not --config)');
    redisRelayPool = parsePoolRef(values['redis-relay-pool']);
    if (redisRelayPool === undefined) {
      throw new ManagerUsageError(
        `--redis-relay-pool must be NAMESPACE/NAME, got ${JSON.stringify(values['redis-relay-pool'])}`,
      );
    }
  }
  const password = env.GROVE_REDIS_PASSWORD;
  const redis =
    values.redis === undefined
      ? undefined
      : {
          url: values.redis,
          cluster: values['redis-cluster'],
          ...(password === undefined || password === '' ? {} : { password }),
        };
  return {
    port,
    host: values.host,
    metricsPort,
    degradedReadyAfterMs: Math.round(grace * 1000),
    mode,
    ...(redis === undefined ? {} : { redis }),
    limits,
    ...(redisRelayPool === undefined ? {} : { redisRelayPool }),
    ...(values['ui-dir'] === undefined ? {} : { uiDir: values['ui-dir'] }),
  };
}

/** The bundled web UI (manager/ui/dist, or manager/ui when it has an index.html), if present. */
function defaultUiDir(): string | undefined {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const candidate of [path.join(here, 'ui', 'dist'), path.join(here, 'ui')]) {
    if (existsSync(path.join(candidate, 'index.html'))) return candidate;
  }
  return undefined;
}

/**
 * How long /readyz waits for Redis to answer a PING: under the 1 s in which the chart's
 * readiness probe (kubelet's default timeout) gives up, so that /readyz?degraded=ok still
 * answers while the Redis cannot be reached at all.
 */
const READY_PING_TIMEOUT_MS = 800;

/** What a running Manager tells its owner. */
export interface ManagerEvents {
  /**
   * Its RelayPool calls for another Redis than the one it connected to (see
   * watchPoolRedisTarget): the owner stops it and starts it again, which reads the pool anew.
   */
  redisTargetChanged?: (target: RedisTarget) => void;
}

export interface RunningManager {
  url: string;
  stop(): Promise<void>;
}

/** Starts the Manager; resolves once it listens. */
export async function startManager(
  options: ManagerOptions,
  env: NodeJS.ProcessEnv,
  log: Logger,
  events: ManagerEvents = {},
): Promise<RunningManager> {
  let config: ConfigSource;
  let kube: KubeClient | undefined;
  let redisTarget = options.redis;
  if (options.mode.kind === 'local') {
    const local = new LocalConfigSource(options.mode.config);
    await local.start();
    config = local;
    if (redisTarget === undefined) {
      const port = local.loaded?.stack.spec.redis.port ?? 6390;
      const password = env.GROVE_REDIS_PASSWORD;
      redisTarget = {
        url: `redis://127.0.0.1:${port}`,
        cluster: false,
        ...(password === undefined || password === '' ? {} : { password }),
      };
    }
  } else {
    kube = await KubeClient.fromKubeConfig({
      ...(options.mode.kubeconfig === undefined ? {} : { kubeconfigPath: options.mode.kubeconfig }),
      env,
      userAgent: 'grove-manager',
    });
    config = new KubeConfigSource(kube, {
      ...(options.mode.namespace === undefined ? {} : { namespace: options.mode.namespace }),
      log,
    });
    await config.start();
  }
  if (redisTarget === undefined) throw new ManagerUsageError('--redis URL is required');
  const pool = options.redisRelayPool;
  if (pool !== undefined && kube !== undefined) {
    const fallback = redisTarget;
    redisTarget = await poolRedisTarget(kube, pool, fallback, log);
    const { redisTargetChanged } = events;
    if (redisTargetChanged !== undefined && config instanceof KubeConfigSource) {
      const current = redisTarget;
      watchPoolRedisTarget(config, pool, fallback, current, (target) => {
        log.warn('the RelayPool’s Redis moved: the Manager starts again on it', {
          relayPool: `${pool.namespace}/${pool.name}`,
          from: redactRedisUrl(current.url),
          to: redactRedisUrl(target.url),
        });
        redisTargetChanged(target);
      });
    }
  }
  const poolAuth =
    pool !== undefined && kube !== undefined && redisTarget.password === undefined
      ? new PoolRedisAuth(kube, pool, log)
      : undefined;
  // A password already in the Secret is used for the very first connection.
  const firstPassword = await poolAuth?.password().catch(() => undefined);
  const redis = connectRedis(
    firstPassword === undefined
      ? redisTarget
      : {
          ...redisTarget,
          password: firstPassword,
          // A replicated pool's Sentinels ask for the same password.
          ...(redisTarget.url.startsWith('sentinel://') ? { sentinelPassword: firstPassword } : {}),
        },
    'commands',
  );
  const health = new RedisHealth(log, { target: redactRedisUrl(redisTarget.url) });
  health.watch(redis, 'commands');
  poolAuth?.keepCurrent(redis, health);
  const problem = () =>
    storageProblem({
      redisUrl: redactRedisUrl(redisTarget.url),
      lastError: health.state.lastError,
      ...(pool === undefined
        ? {}
        : {
            pool,
            ...(config instanceof KubeConfigSource
              ? { poolExists: config.relayPoolExists(pool.namespace, pool.name) }
              : {}),
            ...(poolAuth?.hasSecret === undefined ? {} : { hasSecret: poolAuth.hasSecret }),
          }),
    });
  const store = new RedisManagerStore(
    redis,
    options.limits === undefined ? {} : { auditMaxFailures: options.limits.auditMaxFailures },
  );
  // Not awaited: the Manager serves (degraded) until its Redis answers, e.g. before the
  // RelayPool whose Redis it uses exists. The token is stored as soon as Redis is there.
  const bootstrap = ensureBootstrap(store, env.GROVE_BOOTSTRAP_TOKEN, log, problem);
  const uiDir = options.uiDir ?? defaultUiDir();
  const metrics = new ManagerMetrics({ processMetrics: true });
  // Metrics first: a Manager whose metrics port is taken fails before it serves anyone.
  const metricsServer = await startMetricsServer({
    host: options.host,
    port: options.metricsPort,
    registry: metrics.registry,
  });
  const app = await createManagerApp({
    store,
    bridges: new RedisBridgeRecords(redis),
    config,
    log,
    metrics,
    ping: () => pingWithin(() => redis.ping(), READY_PING_TIMEOUT_MS),
    storageProblem: problem,
    started: () => bootstrap.done,
    degradedReadyAfterMs: options.degradedReadyAfterMs,
    ...(options.limits === undefined ? {} : { limits: options.limits }),
    ...(uiDir === undefined ? {} : { uiDir }),
  });
  let address: string;
  try {
    address = await app.listen({ port: options.port, host: options.host });
  } catch (error) {
    await metricsServer.close();
    throw error;
  }
  log.info('manager listening', {
    ...listenAddresses(app.server.address() as AddressInfo, 'http'),
    metricsAddress: metricsServer.address,
    mode: options.mode.kind,
    domains: config.listDomains().map((d) => d.domain.metadata.name),
    ui: uiDir ?? null,
  });
  return {
    url: address,
    stop: async () => {
      bootstrap.stop();
      poolAuth?.stop();
      await app.close();
      await metricsServer.close();
      await config.stop();
      kube?.close();
      redis.disconnect();
    },
  };
}

/**
 * Stores the bootstrap admin token (GROVE_BOOTSTRAP_TOKEN) once Redis answers, retrying every
 * 2 s until then; `done` is true once stored (or when there is none to store).
 */
function ensureBootstrap(
  store: RedisManagerStore,
  token: string | undefined,
  log: Logger,
  problem: () => string,
): { readonly done: boolean; stop(): void } {
  const state = { done: token === undefined || token === '', stopped: false };
  let timer: NodeJS.Timeout | undefined;
  let warned = false;
  const attempt = () => {
    if (state.done || state.stopped || token === undefined) return;
    store.ensureBootstrapToken(token, new Date()).then(
      (outcome) => {
        state.done = true;
        logBootstrapOutcome(log, outcome);
      },
      (error: unknown) => {
        if (!isStorageError(error)) {
          // Not Redis being away: retrying would not help, and must not hold readiness forever.
          state.done = true;
          log.error('cannot store the bootstrap admin token', {
            error: error instanceof Error ? error.message : String(error),
          });
          return;
        }
        if (!warned) {
          warned = true;
          log.warn('waiting for Redis to store the bootstrap admin token', { reason: problem() });
        }
        if (!state.stopped) timer = setTimeout(attempt, 2000);
      },
    );
  };
  attempt();
  return {
    get done() {
      return state.done;
    },
    stop() {
      state.stopped = true;
      if (timer !== undefined) clearTimeout(timer);
    },
  };
}

/** Says what GROVE_BOOTSTRAP_TOKEN did at this start (docs/helm.md#the-bootstrap-admin-token). */
export function logBootstrapOutcome(log: Logger, outcome: BootstrapOutcome): void {
  if (outcome === 'revoked') {
    log.warn(
      'GROVE_BOOTSTRAP_TOKEN holds a revoked admin token: not made again; set a new value to rotate it, or leave it unset',
    );
  } else if (outcome === 'replaced') {
    log.info('bootstrap admin token rotated: the previous one is revoked');
  } else {
    log.info(
      outcome === 'created'
        ? 'stored the bootstrap admin token'
        : 'the bootstrap admin token is stored already',
    );
  }
}

/** `grove manager`: runs until SIGTERM/SIGINT, then closes the listener and its connections. */
export async function runManager(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(MANAGER_HELP);
    return;
  }
  const options = parseManagerArgs(args, env);
  const log = jsonLogger('manager');
  // Started again, in this process, whenever its RelayPool calls for another Redis: the new
  // start reads the pool anew. A call while it is (re)starting is honoured once it has.
  const state: {
    manager: RunningManager | undefined;
    restartWanted: boolean;
    restarting: Promise<void> | undefined;
  } = { manager: undefined, restartWanted: false, restarting: undefined };
  const restart = () => {
    state.restartWanted = true;
    if (state.manager === undefined || state.restarting !== undefined) return;
    state.restarting = (async () => {
      while (state.restartWanted) {
        state.restartWanted = false;
        await state.manager?.stop();
        state.manager = undefined;
        state.manager = await startManager(options, env, log, events);
      }
    })()
      .catch((error: unknown) => {
        log.error('the Manager could not start again; exiting', {
          error: error instanceof Error ? error.message : String(error),
        });
        process.exit(1);
      })
      .finally(() => {
        state.restarting = undefined;
      });
  };
  const events: ManagerEvents = { redisTargetChanged: restart };
  state.manager = await startManager(options, env, log, events);
  if (state.restartWanted) restart();
  stopOnSignals(log, {
    stop: async () => {
      await state.restarting;
      await state.manager?.stop();
    },
    graceMs: 10_000,
  });
}
