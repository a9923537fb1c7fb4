import { z } from 'zod';
import {
  activationCodeSchema,
  adminTokenInfoSchema,
  auditEntrySchema,
  deviceSchema,
  isoTime,
  memberSchema,
  usageReportSchema,
  workspaceSchema,
  type ActivationCode,
  type AuditEntry,
  type Device,
  type Member,
  type UsageReport,
  type Workspace,
} from '../../manager/model.js';
import { decodeErrorBody, type ErrorBody } from '../../contracts/wire/error-body.js';
import type { SignedChallenge } from './device-state.js';

/**
 * A small typed client of the Manager's HTTP API (docs/manager-api.md), used by the CLI and
 * by tests. Responses are validated; unknown fields are kept (`loose`), so a newer Manager
 * does not break an older client.
 */

/** The Manager answered with an error body `{"error":{"code","message","details"?}}`. */
export class ManagerHttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'ManagerHttpError';
  }
}

/** The Manager could not be reached or answered something that is not the API. */
export class ManagerUnreachable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ManagerUnreachable';
  }
}

/** Relay URLs by pool, home first (Managers before issue 13 do not send it). */
const poolsSchema = z.array(z.array(z.string()).max(64)).max(16).optional();

export const enrollResponseSchema = z.looseObject({
  deviceId: z.string(),
  identityId: z.string(),
  domain: z.string(),
  relays: z.array(z.string()),
  pools: poolsSchema,
  token: z.string(),
  tokenExpiresAt: isoTime,
  policy: z.unknown().optional(),
});
export type EnrollResponse = z.infer<typeof enrollResponseSchema>;

export const tokenResponseSchema = z.looseObject({
  token: z.string(),
  expiresAt: isoTime,
  relays: z.array(z.string()),
  pools: poolsSchema,
});
export type TokenResponse = z.infer<typeof tokenResponseSchema>;

const pageOf = <T extends z.ZodType>(item: T) =>
  z.looseObject({ items: z.array(item), next: z.string().optional() });

const memberOut = memberSchema.loose();
const deviceOut = deviceSchema.loose();
const codeOut = activationCodeSchema.loose();
const workspaceOut = workspaceSchema.loose();
const auditOut = auditEntrySchema.loose();
const issuedCodeOut = codeOut.extend({ code: z.string() });
const importOut = z.looseObject({
  created: z.array(z.string()),
  errors: z.array(
    z.looseObject({
      row: z.int(),
      id: z.string().optional(),
      code: z.string(),
      message: z.string(),
    }),
  ),
});

export interface AuditQuery {
  domain?: string | undefined;
  actor?: string | undefined;
  action?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
  limit?: number | undefined;
  cursor?: string | undefined;
}

type Query = Record<string, string | number | boolean | undefined>;

interface RequestOptions {
  query?: Query;
  body?: unknown;
  /** A raw body (e.g. CSV) with its content type, instead of JSON. */
  raw?: { contentType: string; text: string };
  accept?: string;
  auth?: boolean;
}

export class ManagerClient {
  private readonly baseUrl: string;
  private readonly fetchFn: typeof fetch;

  constructor(
    baseUrl: string,
    private readonly adminToken?: string,
    options: { fetch?: typeof fetch } = {},
  ) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.fetchFn = options.fetch ?? fetch;
  }

  /** Sends one request; resolves with the raw response once it is known to be a success. */
  private async send(method: string, path: string, options: RequestOptions): Promise<Response> {
    const url = new URL(`${this.baseUrl}${path}`);
    for (const [name, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined && value !== '') url.searchParams.set(name, String(value));
    }
    const headers: Record<string, string> = { accept: options.accept ?? 'application/json' };
    if (options.auth !== false && this.adminToken !== undefined)
      headers.authorization = `Bearer ${this.adminToken}`;
    let body: string | undefined;
    if (options.raw !== undefined) {
      headers['content-type'] = options.raw.contentType;
      body = options.raw.text;
    } else if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.body);
    }
    let response: Response;
    try {
      response = await this.fetchFn(url, {
        method,
        headers,
        ...(body === undefined ? {} : { body }),
      });
    } catch (error) {
      const cause = (error as { cause?: { message?: string } }).cause?.message;
      throw new ManagerUnreachable(
        `cannot reach the Manager at ${this.baseUrl}: ${cause ?? (error as Error).message}`,
      );
    }
    if (response.ok) return response;
    const text = await response.text();
    let error: ErrorBody['error'] | undefined;
    try {
      error = decodeErrorBody(JSON.parse(text));
    } catch {
      error = undefined;
    }
    if (error === undefined) {
      throw new ManagerHttpError(
        response.status,
        `HTTP_${String(response.status)}`,
        `${method} ${path} answered ${String(response.status)}: ${text.slice(0, 200)}`,
      );
    }
    throw new ManagerHttpError(response.status, error.code, error.message, error.details);
  }

  /** One JSON request; the answer is validated with `schema` (204 answers give undefined). */
  async request<T extends z.ZodType>(
    method: string,
    path: string,
    schema: T,
    options: RequestOptions = {},
  ): Promise<z.infer<T>> {
    const response = await this.send(method, path, options);
    const text = await response.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      throw new ManagerUnreachable(`${method} ${path} answered something that is not JSON`);
    }
    const result = schema.safeParse(json);
    if (!result.success) {
      throw new ManagerUnreachable(
        `${method} ${path} answered an unexpected document: ${result.error.issues
          .map((issue) => `${issue.path.join('.')}: ${issue.message}`)
          .join('; ')}`,
      );
    }
    return result.data;
  }

  // Client endpoints (no admin token)

  enroll(input: { code: string; publicKey: string; deviceName: string }): Promise<EnrollResponse> {
    return this.request('POST', '/v1/enroll', enrollResponseSchema, { body: input, auth: false });
  }

  token(challenge: SignedChallenge): Promise<TokenResponse> {
    return this.request('POST', '/v1/token', tokenResponseSchema, {
      body: challenge,
      auth: false,
    });
  }

  // Admin API

  whoami() {
    return this.request(
      'GET',
      '/v1/admin/whoami',
      z.looseObject({ name: z.string(), role: z.string(), domains: z.array(z.string()) }),
    );
  }

  domains() {
    return this.request('GET', '/v1/admin/domains', z.array(z.looseObject({ name: z.string() })));
  }

  private domainPath(domain: string, ...rest: string[]): string {
    return `/v1/admin/domains/${[domain, ...rest].map(encodeURIComponent).join('/')}`;
  }

  listMembers(
    domain: string,
    options: { query?: string; limit?: number; cursor?: string } = {},
  ): Promise<{ items: Member[]; next?: string | undefined }> {
    return this.request('GET', this.domainPath(domain, 'members'), pageOf(memberOut), {
      query: { q: options.query, limit: options.limit, cursor: options.cursor },
    });
  }

  /** Every member, following the pages. */
  async *allMembers(
    domain: string,
    options: { query?: string; limit?: number } = {},
  ): AsyncGenerator<Member> {
    let cursor: string | undefined;
    do {
      const page = await this.listMembers(domain, {
        ...options,
        ...(cursor === undefined ? {} : { cursor }),
      });
      yield* page.items;
      cursor = page.next;
    } while (cursor !== undefined);
  }

  getMember(domain: string, id: string): Promise<Member & { devices: Device[] }> {
    return this.request(
      'GET',
      this.domainPath(domain, 'members', id),
      memberOut.extend({ devices: z.array(deviceOut) }),
    );
  }

  addMember(
    domain: string,
    input: { id: string; displayName: string; email?: string | undefined },
  ): Promise<Member> {
    return this.request('POST', this.domainPath(domain, 'members'), memberOut, { body: input });
  }

  updateMember(
    domain: string,
    id: string,
    patch: { displayName?: string | undefined; email?: string | null | undefined },
  ): Promise<Member> {
    return this.request('PATCH', this.domainPath(domain, 'members', id), memberOut, {
      body: patch,
    });
  }

  deleteMember(domain: string, id: string): Promise<{ revokedDevices: string[] }> {
    return this.request(
      'DELETE',
      this.domainPath(domain, 'members', id),
      z.looseObject({ revokedDevices: z.array(z.string()) }),
    );
  }

  /** `text` is CSV (header `id,displayName,email`) or a JSON array, as `format` says. */
  importMembers(
    domain: string,
    text: string,
    format: 'csv' | 'json',
    options: { allOrNothing?: boolean } = {},
  ) {
    return this.request('POST', `${this.domainPath(domain)}/members:import`, importOut, {
      query: { allOrNothing: options.allOrNothing === true ? 'true' : undefined },
      raw: { contentType: format === 'csv' ? 'text/csv' : 'application/json', text },
    });
  }

  issueCode(
    domain: string,
    memberId: string,
    options: { ttlSeconds?: number } = {},
  ): Promise<ActivationCode & { code: string }> {
    return this.request(
      'POST',
      this.domainPath(domain, 'members', memberId, 'codes'),
      issuedCodeOut,
      {
        body: options.ttlSeconds === undefined ? {} : { ttlSeconds: options.ttlSeconds },
      },
    );
  }

  listCodes(domain: string, options: { memberId?: string } = {}): Promise<ActivationCode[]> {
    return this.request('GET', this.domainPath(domain, 'codes'), z.array(codeOut), {
      query: { member: options.memberId },
    });
  }

  revokeCode(domain: string, codeId: string): Promise<ActivationCode> {
    return this.request('DELETE', this.domainPath(domain, 'codes', codeId), codeOut);
  }

  listDevices(
    domain: string,
    options: { memberId?: string } = {},
  ): Promise<(Device & { presence?: string | undefined })[]> {
    return this.request(
      'GET',
      this.domainPath(domain, 'devices'),
      z.array(deviceOut.extend({ presence: z.string().optional() })),
      { query: { member: options.memberId } },
    );
  }

  revokeDevice(domain: string, deviceId: string): Promise<Device> {
    return this.request('POST', this.domainPath(domain, 'devices', deviceId, 'revoke'), deviceOut);
  }

  listWorkspaces(domain: string): Promise<Workspace[]> {
    return this.request('GET', this.domainPath(domain, 'workspaces'), z.array(workspaceOut));
  }

  createWorkspace(
    domain: string,
    input: { id: string; name: string; members?: string[] | undefined },
  ): Promise<Workspace> {
    return this.request('POST', this.domainPath(domain, 'workspaces'), workspaceOut, {
      body: input,
    });
  }

  renameWorkspace(domain: string, id: string, name: string): Promise<Workspace> {
    return this.request('PATCH', this.domainPath(domain, 'workspaces', id), workspaceOut, {
      body: { name },
    });
  }

  async deleteWorkspace(domain: string, id: string): Promise<void> {
    await this.send('DELETE', this.domainPath(domain, 'workspaces', id), {});
  }

  addWorkspaceMembers(domain: string, id: string, members: string[]): Promise<Workspace> {
    return this.request(
      'POST',
      this.domainPath(domain, 'workspaces', id, 'members'),
      workspaceOut,
      {
        body: { members },
      },
    );
  }

  removeWorkspaceMember(domain: string, id: string, member: string): Promise<Workspace> {
    return this.request(
      'DELETE',
      this.domainPath(domain, 'workspaces', id, 'members', member),
      workspaceOut,
    );
  }

  usage(domain: string): Promise<UsageReport> {
    return this.request('GET', this.domainPath(domain, 'usage'), usageReportSchema.loose());
  }

  audit(query: AuditQuery = {}): Promise<{ items: AuditEntry[]; next?: string | undefined }> {
    return this.request('GET', '/v1/admin/audit', pageOf(auditOut), { query: { ...query } });
  }

  /** Every matching audit entry, streamed by the Manager as JSON lines. */
  async *auditLines(query: Omit<AuditQuery, 'cursor'> = {}): AsyncGenerator<AuditEntry> {
    const response = await this.send('GET', '/v1/admin/audit', {
      query: { ...query, format: 'jsonl' },
      accept: 'application/x-ndjson',
    });
    const decoder = new TextDecoder();
    let buffered = '';
    const body = response.body;
    if (body === null) return;
    for await (const chunk of body as AsyncIterable<Uint8Array>) {
      buffered += decoder.decode(chunk, { stream: true });
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (line !== '') yield auditOut.parse(JSON.parse(line));
      }
    }
    const last = (buffered + decoder.decode()).trim();
    if (last !== '') yield auditOut.parse(JSON.parse(last));
  }

  listAdminTokens() {
    return this.request('GET', '/v1/admin/tokens', z.array(adminTokenInfoSchema.loose()));
  }

  createAdminToken(input: { name: string; role: string; domains: string[] }) {
    return this.request(
      'POST',
      '/v1/admin/tokens',
      adminTokenInfoSchema.loose().extend({ token: z.string() }),
      { body: input },
    );
  }
}
