import { readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import rateLimit from '@fastify/rate-limit';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { applyConnectionLimits } from '../contracts/http-limits.js';
import { jsonLogger, type Logger } from '../contracts/logger.js';
import { registerAdminRoutes } from './api/admin-routes.js';
import { registerClientRoutes } from './api/client-routes.js';
import { registerBridgeRoutes } from './api/bridge-routes.js';
import type { BridgeRecords } from './bridge/bridge-records.js';
import { accessFor, ManagerContext } from './api/context.js';
import { openApiDocument } from './api/openapi.js';
import { RouteTable } from './api/route-table.js';
import type { ConfigSource } from './config-source/config-source.js';
import type { ManagerErrorCode } from '../contracts/errors/manager-errors.js';
import { encodeErrorBody } from '../contracts/wire/error-body.js';
import { ManagerError } from './errors.js';
import { DEFAULT_MANAGER_LIMITS, type ManagerLimits } from './limits.js';
import { ManagerMetrics } from './metrics.js';
import type { ManagerStore } from './store/manager-store.js';

export const BODY_LIMIT = 1024 * 1024;
export const API_VERSION = '1.0.0';

export interface ManagerAppDeps {
  store: ManagerStore;
  config: ConfigSource;
  now?: () => Date;
  log?: Logger;
  metrics?: ManagerMetrics;
  /** Folder of the admin web UI's static files, served under / and /ui/. */
  uiDir?: string;
  /** Resolves when Redis answers (the readiness probe). */
  ping?: () => Promise<unknown>;
  /** Timeouts, connection cap, rate limits, trusted proxies (default DEFAULT_MANAGER_LIMITS). */
  limits?: ManagerLimits;
  /**
   * Why Redis is unavailable and what to do (redis-access.ts storageProblem): the message of
   * every STORAGE_UNAVAILABLE answer while it lasts.
   */
  storageProblem?: () => string;
  /** False until the Manager finished what it does once Redis answers (the bootstrap token). */
  started?: () => boolean;
  /** The Data Bridge's records: its routes (api/bridge-routes.ts) are served when given. */
  bridges?: BridgeRecords;
  /**
   * `/readyz?degraded=ok` answers 200 while Redis does not only once the Manager has been up
   * this long (default 0): a new pod of a rolling update that reaches Redis within it is
   * Ready only then, so the old pod keeps serving meanwhile.
   */
  degradedReadyAfterMs?: number;
}

/** On every answer; the UI's pages load only their own files (no inline script, no other origin). */
const SECURITY_HEADERS: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

const STATIC_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};

/** Fastify's own errors (body parsing, limits) as Manager error codes. */
function fromFastifyError(
  error: FastifyError,
): { code: ManagerErrorCode; status: number; message: string } | undefined {
  const status = error.statusCode ?? 500;
  if (status === 413) {
    return {
      code: 'PAYLOAD_TOO_LARGE',
      status,
      message:
        'request body too large: at most 1 MiB (member imports: 10 MiB; enrollments and token refreshes: 16 KiB)',
    };
  }
  if (status === 415) {
    return {
      code: 'UNSUPPORTED_MEDIA_TYPE',
      status,
      message:
        'unsupported content type: send application/json (member imports also take text/csv)',
    };
  }
  if (status >= 400 && status < 500) {
    const malformed =
      error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error instanceof SyntaxError;
    return {
      code: 'VALIDATION_FAILED',
      status: 400,
      message: malformed ? `body is not valid JSON: ${error.message}` : error.message,
    };
  }
  return undefined;
}

/** `--trust-proxy N`: X-Forwarded-For is believed for the last N hops. */
function lastHops(hops: number): (address: string, hop: number) => boolean {
  return (_address, hop) => hop < hops;
}

/** ioredis failures while Redis is down or unreachable. */
export function isStorageError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return (
    error.name === 'MaxRetriesPerRequestError' ||
    /Connection is closed|ECONNREFUSED|ENOTFOUND|Stream isn't writeable|CLUSTERDOWN|TRYAGAIN|NOAUTH|WRONGPASS|LOADING/.test(
      error.message,
    )
  );
}

/**
 * A file of the UI folder for a request path (/ and /ui/ map to index.html), or undefined.
 * realpath keeps requests inside the folder whatever links or "..", encoded or not, they use.
 */
async function uiFile(uiDir: string, urlPath: string): Promise<string | undefined> {
  let relative = urlPath.startsWith('/ui/')
    ? urlPath.slice(4)
    : urlPath === '/ui'
      ? ''
      : urlPath.slice(1);
  try {
    relative = decodeURIComponent(relative);
  } catch {
    return undefined;
  }
  if (relative === '' || relative.endsWith('/')) relative += 'index.html';
  if (relative.includes('\0')) return undefined;
  try {
    const root = await realpath(uiDir);
    const file = await realpath(path.resolve(root, relative));
    if (!file.startsWith(root + path.sep)) return undefined;
    return (await stat(file)).isFile() ? file : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The Manager's HTTP app: admin API, client endpoints, health, OpenAPI, the web UI. It counts
 * into `metrics` but never serves them: /metrics is on a port of its own (main.ts), so the
 * public port answers it with 404.
 */
export async function createManagerApp(deps: ManagerAppDeps): Promise<FastifyInstance> {
  const log = deps.log ?? jsonLogger('manager');
  const metrics = deps.metrics ?? new ManagerMetrics();
  const limits = deps.limits ?? DEFAULT_MANAGER_LIMITS;
  const app = Fastify({
    bodyLimit: BODY_LIMIT,
    logger: false,
    // The client address (rate limits, audit) from X-Forwarded-For only when set by a proxy
    // named here; off by default, so a client cannot choose its own address.
    trustProxy:
      typeof limits.trustProxy === 'number' ? lastHops(limits.trustProxy) : limits.trustProxy,
    // The default parser allows __proto__ keys through as data; refuse them outright.
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: true,
    // `members:import` written with an encoded colon (as some HTTP clients send it) is the same
    // route; ids never contain ':', so no parameter changes meaning.
    rewriteUrl: (request) => {
      const url = request.url ?? '/';
      const query = url.indexOf('?');
      const path = query === -1 ? url : url.slice(0, query);
      return path.replace(/%3a/gi, ':') + (query === -1 ? '' : url.slice(query));
    },
  });

  applyConnectionLimits(app.server, limits.connection);
  // Per client address; routes opt in (RouteSpec.rateLimit). Failed admin logins are counted
  // apart, by the context, so an administrator's own requests are never held back.
  await app.register(rateLimit, {
    global: false,
    errorResponseBuilder: (_request, context) =>
      new ManagerError(
        'RATE_LIMITED',
        `too many requests from this address: at most ${context.max} a minute; retry in ${context.after}`,
        { retryAfterSeconds: Math.ceil(context.ttl / 1000) },
      ),
  });
  const loginFailures = app.createRateLimit({
    max: limits.rateLimits.loginFailuresPerMinute,
    timeWindow: 60_000,
  });
  const ctx = new ManagerContext(
    deps.store,
    deps.config,
    deps.now ?? (() => new Date()),
    metrics,
    log,
    async (request) => {
      const result = await loginFailures(request);
      return {
        isExceeded: 'isExceeded' in result && result.isExceeded,
        ttlInSeconds: 'ttlInSeconds' in result ? result.ttlInSeconds : 60,
      };
    },
  );
  // Refused attempts still counted in memory are written when the Manager stops.
  app.addHook('onClose', async () => {
    await ctx.failures.flush();
  });

  // JSON and (for imports) CSV only: anything else gets 415 before it reaches a handler.
  app.removeContentTypeParser(['text/plain', 'application/json']);
  // An empty JSON body (a client that always sets the content type) means "no body".
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') {
      done(null, undefined);
      return;
    }
    void parseJson(request, typeof body === 'string' ? body : body.toString('utf8'), done);
  });
  app.addContentTypeParser('text/csv', { parseAs: 'string' }, (_request, body, done) => {
    done(null, body);
  });

  app.addHook('onRequest', (request, _reply, done) => {
    (request as FastifyRequest & { startedAt?: bigint }).startedAt = process.hrtime.bigint();
    done();
  });
  app.addHook('onSend', async (request, reply, payload) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) reply.header(name, value);
    if (request.url.startsWith('/v1/')) reply.header('cache-control', 'no-store');
    return payload;
  });
  app.addHook('onResponse', async (request: FastifyRequest, reply: FastifyReply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const started = (request as FastifyRequest & { startedAt?: bigint }).startedAt;
    metrics.httpRequests.inc({ method: request.method, route, status: String(reply.statusCode) });
    if (started !== undefined) {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics.httpDuration.observe({ method: request.method, route }, seconds);
    }
  });

  app.setErrorHandler((error: unknown, request, reply) => {
    if (error instanceof ManagerError) {
      const retryAfter = error.details?.['retryAfterSeconds'];
      if (error.code === 'RATE_LIMITED' && typeof retryAfter === 'number') {
        reply.header('retry-after', String(retryAfter));
      }
      return reply
        .code(error.status)
        .send(encodeErrorBody(error.code, error.message, error.details));
    }
    const mapped =
      error instanceof Error && 'statusCode' in error
        ? fromFastifyError(error as FastifyError)
        : undefined;
    if (mapped !== undefined) {
      return reply.code(mapped.status).send(encodeErrorBody(mapped.code, mapped.message));
    }
    if (isStorageError(error)) {
      // RedisHealth logs the outage itself; this would be one line per request.
      return reply
        .code(503)
        .send(
          encodeErrorBody(
            'STORAGE_UNAVAILABLE',
            deps.storageProblem?.() ?? 'Redis did not answer; retry shortly',
          ),
        );
    }
    log.error('request failed', {
      method: request.method,
      path: request.url.split('?')[0],
      error: error instanceof Error ? (error.stack ?? error.message) : String(error),
    });
    return reply
      .code(500)
      .send(encodeErrorBody('INTERNAL', 'internal error; the Manager logged it'));
  });

  app.setNotFoundHandler(async (request, reply) => {
    if (deps.uiDir !== undefined && (request.method === 'GET' || request.method === 'HEAD')) {
      const urlPath = request.url.split('?')[0] ?? '/';
      const file = urlPath.startsWith('/v1/') ? undefined : await uiFile(deps.uiDir, urlPath);
      if (file !== undefined) {
        const type = STATIC_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
        return reply
          .type(type)
          .header('cache-control', 'no-cache')
          .send(await readFile(file));
      }
    }
    return reply
      .code(404)
      .send(
        encodeErrorBody(
          'NOT_FOUND',
          `no route ${request.method} ${request.url.split('?')[0] ?? ''}`,
        ),
      );
  });

  const routes = new RouteTable(app, (request, method, url) =>
    ctx.authorize(request, accessFor(method, url, request.params as Record<string, string>)),
  );
  registerAdminRoutes(routes, ctx, deps.bridges);
  registerClientRoutes(routes, ctx, limits.rateLimits);
  if (deps.bridges !== undefined) registerBridgeRoutes(routes, ctx, deps.bridges);

  // What an all-or-nothing import left behind when its Manager died is undone at start.
  app.addHook('onReady', () => {
    for (const { domain } of deps.config.listDomains()) {
      const name = domain.metadata.name;
      deps.store.recoverInterruptedImport(name).then(
        (undone) => {
          if (undone)
            log.warn('undid a member import its Manager did not finish', { domain: name });
        },
        () => undefined, // Redis away: the next import into the domain undoes it
      );
    }
  });

  const document = openApiDocument(routes.specs, API_VERSION);
  app.get('/v1/openapi.json', () => Promise.resolve(document));
  app.get('/healthz', () => Promise.resolve({ status: 'ok' }));
  // /readyz: 200 once the configuration is loaded and Redis answers. With ?degraded=ok (the
  // chart's readiness probe) also 200 while Redis does not, saying why in the body: the Manager
  // then serves its UI and answers every API call with that reason (STORAGE_UNAVAILABLE),
  // instead of leaving its Service without endpoints; `helm install --wait` completes before
  // any RelayPool (and so the Manager's Redis) exists.
  const clock = deps.now ?? (() => new Date());
  const upSince = clock().getTime();
  app.get('/readyz', async (request, reply) => {
    if (!deps.config.ready()) {
      return reply
        .code(503)
        .send(encodeErrorBody('STORAGE_UNAVAILABLE', 'configuration not loaded yet'));
    }
    let problem: string | undefined;
    try {
      await deps.ping?.();
      if (deps.started?.() === false) problem = 'starting: storing the bootstrap admin token';
    } catch {
      problem = deps.storageProblem?.() ?? 'Redis does not answer';
    }
    if (problem === undefined) return { status: 'ready' };
    const degradedOk = (request.query as Record<string, unknown>).degraded === 'ok';
    const graceLeftMs = upSince + (deps.degradedReadyAfterMs ?? 0) - clock().getTime();
    if (degradedOk && graceLeftMs <= 0) {
      return { status: 'degraded', error: { code: 'STORAGE_UNAVAILABLE', message: problem } };
    }
    return reply
      .code(503)
      .send(
        encodeErrorBody(
          'STORAGE_UNAVAILABLE',
          degradedOk
            ? `${problem} (ready without Redis in ${String(Math.ceil(graceLeftMs / 1000))} s)`
            : problem,
        ),
      );
  });
  return app;
}
