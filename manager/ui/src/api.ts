/** The admin API client: every call carries the admin token kept in sessionStorage. */

// The Manager's own types (manager/model.ts, manager/api/schemas.ts), under the names the
// pages use. Type-only imports: nothing of the Manager lands in the bundle.
import type { AuditEntry, Member, UsageReport, Workspace } from '../../model.js';
import type { RestoreJob } from '../../bridge/bridge-model.js';
import type {
  DeviceWithPresence as Device,
  DomainSummary as DomainInfo,
  ImportResponse as ImportReport,
  IssuedCode,
  Page,
  PolicyResponse as PolicyView,
  RelaysResponse as RelaysView,
  WhoAmIResponse as WhoAmI,
} from '../../api/schemas.js';

export type {
  AuditEntry,
  Device,
  DomainInfo,
  ImportReport,
  IssuedCode,
  Member,
  Page,
  PolicyView,
  RelaysView,
  RestoreJob,
  UsageReport,
  WhoAmI,
  Workspace,
};

const TOKEN_KEY = 'grove.adminToken';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly body: unknown,
  ) {
    super(message);
  }
}

export function storedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}
export function storeToken(token: string | null): void {
  if (token === null) sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
}

/** Called when the API answers 401: the stored token no longer works. */
let onUnauthenticated: () => void = () => undefined;
export function setUnauthenticatedHandler(handler: () => void): void {
  onUnauthenticated = handler;
}

interface RequestOptions {
  method?: string;
  body?: unknown;
  /** A raw body with its content type (CSV import). */
  raw?: { contentType: string; text: string };
  query?: Record<string, string | undefined>;
  token?: string;
  accept?: string;
}

async function send(path: string, options: RequestOptions = {}): Promise<Response> {
  const token = options.token ?? storedToken() ?? '';
  const headers: Record<string, string> = {
    authorization: `Bearer ${token}`,
    accept: options.accept ?? 'application/json',
  };
  let body: string | undefined;
  if (options.raw !== undefined) {
    headers['content-type'] = options.raw.contentType;
    body = options.raw.text;
  } else if (options.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.body);
  }
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(options.query ?? {})) {
    if (value !== undefined && value !== '') params.set(key, value);
  }
  const query = params.toString();
  const response = await fetch(query === '' ? path : `${path}?${query}`, {
    method: options.method ?? 'GET',
    headers,
    body,
    cache: 'no-store',
  });
  if (!response.ok) {
    const payload: unknown = await response.json().catch(() => undefined);
    const error = errorOf(payload);
    if (response.status === 401 && options.token === undefined) onUnauthenticated();
    throw new ApiError(
      response.status,
      error.code ?? `HTTP_${String(response.status)}`,
      error.message ?? `${response.status.toString()} ${response.statusText}`,
      payload,
    );
  }
  return response;
}

function errorOf(payload: unknown): { code?: string; message?: string } {
  if (typeof payload !== 'object' || payload === null || !('error' in payload)) return {};
  const error = payload.error;
  if (typeof error !== 'object' || error === null) return {};
  return {
    code: 'code' in error && typeof error.code === 'string' ? error.code : undefined,
    message: 'message' in error && typeof error.message === 'string' ? error.message : undefined,
  };
}

async function json<T>(path: string, options?: RequestOptions): Promise<T> {
  const response = await send(path, options);
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

const enc = encodeURIComponent;
const base = (domain: string): string => `/v1/admin/domains/${enc(domain)}`;

export const api = {
  whoami: (token?: string) => json<WhoAmI>('/v1/admin/whoami', { token }),
  domains: () => json<DomainInfo[]>('/v1/admin/domains'),
  usage: (domain: string) => json<UsageReport>(`${base(domain)}/usage`),
  members: (domain: string, q: string, cursor?: string) =>
    json<Page<Member>>(`${base(domain)}/members`, { query: { q, cursor, limit: '50' } }),
  createMember: (domain: string, member: { id: string; displayName: string; email?: string }) =>
    json<Member>(`${base(domain)}/members`, { method: 'POST', body: member }),
  importMembers: (domain: string, format: 'csv' | 'json', text: string, allOrNothing: boolean) =>
    json<ImportReport>(`${base(domain)}/members:import`, {
      method: 'POST',
      raw: { contentType: format === 'csv' ? 'text/csv' : 'application/json', text },
      query: { allOrNothing: allOrNothing ? 'true' : undefined },
    }),
  issueCode: (domain: string, member: string, ttlSeconds?: number) =>
    json<IssuedCode>(`${base(domain)}/members/${enc(member)}/codes`, {
      method: 'POST',
      body: ttlSeconds === undefined ? {} : { ttlSeconds },
    }),
  devices: (domain: string, member?: string) =>
    json<Device[]>(`${base(domain)}/devices`, { query: { member } }),
  revokeDevice: (domain: string, id: string) =>
    json<Device>(`${base(domain)}/devices/${enc(id)}/revoke`, { method: 'POST' }),
  workspaces: (domain: string) => json<Workspace[]>(`${base(domain)}/workspaces`),
  createWorkspace: (domain: string, id: string, name: string, members: string[]) =>
    json<Workspace>(`${base(domain)}/workspaces`, { method: 'POST', body: { id, name, members } }),
  renameWorkspace: (domain: string, id: string, name: string) =>
    json<Workspace>(`${base(domain)}/workspaces/${enc(id)}`, { method: 'PATCH', body: { name } }),
  deleteWorkspace: (domain: string, id: string) =>
    json<undefined>(`${base(domain)}/workspaces/${enc(id)}`, { method: 'DELETE' }),
  addWorkspaceMembers: (domain: string, id: string, members: string[]) =>
    json<Workspace>(`${base(domain)}/workspaces/${enc(id)}/members`, {
      method: 'POST',
      body: { members },
    }),
  removeWorkspaceMember: (domain: string, id: string, member: string) =>
    json<Workspace>(`${base(domain)}/workspaces/${enc(id)}/members/${enc(member)}`, {
      method: 'DELETE',
    }),
  policy: (domain: string, member?: string) =>
    json<PolicyView>(`${base(domain)}/policy`, { query: { member } }),
  relays: (domain: string) => json<RelaysView>(`${base(domain)}/relays`),
  restores: (domain: string) => json<RestoreJob[]>(`${base(domain)}/restores`),
  restore: (
    domain: string,
    body: {
      sourceWorkspace: string;
      newWorkspace: string;
      owner: string;
      name?: string;
      segment?: number;
      until?: string;
    },
  ) => json<RestoreJob>(`${base(domain)}/restores`, { method: 'POST', body }),
  audit: (filters: Record<string, string | undefined>, cursor?: string) =>
    json<Page<AuditEntry>>('/v1/admin/audit', { query: { ...filters, cursor, limit: '100' } }),
  auditExport: async (filters: Record<string, string | undefined>) => {
    const response = await send('/v1/admin/audit', {
      query: filters,
      accept: 'application/x-ndjson',
    });
    return response.blob();
  },
};
