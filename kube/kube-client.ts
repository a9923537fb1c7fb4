import { KubeConfig } from '@kubernetes/client-node';
import {
  Agent as HttpAgent,
  request as httpRequest,
  type ClientRequest,
  type IncomingMessage,
  type OutgoingHttpHeaders,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from 'node:https';
import type { KubeObject, ResourceType } from './kube-object.js';
import { apiVersionOf } from './kube-object.js';
import { resourceTypes } from './resource-types.js';
import { LineSplitter, parseWatchLine, type KubeStatus, type WatchEvent } from './watch-stream.js';

export type { KubeStatus, WatchEvent, WatchEventType } from './watch-stream.js';

/**
 * A failed API call. `code` is the HTTP status (0 when no response came back: network error,
 * timeout, abort), `reason` the Status reason (NotFound, Conflict, AlreadyExists, Invalid,
 * Gone/Expired, Forbidden, …) or a client-side one (NetworkError, Timeout, IdleTimeout, Aborted).
 */
export class KubeApiError extends Error {
  override readonly name = 'KubeApiError';

  constructor(
    message: string,
    readonly code: number,
    readonly reason: string,
    readonly status?: KubeStatus,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** 410: the resourceVersion is too old (watch or list continue token): relist. */
  get isGone(): boolean {
    return this.code === 410;
  }
}

export function isKubeApiError(error: unknown, code?: number): error is KubeApiError {
  return error instanceof KubeApiError && (code === undefined || error.code === code);
}

// ---------------------------------------------------------------------------------------
// URL building (pure)

export interface PathParts {
  namespace?: string | undefined;
  name?: string | undefined;
  subresource?: string | undefined;
}

/** `/api/v1` for the core group, `/apis/<group>/<version>` for the others. */
export function groupVersionPath(type: Pick<ResourceType, 'group' | 'version'>): string {
  return type.group === '' ? `/api/${type.version}` : `/apis/${type.group}/${type.version}`;
}

/**
 * The path of a collection (no name) or of one object. A namespaced type without a namespace
 * is the all-namespaces collection, valid for list and watch only.
 */
export function resourcePath(type: ResourceType, parts: PathParts = {}): string {
  const { namespace, name, subresource } = parts;
  if (!type.namespaced && namespace !== undefined && namespace !== '') {
    throw new Error(`${type.kind} is cluster-scoped; got namespace "${namespace}"`);
  }
  if (type.namespaced && name !== undefined && (namespace === undefined || namespace === '')) {
    throw new Error(`${type.kind} "${name}" is namespaced: a namespace is required`);
  }
  if (subresource !== undefined && name === undefined) {
    throw new Error(`the ${subresource} subresource of ${type.kind} needs an object name`);
  }
  const segments = [groupVersionPath(type)];
  if (type.namespaced && namespace !== undefined && namespace !== '') {
    segments.push('namespaces', encodeURIComponent(namespace));
  }
  segments.push(type.plural);
  if (name !== undefined) {
    if (name === '') throw new Error(`empty ${type.kind} name`);
    segments.push(encodeURIComponent(name));
  }
  if (subresource !== undefined) segments.push(subresource);
  return segments.join('/').replace(/^\/+/, '/');
}

/** `path?query` with undefined values left out. */
export function withQuery(
  path: string,
  query: Record<string, string | number | boolean | undefined>,
): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined) params.set(key, String(value));
  }
  const text = params.toString();
  return text === '' ? path : `${path}?${text}`;
}

const knownTypes = new Map<string, ResourceType>(
  Object.values(resourceTypes).map((type) => [`${apiVersionOf(type)}/${type.kind}`, type]),
);

/** The ResourceType of an object, from its apiVersion and kind, among the kinds Grove knows. */
export function resourceTypeOf(object: Pick<KubeObject, 'apiVersion' | 'kind'>): ResourceType {
  const type = knownTypes.get(`${object.apiVersion}/${object.kind}`);
  if (type === undefined) {
    throw new Error(
      `unknown kind ${object.apiVersion} ${object.kind}: add it to kube/resource-types.ts or pass resourceType`,
    );
  }
  return type;
}

// ---------------------------------------------------------------------------------------
// Errors from responses (pure)

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The Status body of an error response, if the body is one. */
export function parseStatus(text: string): KubeStatus | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isRecord(parsed) || parsed.kind !== 'Status') return undefined;
  return {
    kind: 'Status',
    ...(typeof parsed.status === 'string' && { status: parsed.status }),
    ...(typeof parsed.message === 'string' && { message: parsed.message }),
    ...(typeof parsed.reason === 'string' && { reason: parsed.reason }),
    ...(typeof parsed.code === 'number' && { code: parsed.code }),
    ...(parsed.details !== undefined && { details: parsed.details }),
  };
}

const reasonsByCode: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  406: 'NotAcceptable',
  409: 'Conflict',
  410: 'Gone',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

/** A KubeApiError for an HTTP error response: says which call failed and what the API said. */
export function errorFromResponse(
  method: string,
  path: string,
  code: number,
  body: string,
): KubeApiError {
  const status = parseStatus(body);
  const reason = status?.reason ?? reasonsByCode[code] ?? 'Unknown';
  const detail = status?.message ?? (body.trim().slice(0, 500) || '(empty body)');
  return new KubeApiError(`${method} ${path}: ${code} ${reason}: ${detail}`, code, reason, status);
}

/** A KubeApiError for an ERROR event inside a watch stream. */
export function errorFromWatchStatus(path: string, status: KubeStatus): KubeApiError {
  const code = status.code ?? 500;
  const reason = status.reason ?? reasonsByCode[code] ?? 'Unknown';
  return new KubeApiError(
    `watch ${path}: ERROR event ${code} ${reason}: ${status.message ?? '(no message)'}`,
    code,
    reason,
    status,
  );
}

// ---------------------------------------------------------------------------------------
// Connection

/** TLS material for the agent (what kubeconfig's cluster and user entries give). */
export type TlsOptions = Pick<
  RequestOptions,
  'ca' | 'cert' | 'key' | 'pfx' | 'passphrase' | 'rejectUnauthorized' | 'servername'
>;

export interface KubeClientOptions {
  /** Base URL of the API server, e.g. https://10.0.0.1:443. */
  server: string;
  tls?: TlsOptions;
  /**
   * Headers to authenticate each request (Authorization, Impersonate-User, …). Called before
   * every request; `refresh` is true after a 401, so a rotated token file or an exec plugin is
   * asked again.
   */
  credentials?: (refresh: boolean) => Promise<Record<string, string>>;
  /** Deadline of one non-watch call (default 30 s). */
  requestTimeoutMs?: number;
  userAgent?: string;
}

export interface CallOptions {
  signal?: AbortSignal;
  /** Overrides the client's requestTimeoutMs for this call. */
  timeoutMs?: number;
}

export interface ListOptions extends CallOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Page size (default 500). */
  limit?: number;
}

export interface ListResult<T> {
  items: T[];
  resourceVersion: string;
}

export interface DeleteOptions extends CallOptions {
  propagationPolicy?: 'Foreground' | 'Background' | 'Orphan';
  /** Precondition: delete only the object with this uid (409 Conflict otherwise). */
  uid?: string;
  gracePeriodSeconds?: number;
}

export interface ApplyOptions extends CallOptions {
  fieldManager: string;
  /** Take fields another manager owns (default true, as controllers do). */
  force?: boolean;
  subresource?: 'status';
  /** For kinds outside resource-types.ts (e.g. a test CRD). */
  resourceType?: ResourceType;
  /** Validate and admit, store nothing (dryRun=All): what the server would make of it. */
  dryRun?: boolean;
}

export interface PatchOptions extends CallOptions {
  type: 'merge' | 'json' | 'strategic';
  subresource?: 'status' | 'scale';
  fieldManager?: string;
}

export interface WatchOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Where to start; '' or '0' mean "any" (the API server starts with synthetic ADDED events). */
  resourceVersion: string;
  /** Asks the server to end the stream after this long (default 300 s). */
  timeoutSeconds?: number;
  /**
   * A connection that delivers no byte for this long is dead (a half-open TCP connection never
   * ends by itself): the watch rejects with reason IdleTimeout. Default: timeoutSeconds + 30 s,
   * as the server ends every watch at timeoutSeconds and sends bookmarks meanwhile.
   */
  idleTimeoutMs?: number;
  signal: AbortSignal;
}

export type WatchHandler = (event: WatchEvent) => void;

const contentTypes = {
  json: 'application/json',
  merge: 'application/merge-patch+json',
  jsonPatch: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
} as const;

interface RawRequest extends CallOptions {
  method: string;
  path: string;
  body?: string;
  contentType?: string;
}

interface RawResponse {
  status: number;
  body: string;
}

const credentialsTtlMs = 60_000;

/**
 * A thin Kubernetes API client over node:https with plain JSON objects. Only configuration
 * loading comes from @kubernetes/client-node: its 2.0.1 informers stop for good when the API
 * server restarts, its models are classes, and its server-side apply cannot target /status.
 */
export class KubeClient {
  readonly server: string;
  private readonly agent: HttpAgent;
  private readonly secure: boolean;
  private readonly requestTimeoutMs: number;
  private readonly userAgent: string;
  private readonly tls: TlsOptions;

  constructor(private readonly options: KubeClientOptions) {
    const url = new URL(options.server);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new Error(`API server URL must be http(s): ${options.server}`);
    }
    this.server = options.server.replace(/\/+$/, '');
    this.secure = url.protocol === 'https:';
    this.tls = options.tls ?? {};
    // keepAlive also turns on TCP keep-alive probes, which help notice dead peers.
    this.agent = this.secure
      ? new HttpsAgent({ keepAlive: true, keepAliveMsecs: 30_000, maxFreeSockets: 16 })
      : new HttpAgent({ keepAlive: true, keepAliveMsecs: 30_000, maxFreeSockets: 16 });
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.userAgent = options.userAgent ?? 'grove-operator';
  }

  /**
   * From a kubeconfig file when `kubeconfigPath` is given; otherwise the in-cluster service
   * account when KUBERNETES_SERVICE_HOST is set, else the default kubeconfig ($KUBECONFIG or
   * ~/.kube/config).
   */
  static async fromKubeConfig(
    source: {
      kubeconfigPath?: string;
      requestTimeoutMs?: number;
      userAgent?: string;
      env?: NodeJS.ProcessEnv;
    } = {},
  ): Promise<KubeClient> {
    const kc = new KubeConfig();
    const env = source.env ?? process.env;
    let origin: string;
    if (source.kubeconfigPath !== undefined) {
      kc.loadFromFile(source.kubeconfigPath);
      origin = source.kubeconfigPath;
    } else if ((env.KUBERNETES_SERVICE_HOST ?? '') !== '') {
      kc.loadFromCluster();
      origin = 'the in-cluster service account';
    } else {
      kc.loadFromDefault();
      origin = 'the default kubeconfig';
    }
    const server = kc.getCurrentCluster()?.server;
    if (server === undefined || server === '') {
      throw new Error(`no API server URL in ${origin} (no current context or cluster)`);
    }
    const first = await httpsOptionsFrom(kc);
    let cached = { headers: headersFrom(first), at: Date.now() };
    // Service-account tokens are rotated on disk and exec plugins hand out short-lived tokens:
    // ask client-node again every minute, and at once after a 401.
    const credentials = async (refresh: boolean): Promise<Record<string, string>> => {
      if (refresh || Date.now() - cached.at > credentialsTtlMs) {
        cached = { headers: headersFrom(await httpsOptionsFrom(kc)), at: Date.now() };
      }
      return cached.headers;
    };
    const tls: TlsOptions = {
      ...(first.ca !== undefined && { ca: first.ca }),
      ...(first.cert !== undefined && { cert: first.cert }),
      ...(first.key !== undefined && { key: first.key }),
      ...(first.pfx !== undefined && { pfx: first.pfx }),
      ...(first.passphrase !== undefined && { passphrase: first.passphrase }),
      ...(first.rejectUnauthorized !== undefined && {
        rejectUnauthorized: first.rejectUnauthorized,
      }),
      ...(first.servername !== undefined && { servername: first.servername }),
    };
    return new KubeClient({
      server,
      tls,
      credentials,
      ...(source.requestTimeoutMs !== undefined && { requestTimeoutMs: source.requestTimeoutMs }),
      ...(source.userAgent !== undefined && { userAgent: source.userAgent }),
    });
  }

  /** Closes idle keep-alive connections (open watches end through their signals). */
  close(): void {
    this.agent.destroy();
  }

  // -------------------------------------------------------------------------------------
  // Typed calls

  /** The object, or undefined when it does not exist (404 NotFound). */
  async get<T extends KubeObject>(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    options: CallOptions & { subresource?: string } = {},
  ): Promise<T | undefined> {
    const path = resourcePath(type, { namespace, name, subresource: options.subresource });
    try {
      return await this.json<T>({ ...options, method: 'GET', path });
    } catch (error) {
      // A 404 without details.name means the type itself is unknown (CRD not installed):
      // that must not read as "the object does not exist".
      if (isKubeApiError(error, 404) && isObjectNotFound(error.status, name)) return undefined;
      throw error;
    }
  }

  /** Every object of the collection, following `continue` tokens; fills in apiVersion/kind. */
  async list<T extends KubeObject>(
    type: ResourceType,
    options: ListOptions = {},
  ): Promise<ListResult<T>> {
    const base = resourcePath(type, { namespace: options.namespace });
    const items: T[] = [];
    let token: string | undefined;
    let resourceVersion = '';
    do {
      const path = withQuery(base, {
        labelSelector: options.labelSelector,
        fieldSelector: options.fieldSelector,
        limit: options.limit ?? 500,
        continue: token,
      });
      const page = await this.json<{
        metadata?: { resourceVersion?: string; continue?: string };
        items?: T[] | null;
      }>({ ...options, method: 'GET', path });
      for (const item of page.items ?? []) {
        // The API leaves apiVersion and kind out of list items.
        items.push({ ...item, apiVersion: apiVersionOf(type), kind: type.kind });
      }
      resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
      token = page.metadata?.continue;
    } while (token !== undefined && token !== '');
    return { items, resourceVersion };
  }

  async create<T extends KubeObject>(
    type: ResourceType,
    object: KubeObject,
    options: CallOptions = {},
  ): Promise<T> {
    const path = resourcePath(type, { namespace: object.metadata.namespace });
    return this.json<T>({
      ...options,
      method: 'POST',
      path,
      body: JSON.stringify(withTypeMeta(type, object)),
      contentType: contentTypes.json,
    });
  }

  /** PUT: fails with 409 Conflict when metadata.resourceVersion is not the current one. */
  async replace<T extends KubeObject>(
    type: ResourceType,
    object: KubeObject,
    options: CallOptions & { subresource?: 'status' } = {},
  ): Promise<T> {
    const path = resourcePath(type, {
      namespace: object.metadata.namespace,
      name: object.metadata.name,
      subresource: options.subresource,
    });
    return this.json<T>({
      ...options,
      method: 'PUT',
      path,
      body: JSON.stringify(withTypeMeta(type, object)),
      contentType: contentTypes.json,
    });
  }

  /** True when the object was deleted (or is being deleted), false when it was already gone. */
  async delete(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    options: DeleteOptions = {},
  ): Promise<boolean> {
    const path = resourcePath(type, { namespace, name });
    const body = {
      apiVersion: 'v1',
      kind: 'DeleteOptions',
      ...(options.propagationPolicy !== undefined && {
        propagationPolicy: options.propagationPolicy,
      }),
      ...(options.uid !== undefined && { preconditions: { uid: options.uid } }),
      ...(options.gracePeriodSeconds !== undefined && {
        gracePeriodSeconds: options.gracePeriodSeconds,
      }),
    };
    try {
      await this.json({
        ...options,
        method: 'DELETE',
        path,
        body: JSON.stringify(body),
        contentType: contentTypes.json,
      });
      return true;
    } catch (error) {
      if (isKubeApiError(error, 404) && isObjectNotFound(error.status, name)) return false;
      throw error;
    }
  }

  /**
   * Server-side apply: the object states every field this field manager owns; fields it owned
   * before and leaves out are removed. A JSON body is valid YAML, hence apply-patch+yaml.
   */
  async apply<T extends KubeObject>(object: KubeObject, options: ApplyOptions): Promise<T> {
    const type = options.resourceType ?? resourceTypeOf(object);
    const path = withQuery(
      resourcePath(type, {
        namespace: object.metadata.namespace,
        name: object.metadata.name,
        subresource: options.subresource,
      }),
      {
        fieldManager: options.fieldManager,
        force: options.force ?? true,
        dryRun: options.dryRun === true ? 'All' : undefined,
      },
    );
    return this.json<T>({
      ...options,
      method: 'PATCH',
      path,
      body: JSON.stringify(object),
      contentType: contentTypes.apply,
    });
  }

  async patch<T extends KubeObject>(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    options: PatchOptions,
  ): Promise<T> {
    const path = withQuery(
      resourcePath(type, { namespace, name, subresource: options.subresource }),
      {
        fieldManager: options.fieldManager,
      },
    );
    const contentType =
      options.type === 'merge'
        ? contentTypes.merge
        : options.type === 'json'
          ? contentTypes.jsonPatch
          : contentTypes.strategic;
    return this.json<T>({
      ...options,
      method: 'PATCH',
      path,
      body: JSON.stringify(patch),
      contentType,
    });
  }

  /**
   * Streams watch events to `onEvent` until the server ends the stream (resolves), `signal`
   * aborts (resolves), or something fails (rejects with a KubeApiError: an ERROR event's code,
   * e.g. 410 when the resourceVersion is too old; an HTTP error; code 0 for network errors
   * and a connection idle longer than idleTimeoutMs). A throwing `onEvent` rejects too.
   */
  async watch(type: ResourceType, options: WatchOptions, onEvent: WatchHandler): Promise<void> {
    const timeoutSeconds = options.timeoutSeconds ?? 300;
    const idleTimeoutMs = options.idleTimeoutMs ?? timeoutSeconds * 1000 + 30_000;
    const path = withQuery(resourcePath(type, { namespace: options.namespace }), {
      watch: true,
      allowWatchBookmarks: true,
      resourceVersion: options.resourceVersion === '' ? undefined : options.resourceVersion,
      timeoutSeconds,
      labelSelector: options.labelSelector,
      fieldSelector: options.fieldSelector,
    });
    const { signal } = options;
    if (signal.aborted) return;
    const headers = await this.headers(false, undefined);

    await new Promise<void>((resolve, reject) => {
      let settled = false;
      let idleTimer: NodeJS.Timeout | undefined;
      const finish = (error?: KubeApiError | Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(idleTimer);
        signal.removeEventListener('abort', onAbort);
        if (error === undefined) resolve();
        else {
          req.destroy();
          reject(error);
        }
      };
      const onAbort = (): void => {
        req.destroy();
        finish();
      };
      const armIdle = (): void => {
        clearTimeout(idleTimer);
        idleTimer = setTimeout(() => {
          finish(
            new KubeApiError(
              `watch ${path}: no data for ${idleTimeoutMs} ms, the connection is presumed dead`,
              0,
              'IdleTimeout',
            ),
          );
        }, idleTimeoutMs);
      };

      const req = this.send({ method: 'GET', path, headers }, (res) => {
        armIdle();
        const status = res.statusCode ?? 0;
        if (status !== 200) {
          readBody(res)
            .then((body) => {
              if (status === 401) this.credentialsStale = true;
              finish(errorFromResponse('GET', path, status, body));
            })
            .catch((error: unknown) => finish(networkError('GET', path, error)));
          return;
        }
        const splitter = new LineSplitter();
        const deliver = (lines: string[]): void => {
          for (const line of lines) {
            if (settled) return;
            const parsed = parseWatchLine(line);
            if (parsed.kind === 'error') {
              finish(errorFromWatchStatus(path, parsed.status));
              return;
            }
            onEvent(parsed.event);
          }
        };
        res.on('data', (chunk: Buffer) => {
          if (settled) return;
          armIdle();
          try {
            deliver(splitter.push(chunk));
          } catch (error) {
            finish(asError(error));
          }
        });
        res.on('end', () => {
          try {
            deliver(splitter.end());
            finish();
          } catch (error) {
            finish(asError(error));
          }
        });
        res.on('error', (error) => finish(networkError('GET', path, error)));
        res.on('close', () => {
          // 'close' without 'end': the connection broke mid-stream.
          if (!res.complete) finish(networkError('GET', path, new Error('connection closed')));
        });
      });
      req.on('error', (error) => finish(networkError('GET', path, error)));
      signal.addEventListener('abort', onAbort, { once: true });
      // The signal may have aborted while the credentials were fetched.
      if (signal.aborted) {
        onAbort();
        return;
      }
      armIdle();
      req.end();
    });
  }

  // -------------------------------------------------------------------------------------
  // Transport

  private credentialsStale = false;

  private async headers(
    refresh: boolean,
    contentType: string | undefined,
  ): Promise<OutgoingHttpHeaders> {
    const forced = refresh || this.credentialsStale;
    this.credentialsStale = false;
    const auth = (await this.options.credentials?.(forced)) ?? {};
    return {
      ...auth,
      accept: 'application/json',
      'user-agent': this.userAgent,
      ...(contentType !== undefined && { 'content-type': contentType }),
    };
  }

  private send(
    request: { method: string; path: string; headers: OutgoingHttpHeaders },
    onResponse: (res: IncomingMessage) => void,
  ): ClientRequest {
    const options: RequestOptions = {
      method: request.method,
      headers: request.headers,
      agent: this.agent,
      ...this.tls,
    };
    const url = `${this.server}${request.path}`;
    return this.secure
      ? httpsRequest(url, options, onResponse)
      : httpRequest(url, options, onResponse);
  }

  private async json<T>(request: RawRequest): Promise<T> {
    const response = await this.raw(request);
    try {
      return JSON.parse(response.body) as T;
    } catch {
      throw new KubeApiError(
        `${request.method} ${request.path}: the API server answered ${response.status} with a body that is not JSON: ${response.body.slice(0, 200)}`,
        response.status,
        'InvalidResponse',
      );
    }
  }

  /** One call with retries for a stale keep-alive socket and for a rotated token (401). */
  private async raw(request: RawRequest): Promise<RawResponse> {
    let refreshed = false;
    let retriedSocket = false;
    for (;;) {
      const headers = await this.headers(refreshed, request.contentType);
      const outcome = await this.once(request, headers);
      if (outcome.kind === 'reused-socket-reset' && !retriedSocket) {
        // The server closed an idle keep-alive connection just as we reused it: the request
        // never reached it, so sending it again is safe.
        retriedSocket = true;
        continue;
      }
      if (outcome.kind === 'reused-socket-reset') throw outcome.error;
      if (outcome.kind === 'error') throw outcome.error;
      const { response } = outcome;
      if (response.status === 401 && !refreshed && this.options.credentials !== undefined) {
        refreshed = true;
        continue;
      }
      if (response.status >= 400) {
        throw errorFromResponse(request.method, request.path, response.status, response.body);
      }
      return response;
    }
  }

  private once(
    request: RawRequest,
    headers: OutgoingHttpHeaders,
  ): Promise<
    | { kind: 'response'; response: RawResponse }
    | { kind: 'error'; error: KubeApiError }
    | { kind: 'reused-socket-reset'; error: KubeApiError }
  > {
    const { method, path, signal } = request;
    const timeoutMs = request.timeoutMs ?? this.requestTimeoutMs;
    return new Promise((resolve) => {
      if (signal?.aborted === true) {
        resolve({ kind: 'error', error: abortedError(method, path, signal) });
        return;
      }
      let settled = false;
      let gotResponse = false;
      const done = (
        outcome:
          | { kind: 'response'; response: RawResponse }
          | { kind: 'error'; error: KubeApiError }
          | { kind: 'reused-socket-reset'; error: KubeApiError },
      ): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (outcome.kind !== 'response') req.destroy();
        resolve(outcome);
      };
      const onAbort = (): void => {
        done({ kind: 'error', error: abortedError(method, path, signal) });
      };
      const timer = setTimeout(() => {
        done({
          kind: 'error',
          error: new KubeApiError(
            `${method} ${path}: no complete answer within ${timeoutMs} ms`,
            0,
            'Timeout',
          ),
        });
      }, timeoutMs);
      // An explicit length: Node sends a DELETE body neither chunked nor with a length, and the
      // API server then reads that body as the start of the next request on the connection.
      const sized =
        request.body === undefined
          ? headers
          : { ...headers, 'content-length': Buffer.byteLength(request.body) };
      const req = this.send({ method, path, headers: sized }, (res) => {
        gotResponse = true;
        readBody(res)
          .then((body) =>
            done({ kind: 'response', response: { status: res.statusCode ?? 0, body } }),
          )
          .catch((error: unknown) =>
            done({ kind: 'error', error: networkError(method, path, error) }),
          );
      });
      req.on('error', (error: NodeJS.ErrnoException) => {
        const wrapped = networkError(method, path, error);
        done(
          req.reusedSocket &&
            !gotResponse &&
            (error.code === 'ECONNRESET' || error.code === 'EPIPE')
            ? { kind: 'reused-socket-reset', error: wrapped }
            : { kind: 'error', error: wrapped },
        );
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      req.end(request.body);
    });
  }
}

function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (chunk: Buffer) => chunks.push(chunk));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
    res.on('close', () => {
      if (!res.complete) reject(new Error('connection closed before the body was complete'));
    });
  });
}

function networkError(method: string, path: string, error: unknown): KubeApiError {
  // Duck-typed: errors from node: modules may come from another realm (Jest's VM contexts).
  let detail = String(error);
  if (typeof error === 'object' && error !== null && 'message' in error) {
    const { message, code } = error as { message: unknown; code?: unknown };
    detail = String(message);
    if (typeof code === 'string' && !detail.includes(code)) detail = `${code}: ${detail}`;
  }
  return new KubeApiError(
    `${method} ${path}: network error: ${detail}`,
    0,
    'NetworkError',
    undefined,
    {
      cause: error,
    },
  );
}

function abortedError(method: string, path: string, signal: AbortSignal | undefined): KubeApiError {
  return new KubeApiError(`${method} ${path}: aborted`, 0, 'Aborted', undefined, {
    cause: signal?.reason,
  });
}

/** A 404 for the named object, not for an unknown resource type (CRD not installed). */
function isObjectNotFound(status: KubeStatus | undefined, name: string): boolean {
  if (status === undefined) return false;
  const details = status.details;
  return isRecord(details) && details.name === name;
}

function withTypeMeta(type: ResourceType, object: KubeObject): KubeObject {
  return { ...object, apiVersion: apiVersionOf(type), kind: type.kind };
}

async function httpsOptionsFrom(kc: KubeConfig): Promise<RequestOptions> {
  const options: RequestOptions = {};
  await kc.applyToHTTPSOptions(options);
  return options;
}

function headersFrom(options: RequestOptions): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(options.headers ?? {})) {
    if (typeof value === 'string') headers[key] = value;
    else if (typeof value === 'number') headers[key] = String(value);
    else if (Array.isArray(value)) headers[key] = value.join(', ');
  }
  if (typeof options.auth === 'string' && options.auth !== '') {
    headers.authorization = `Basic ${Buffer.from(options.auth).toString('base64')}`;
  }
  return headers;
}

/** The thrown value as an Error (duck-typed: it may come from another realm, e.g. Jest's). */
function asError(error: unknown): Error {
  if (typeof error === 'object' && error !== null && 'message' in error) return error as Error;
  return new Error(String(error));
}
