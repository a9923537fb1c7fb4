import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { stopOnSignals } from '../contracts/graceful-shutdown.js';
import { jsonLogger } from '../contracts/logger.js';
import { KubeClient } from '../kube/kube-client.js';
import { parseServiceAccountRef } from './builders/domain/signing-key-access.js';
import {
  managerBridgeDeps,
  parseBridgeServiceAccount,
} from './controllers/backupschedule-bridge.js';
import { Operator } from './operator.js';

import { OperatorUsageError } from './operator-usage-error.js';

export { OperatorUsageError };

export const OPERATOR_HELP = `grove operator [options]
  --kubeconfig FILE        kubeconfig to use (default: in-cluster, else $KUBECONFIG or ~/.kube/config)
  --namespace NS           watch one namespace (default: all)
  --image IMAGE            image of relay pods whose RelayPool sets none (default: $GROVE_IMAGE)
  --redis-image IMAGE      image of built-in Redis pods (default: the --image)
  --metrics-port N         serve /metrics here (default 8080; 0 picks a free port)
  --health-port N          serve /healthz and /readyz here (default 8081; 0 picks a free port)
  --leader-elect           run as one of several replicas; only the Lease holder reconciles
  --lease-name NAME        Lease name (default grove-operator)
  --lease-namespace NS     Lease namespace (default: $POD_NAMESPACE, else default)
  --lease-duration S       (default 15)   --renew-deadline S (default 10)   --retry-period S (default 2)
  --resync S               relist and reconcile everything this often (default 600)
  --concurrency N          reconciles at once per kind (default 2)
  --no-node-addresses      never list nodes: NodePort RelayPools then need spec.publicUrls
  --manager-service-account NS/NAME
                           may read each Domain's signing key (a Role on that one Secret and a
                           RoleBinding, made per Domain); repeatable. The Helm chart passes the
                           Manager's
  --manager-url URL        the Manager, as the operator and bridge pods reach it: BackupSchedules
                           then get a Data Bridge (its device enrolled with the admin token of
                           $GROVE_MANAGER_TOKEN or --manager-token-file FILE, never a flag)
  --bridge-service-account [NAMESPACE/]NAME   ServiceAccount of bridge pods (the chart's);
                           with NAMESPACE, bridges in other namespaces use their default one
  --bridge-status-url URL  where a bridge's /v1/status is read ({service}, {namespace} replaced;
                           default http://{service}.{namespace}.svc:8080)
  --bridge-poll S          read each bridge's status this often (default 30)`;

function seconds(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback * 1000;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0) {
    throw new OperatorUsageError(`--${flag} must be a positive number of seconds, got "${value}"`);
  }
  return parsed * 1000;
}

function port(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 65535) {
    throw new OperatorUsageError(`--${flag} must be a port number (0-65535), got "${value}"`);
  }
  return parsed;
}

function listen(server: Server, portNumber: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(portNumber, '0.0.0.0', () => {
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : portNumber);
    });
  });
}

/** The Data Bridge's access to the Manager, when --manager-url is given. */
async function bridgeOptions(
  values: {
    'manager-url'?: string | undefined;
    'manager-token-file'?: string | undefined;
    'bridge-service-account'?: string | undefined;
    'bridge-status-url'?: string | undefined;
    'bridge-poll'?: string | undefined;
  },
  env: NodeJS.ProcessEnv,
) {
  const managerUrl = values['manager-url'];
  if (managerUrl === undefined) return undefined;
  if (!/^https?:\/\//.test(managerUrl)) {
    throw new OperatorUsageError(`--manager-url must be an http(s) URL, got "${managerUrl}"`);
  }
  const file = values['manager-token-file'];
  const token =
    file === undefined ? env.GROVE_MANAGER_TOKEN : (await readFile(file, 'utf8')).trim();
  if (token === undefined || token === '') {
    throw new OperatorUsageError(
      '--manager-url needs a Manager admin token: set GROVE_MANAGER_TOKEN or --manager-token-file (from a Secret)',
    );
  }
  let serviceAccount: ReturnType<typeof parseBridgeServiceAccount> | undefined;
  const serviceAccountFlag = values['bridge-service-account'];
  if (serviceAccountFlag !== undefined) {
    try {
      serviceAccount = parseBridgeServiceAccount(serviceAccountFlag);
    } catch (error) {
      throw new OperatorUsageError(`--bridge-service-account ${(error as Error).message}`);
    }
  }
  return {
    deps: managerBridgeDeps({
      managerUrl,
      adminToken: token,
      ...(values['bridge-status-url'] === undefined
        ? {}
        : { statusUrl: values['bridge-status-url'] }),
      ...(serviceAccount === undefined ? {} : serviceAccount),
    }),
    pollMs: seconds(values['bridge-poll'], 'bridge-poll', 30),
  };
}

/** `grove operator`: runs until SIGTERM/SIGINT, then stops gracefully (releasing the Lease). */
export async function runOperator(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      kubeconfig: { type: 'string' },
      namespace: { type: 'string' },
      image: { type: 'string' },
      'redis-image': { type: 'string' },
      'metrics-port': { type: 'string' },
      'health-port': { type: 'string' },
      'leader-elect': { type: 'boolean', default: false },
      'lease-name': { type: 'string', default: 'grove-operator' },
      'lease-namespace': { type: 'string' },
      'lease-duration': { type: 'string' },
      'renew-deadline': { type: 'string' },
      'retry-period': { type: 'string' },
      resync: { type: 'string' },
      concurrency: { type: 'string' },
      'no-node-addresses': { type: 'boolean', default: false },
      'manager-service-account': { type: 'string', multiple: true },
      'manager-url': { type: 'string' },
      'manager-token-file': { type: 'string' },
      'bridge-service-account': { type: 'string' },
      'bridge-status-url': { type: 'string' },
      'bridge-poll': { type: 'string' },
    },
  });
  const bridge = await bridgeOptions(values, env);
  const signingKeyReaders = (values['manager-service-account'] ?? []).map((text) => {
    const ref = parseServiceAccountRef(text);
    if (ref === undefined) {
      throw new OperatorUsageError(
        `--manager-service-account must be NAMESPACE/NAME, got ${JSON.stringify(text)}`,
      );
    }
    return ref;
  });
  const image = values.image ?? env.GROVE_IMAGE;
  if (image === undefined || image === '') {
    throw new OperatorUsageError(
      'set --image or GROVE_IMAGE: the image relay pods run when a RelayPool names none',
    );
  }
  const concurrency = Number(values.concurrency ?? '2');
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new OperatorUsageError(
      `--concurrency must be a positive integer, got "${values.concurrency ?? ''}"`,
    );
  }
  const identity = env.POD_NAME ?? `${hostname()}_${randomUUID()}`;
  // Every flag is checked before anything connects.
  const resyncMs = seconds(values.resync, 'resync', 600);
  const leaderElection = values['leader-elect']
    ? {
        namespace: values['lease-namespace'] ?? env.POD_NAMESPACE ?? 'default',
        name: values['lease-name'],
        identity,
        leaseDurationMs: seconds(values['lease-duration'], 'lease-duration', 15),
        renewDeadlineMs: seconds(values['renew-deadline'], 'renew-deadline', 10),
        retryPeriodMs: seconds(values['retry-period'], 'retry-period', 2),
      }
    : undefined;
  const log = jsonLogger('operator');
  const client = await KubeClient.fromKubeConfig({
    ...(values.kubeconfig === undefined ? {} : { kubeconfigPath: values.kubeconfig }),
    userAgent: 'grove-operator',
    env,
  });
  const operator = new Operator({
    client,
    log,
    settings: {
      image,
      redisImage: values['redis-image'] ?? image,
      ...(signingKeyReaders.length === 0 ? {} : { signingKeyReaders }),
      groveNamespaces: [
        ...new Set([
          ...(env.POD_NAMESPACE === undefined || env.POD_NAMESPACE === ''
            ? []
            : [env.POD_NAMESPACE]),
          ...signingKeyReaders.map((reader) => reader.namespace),
        ]),
      ],
    },
    ...(values.namespace === undefined ? {} : { namespace: values.namespace }),
    resyncMs,
    maxConcurrentReconciles: concurrency,
    readNodeAddresses: !values['no-node-addresses'],
    ...(leaderElection === undefined ? {} : { leaderElection }),
    ...(bridge === undefined ? {} : { bridge }),
  });

  // Routed on the path alone: callers add queries (the API server's pod proxy passes
  // kubectl's ?timeout=30s), which must not turn /readyz or /metrics into a 404.
  const pathOf = (url: string | undefined) => (url ?? '').split('?', 1)[0];
  const metrics = createServer((request, response) => {
    if (pathOf(request.url) !== '/metrics') {
      response.writeHead(404).end();
      return;
    }
    operator.registry
      .metrics()
      .then((text) =>
        response.writeHead(200, { 'content-type': operator.registry.contentType }).end(text),
      )
      .catch((error: unknown) => response.writeHead(500).end(String(error)));
  });
  const health = createServer((request, response) => {
    const path = pathOf(request.url);
    if (path === '/healthz') {
      response.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    } else if (path === '/readyz') {
      // Ready once the caches are synced, leader or not: a standby is a healthy replica.
      const ready = operator.synced;
      response
        .writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' })
        .end(ready ? 'ok' : 'caches not synced');
    } else {
      response.writeHead(404).end();
    }
  });
  const metricsPort = await listen(metrics, port(values['metrics-port'], 'metrics-port', 8080));
  const healthPort = await listen(health, port(values['health-port'], 'health-port', 8081));
  log.info('operator starting', {
    identity,
    namespace: values.namespace ?? '(all)',
    metricsPort,
    healthPort,
    leaderElection: values['leader-elect'],
  });

  const shutdown = stopOnSignals(log, {
    stop: async () => {
      await operator.stop();
      metrics.close();
      health.close();
      client.close();
    },
    graceMs: 30_000,
  });
  await operator.start(() => shutdown('lost leadership', 1));
}
