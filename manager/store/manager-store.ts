import type {
  ActivationCode,
  AdminTokenInfo,
  AuditEntry,
  Device,
  Member,
  MemberInput,
  MemberPatch,
  Role,
  UsageReport,
  Workspace,
} from '../model.js';

/**
 * The Manager's runtime data in Redis, one interface per aggregate; ManagerStore is all of
 * them. Implemented by RedisManagerStore (redis-manager-store.ts), which composes one module
 * per aggregate (members.ts, activation-codes.ts, devices.ts, workspaces.ts, admin-tokens.ts,
 * audit-log.ts, relay-state.ts).
 * Every key of one domain shares the relay directory's hash tag `{dir:DOMAIN}`
 * (contracts/redis/keys.ts), so one MULTI or Lua script updates the Manager's records and the
 * relay's directory together, on a single Redis and on a Redis Cluster alike: what the Manager
 * changes, relays see at once.
 *
 * Methods throw ManagerError (errors.ts) with a stable code; `now` is passed in (no hidden clock).
 */
export interface ManagerStore
  extends
    MemberStore,
    ActivationCodeStore,
    DeviceStore,
    WorkspaceStore,
    AdminTokenStore,
    AuditLog,
    RelayStateReader {}

/** Members (identities). Inputs are checked with the rules of model.ts (store/member-rules.ts). */
export interface MemberStore {
  createMember(domain: string, input: MemberInput, now: Date): Promise<Member>;
  getMember(domain: string, id: string): Promise<Member | undefined>;
  updateMember(domain: string, id: string, patch: MemberPatch, now: Date): Promise<Member>;
  /** Also revokes the member's devices (queues purged, relays told) and removes it from workspaces. */
  deleteMember(domain: string, id: string, now: Date): Promise<{ revokedDevices: string[] }>;
  /**
   * Case-insensitive substring search over id, displayName and email (not email when
   * `searchEmail` is false: the contact search); ordered by id.
   */
  listMembers(
    domain: string,
    options: ListOptions & { query?: string; searchEmail?: boolean },
  ): Promise<Page<Member>>;
  /**
   * Bulk create from rows as received (a parsed JSON array or CSV records): each row is checked
   * like a single create, an id repeated in the rows is an error on its later rows.
   * allOrNothing: either every row is created or (when any row fails) none.
   * Otherwise valid rows are created and failures reported per row (1-based row numbers).
   */
  importMembers(
    domain: string,
    rows: readonly unknown[],
    options: { allOrNothing: boolean },
    now: Date,
  ): Promise<ImportResult>;
  /**
   * Removes what an all-or-nothing import wrote before its Manager died (its journal), once
   * its guard expired; true when there was something. Run by every Manager at start.
   */
  recoverInterruptedImport(domain: string): Promise<boolean>;
}

/** Activation codes: one-time, expiring, bound to a member. Only a hash of the code is stored. */
export interface ActivationCodeStore {
  issueCode(
    domain: string,
    memberId: string,
    ttlSeconds: number,
    now: Date,
  ): Promise<{ code: string; info: ActivationCode }>;
  listCodes(domain: string, options: { memberId?: string }): Promise<ActivationCode[]>;
  revokeCode(domain: string, codeId: string, now: Date): Promise<ActivationCode>;
  /**
   * Atomically checks the code (exists, not used, not expired, not revoked), marks it used and
   * enrolls the device (record + relay directory). The code names its domain (`<domain>.<secret>`).
   */
  redeemCode(
    code: string,
    device: { name: string; publicKey: string },
    now: Date,
  ): Promise<{ member: Member; device: Device }>;
}

/** Devices, and their token refreshes. */
export interface DeviceStore {
  listDevices(domain: string, options: { memberId?: string }): Promise<Device[]>;
  getDevice(domain: string, id: string): Promise<Device | undefined>;
  /**
   * Marks the device revoked, removes it from the relay directory (its tokens stop working),
   * purges its queue, and publishes `revoke:<id>` on the domain's directory channel so every
   * relay closes its connection at once.
   */
  revokeDevice(domain: string, id: string, now: Date): Promise<Device>;
  /** Records a token refresh (last seen). */
  touchDevice(domain: string, id: string, now: Date): Promise<void>;
  /** Token refresh challenges: true the first time a nonce is seen (replays refused). */
  useNonce(domain: string, deviceId: string, nonce: string, ttlSeconds: number): Promise<boolean>;
}

/** Workspaces (the relay fans a message to workspace:ID out to every member's devices). */
export interface WorkspaceStore {
  createWorkspace(domain: string, input: WorkspaceInput, now: Date): Promise<Workspace>;
  getWorkspace(domain: string, id: string): Promise<Workspace | undefined>;
  listWorkspaces(domain: string): Promise<Workspace[]>;
  renameWorkspace(domain: string, id: string, name: string, now: Date): Promise<Workspace>;
  deleteWorkspace(domain: string, id: string): Promise<void>;
  addWorkspaceMembers(
    domain: string,
    id: string,
    members: readonly string[],
    now: Date,
  ): Promise<Workspace>;
  removeWorkspaceMember(domain: string, id: string, member: string, now: Date): Promise<Workspace>;
}

/** Admin tokens: stored as SHA-256 hashes; the token itself is shown once. */
export interface AdminTokenStore {
  createAdminToken(
    input: { name: string; role: Role; domains: string[] },
    now: Date,
  ): Promise<{ token: string; info: AdminTokenInfo }>;
  /**
   * Makes `token` a server-admin named "bootstrap" (idempotent): the bootstrap token from the
   * environment. A token that was revoked (or replaced) before is not stored again ('revoked').
   */
  ensureBootstrapToken(token: string, now: Date): Promise<BootstrapOutcome>;
  authenticateAdmin(token: string): Promise<AdminTokenInfo | undefined>;
  listAdminTokens(): Promise<AdminTokenInfo[]>;
  /** Revokes for good: the token is remembered (by hash) and never accepted again. */
  revokeAdminToken(name: string, now: Date): Promise<void>;
}

/** Audit log: append-only (Redis streams), newest first when queried. */
export interface AuditLog {
  appendAudit(entry: Omit<AuditEntry, 'id'>): Promise<AuditEntry>;
  queryAudit(query: AuditQuery): Promise<Page<AuditEntry>>;
}

/** What the Manager reads of the relays' own keys. */
export interface RelayStateReader {
  /** Presence per device of a member, from the relays' presence keys. */
  presence(domain: string, memberIds: readonly string[]): Promise<Map<string, 'active' | 'idle'>>;
  /** Members, devices, devices online, messages relayed (the relays' counters), queued messages/bytes. */
  usage(domain: string): Promise<UsageReport>;
}

export type { MemberInput, MemberPatch } from '../model.js';

/**
 * What storing the bootstrap token did: created it, kept it (the same token was there),
 * replaced the previous bootstrap token (which is revoked from then on), or nothing because
 * this token was revoked before (it never comes back).
 */
export type BootstrapOutcome = 'created' | 'kept' | 'replaced' | 'revoked';

export interface WorkspaceInput {
  id: string;
  name: string;
  members: string[];
}

export interface ListOptions {
  /** Default 100, at most 1000. */
  limit?: number;
  /** Opaque cursor from a previous page's `next`. */
  cursor?: string;
}

export interface Page<T> {
  items: T[];
  next?: string;
}

export interface ImportResult {
  created: string[];
  /** The first refused rows (at most 1000 listed, texts cut to 300 characters). */
  errors: { row: number; id?: string; code: string; message: string }[];
  /** How many rows were refused, when more than `errors` lists. */
  errorCount?: number;
}

export interface AuditQuery extends ListOptions {
  /** Entries of these domains only (undefined: all, for a server-admin or an all-domain auditor). */
  domains?: readonly string[];
  actor?: string;
  action?: string;
  since?: Date;
  until?: Date;
}
