import { dnsLabelPattern, idPattern } from '../../crds/common.js';
import {
  auditStreamKey,
  deviceKeys,
  globalKeys,
  identityKeys,
  managerKeys,
} from '../../contracts/redis/keys.js';
import type { RedisClient } from '../../contracts/redis/connection.js';
import {
  appendAuditScript,
  changeWorkspaceScript,
  createMembersScript,
  createWorkspaceScript,
  deleteMemberScript,
  deleteWorkspaceScript,
  issueCodeScript,
  putAdminTokenScript,
  redeemCodeScript,
  revokeAdminTokenScript,
  revokeCodeScript,
  revokeDeviceScript,
  touchDeviceScript,
  updateMemberScript,
  type WorkspaceChange,
} from '../../contracts/redis/manager-scripts.js';
import { runScript } from '../../contracts/redis/script-runner.js';
import { decodeIdList } from '../../contracts/wire/directory-records.js';
import { decodePresenceValue } from '../../contracts/wire/presence.js';
import type { ManagerErrorCode } from '../../contracts/errors/manager-errors.js';
import { ManagerError } from '../errors.js';
import {
  roleSchema,
  type ActivationCode,
  type AdminTokenInfo,
  type AuditEntry,
  type Device,
  type Member,
  type Role,
  type UsageReport,
  type Workspace,
} from '../model.js';
import type {
  AuditQuery,
  ImportResult,
  ListOptions,
  ManagerStore,
  MemberInput,
  MemberPatch,
  Page,
  WorkspaceInput,
} from './manager-store.js';
import {
  compareStreamIds,
  decodeAuditCursor,
  encodeAuditCursor,
  memberInputProblem,
  memberMatches,
  pageLimit,
  planImport,
  type AuditCursor,
} from './paging.js';
import {
  defaultRandom,
  generateActivationCode,
  generateAdminToken,
  hashAdminToken,
  newDeviceId,
  parseActivationCode,
  sha256Hex,
  type RandomSource,
} from './secrets.js';

/** Audit streams are capped (XADD MAXLEN ~): about this many newest entries per stream are kept. */
export const AUDIT_MAX_LEN = 1_000_000;
/** Rows per script call of a non-atomic import, so no call blocks Redis for long. */
const IMPORT_CHUNK = 1000;
/** Entries read per XREVRANGE while merging audit streams. */
const AUDIT_CHUNK = 200;
const publicKeyPattern = /^[A-Za-z0-9_-]{43}$/;

/** An activation code as stored: the model's fields plus the code's hash and expiry in ms. */
interface StoredCode extends ActivationCode {
  hash: string;
  expiresMs: number;
}

interface WorkspaceMeta {
  id: string;
  domain: string;
  name: string;
  createdAt: string;
  updatedAt: string;
}

function fail(code: ManagerErrorCode, message: string, details?: Record<string, unknown>): never {
  throw new ManagerError(code, message, details);
}

function checkDomain(domain: string): void {
  if (typeof domain !== 'string' || domain.length > 63 || !dnsLabelPattern.test(domain)) {
    fail('VALIDATION_FAILED', `invalid domain name ${JSON.stringify(domain)}`);
  }
}

function checkId(id: string, what: string): void {
  if (typeof id !== 'string' || !idPattern.test(id)) {
    fail('VALIDATION_FAILED', `invalid ${what} id ${JSON.stringify(id)}`);
  }
}

function checkName(name: string, what: string, max = 256): void {
  if (typeof name !== 'string' || name.length < 1 || name.length > max) {
    fail('VALIDATION_FAILED', `${what} must be 1-${max} characters`);
  }
}

function parseMember(json: string): Member {
  return JSON.parse(json) as Member;
}

function publicCode(stored: StoredCode): ActivationCode {
  return {
    id: stored.id,
    domain: stored.domain,
    memberId: stored.memberId,
    createdAt: stored.createdAt,
    expiresAt: stored.expiresAt,
    ...(stored.usedAt === undefined ? {} : { usedAt: stored.usedAt }),
    ...(stored.usedByDevice === undefined ? {} : { usedByDevice: stored.usedByDevice }),
    ...(stored.revokedAt === undefined ? {} : { revokedAt: stored.revokedAt }),
  };
}

function parseCode(json: string): ActivationCode {
  return publicCode(JSON.parse(json) as StoredCode);
}

function toWorkspace(meta: WorkspaceMeta, members: string[]): Workspace {
  return {
    id: meta.id,
    domain: meta.domain,
    name: meta.name,
    members,
    createdAt: meta.createdAt,
    updatedAt: meta.updatedAt,
  };
}

function byId<T extends { id: string }>(a: T, b: T): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Reads one audit stream newest first, in chunks, from a position, keeping matching entries. */
class AuditReader {
  private buffer: AuditEntry[] = [];
  private exhausted = false;

  constructor(
    private readonly redis: RedisClient,
    readonly stream: string,
    private end: string,
    private readonly start: string,
    private readonly keep: (entry: AuditEntry) => boolean,
  ) {}

  async peek(): Promise<AuditEntry | undefined> {
    while (this.buffer.length === 0 && !this.exhausted) {
      const rows = await this.redis.xrevrange(
        this.stream,
        this.end,
        this.start,
        'COUNT',
        AUDIT_CHUNK,
      );
      if (rows.length < AUDIT_CHUNK) this.exhausted = true;
      const last = rows.at(-1);
      if (last !== undefined) this.end = `(${last[0]}`;
      for (const [id, fields] of rows) {
        const json = fields[fields.indexOf('e') + 1];
        if (json === undefined) continue;
        const entry = { ...(JSON.parse(json) as Omit<AuditEntry, 'id'>), id };
        if (this.keep(entry)) this.buffer.push(entry);
      }
    }
    return this.buffer[0];
  }

  pop(): void {
    this.buffer.shift();
  }
}

/**
 * The ManagerStore on Redis (single or Cluster). See contracts/redis/keys.ts for the layout and
 * contracts/redis/manager-scripts.ts for the atomic operations. Failures of Redis itself surface as the
 * client's errors (anything that is not a ManagerError): the API answers 503 for those.
 */
export class RedisManagerStore implements ManagerStore {
  private readonly random: RandomSource;

  constructor(
    private readonly redis: RedisClient,
    options: { random?: (bytes: number) => Buffer } = {},
  ) {
    this.random = options.random ?? defaultRandom;
  }

  // ---------------------------------------------------------------- members

  async createMember(domain: string, input: MemberInput, now: Date): Promise<Member> {
    checkDomain(domain);
    const problem = memberInputProblem(input);
    if (problem !== undefined) fail('VALIDATION_FAILED', problem);
    const member = this.newMember(domain, input, now);
    const [status] = await this.writeMembers(domain, [member], 'all');
    if (status !== 'OK') fail('ALREADY_EXISTS', `member ${input.id} already exists`);
    return member;
  }

  private newMember(domain: string, input: MemberInput, now: Date): Member {
    const time = now.toISOString();
    return {
      id: input.id,
      domain,
      displayName: input.displayName,
      ...(input.email === undefined ? {} : { email: input.email }),
      createdAt: time,
      updatedAt: time,
    };
  }

  private writeMembers(
    domain: string,
    members: readonly Member[],
    mode: 'all' | 'each',
  ): Promise<string[]> {
    return runScript(this.redis, createMembersScript, {
      domain,
      mode,
      members: members.map((m) => ({
        id: m.id,
        record: JSON.stringify(m),
        displayName: m.displayName,
      })),
    });
  }

  async getMember(domain: string, id: string): Promise<Member | undefined> {
    checkDomain(domain);
    const json = await this.redis.hget(managerKeys(domain).members, id);
    return json === null ? undefined : parseMember(json);
  }

  async updateMember(domain: string, id: string, patch: MemberPatch, now: Date): Promise<Member> {
    checkDomain(domain);
    checkId(id, 'member');
    if (patch.displayName !== undefined) checkName(patch.displayName, 'displayName');
    if (typeof patch.email === 'string' && patch.email.length > 320) {
      fail('VALIDATION_FAILED', 'email must be at most 320 characters');
    }
    const [status, json] = await runScript(this.redis, updateMemberScript, {
      domain,
      id,
      displayName: patch.displayName,
      email: patch.email,
      updatedAt: now.toISOString(),
    });
    if (status !== 'OK' || json === undefined) fail('NOT_FOUND', `no member ${id} in ${domain}`);
    return parseMember(json);
  }

  async deleteMember(domain: string, id: string, now: Date): Promise<{ revokedDevices: string[] }> {
    checkDomain(domain);
    checkId(id, 'member');
    const [status, ...revoked] = await runScript(this.redis, deleteMemberScript, {
      domain,
      id,
      now: now.toISOString(),
    });
    if (status !== 'OK') fail('NOT_FOUND', `no member ${id} in ${domain}`);
    await Promise.all(revoked.map((device) => this.purgeQueue(domain, device)));
    return { revokedDevices: revoked };
  }

  async listMembers(
    domain: string,
    options: ListOptions & { query?: string },
  ): Promise<Page<Member>> {
    checkDomain(domain);
    const limit = pageLimit(options.limit);
    const query = options.query?.trim() ?? '';
    if (options.cursor !== undefined && !idPattern.test(options.cursor)) {
      fail('VALIDATION_FAILED', 'invalid cursor');
    }
    const keys = managerKeys(domain);
    // Without a query one page is one read; with one, scan the index in chunks until full.
    const chunk = query === '' ? limit + 1 : 1000;
    const items: Member[] = [];
    let start = options.cursor === undefined ? '-' : `(${options.cursor}`;
    for (;;) {
      const ids = await this.redis.zrangebylex(keys.memberIndex, start, '+', 'LIMIT', 0, chunk);
      if (ids.length === 0) break;
      const records = await this.redis.hmget(keys.members, ...ids);
      for (const json of records) {
        if (json === null) continue;
        const member = parseMember(json);
        if (query !== '' && !memberMatches(member, query)) continue;
        if (items.length === limit) return { items, next: lastId(items) };
        items.push(member);
      }
      const last = ids.at(-1);
      if (ids.length < chunk || last === undefined) break;
      start = `(${last}`;
    }
    return { items };
  }

  async importMembers(
    domain: string,
    rows: readonly MemberInput[],
    options: { allOrNothing: boolean },
    now: Date,
  ): Promise<ImportResult> {
    checkDomain(domain);
    const plan = planImport(rows);
    const errors = [...plan.errors];
    const created: string[] = [];
    const rowOf = new Map(plan.valid.map(({ row, input }) => [input.id, row]));
    const members = plan.valid.map(({ input }) => this.newMember(domain, input, now));
    const alreadyExists = (id: string) => ({
      row: rowOf.get(id) ?? 0,
      id,
      code: 'ALREADY_EXISTS',
      message: `member ${id} already exists`,
    });
    if (options.allOrNothing) {
      // One script checks every id and creates all of them, or none when any row fails.
      if (errors.length === 0 && members.length > 0) {
        const [status, ...ids] = await this.writeMembers(domain, members, 'all');
        if (status === 'OK') created.push(...ids);
        else errors.push(...ids.map(alreadyExists));
      }
    } else {
      for (let i = 0; i < members.length; i += IMPORT_CHUNK) {
        const batch = members.slice(i, i + IMPORT_CHUNK);
        const [, ...ids] = await this.writeMembers(domain, batch, 'each');
        const done = new Set(ids);
        created.push(...ids);
        for (const member of batch) {
          if (!done.has(member.id)) errors.push(alreadyExists(member.id));
        }
      }
    }
    errors.sort((a, b) => a.row - b.row);
    return { created, errors };
  }

  // ---------------------------------------------------------------- activation codes

  async issueCode(
    domain: string,
    memberId: string,
    ttlSeconds: number,
    now: Date,
  ): Promise<{ code: string; info: ActivationCode }> {
    checkDomain(domain);
    checkId(memberId, 'member');
    if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0) {
      fail('VALIDATION_FAILED', 'ttlSeconds must be a positive number');
    }
    // Code ids are 32 bits of the hash: on the rare clash with a stored code, draw again.
    for (let attempt = 0; attempt < 5; attempt++) {
      const code = generateActivationCode(domain, this.random);
      const parsed = parseActivationCode(code);
      if (parsed === undefined) throw new Error(`generated an unparsable code for ${domain}`);
      const expiresMs = now.getTime() + Math.round(ttlSeconds * 1000);
      const stored: StoredCode = {
        id: parsed.id,
        domain,
        memberId,
        createdAt: now.toISOString(),
        expiresAt: new Date(expiresMs).toISOString(),
        hash: parsed.hash,
        expiresMs,
      };
      const [status] = await runScript(this.redis, issueCodeScript, {
        domain,
        memberId,
        codeId: parsed.id,
        record: JSON.stringify(stored),
      });
      if (status === 'NOT_FOUND') fail('NOT_FOUND', `no member ${memberId} in ${domain}`);
      if (status === 'OK') return { code, info: publicCode(stored) };
    }
    throw new Error('could not draw an unused activation code id');
  }

  async listCodes(domain: string, options: { memberId?: string }): Promise<ActivationCode[]> {
    checkDomain(domain);
    const all = await this.redis.hvals(managerKeys(domain).codes);
    return all
      .map(parseCode)
      .filter((code) => options.memberId === undefined || code.memberId === options.memberId)
      .sort((a, b) =>
        a.createdAt === b.createdAt ? byId(a, b) : a.createdAt < b.createdAt ? 1 : -1,
      );
  }

  async revokeCode(domain: string, codeId: string, now: Date): Promise<ActivationCode> {
    checkDomain(domain);
    if (!/^[0-9a-f]{8}$/.test(codeId)) fail('NOT_FOUND', `no activation code ${codeId}`);
    const [status, json] = await runScript(this.redis, revokeCodeScript, {
      domain,
      codeId,
      now: now.toISOString(),
    });
    if (status === 'NOT_FOUND' || json === undefined) {
      fail('NOT_FOUND', `no activation code ${codeId} in ${domain}`);
    }
    if (status === 'CODE_USED') fail('CONFLICT', `activation code ${codeId} was already used`);
    return parseCode(json);
  }

  async redeemCode(
    code: string,
    device: { name: string; publicKey: string },
    now: Date,
  ): Promise<{ member: Member; device: Device }> {
    const parsed = typeof code === 'string' ? parseActivationCode(code) : undefined;
    if (parsed === undefined) fail('CODE_INVALID', 'not a valid activation code');
    checkName(device.name, 'device name');
    if (typeof device.publicKey !== 'string' || !publicKeyPattern.test(device.publicKey)) {
      fail('VALIDATION_FAILED', 'publicKey must be a base64url Ed25519 public key (43 characters)');
    }
    const id = newDeviceId(now, this.random);
    const record = {
      id,
      domain: parsed.domain,
      name: device.name,
      publicKey: device.publicKey,
      enrolledAt: now.toISOString(),
    };
    const [status, memberJson, deviceJson] = await runScript(this.redis, redeemCodeScript, {
      domain: parsed.domain,
      codeId: parsed.id,
      codeHash: parsed.hash,
      now,
      deviceId: id,
      device: JSON.stringify(record),
    });
    const failures: Record<string, [ManagerErrorCode, string]> = {
      CODE_EXPIRED: ['CODE_EXPIRED', 'this activation code has expired'],
      CODE_USED: ['CODE_USED', 'this activation code has already been used'],
      CODE_REVOKED: ['CODE_REVOKED', 'this activation code has been revoked'],
      CONFLICT: ['CONFLICT', 'device id clash: enroll again'],
    };
    if (status !== 'OK') {
      const [errorCode, message] = failures[status ?? ''] ?? [
        'CODE_INVALID',
        'unknown activation code',
      ];
      fail(errorCode, message);
    }
    if (memberJson === undefined || deviceJson === undefined) {
      throw new Error('redeem script returned no records');
    }
    return { member: parseMember(memberJson), device: JSON.parse(deviceJson) as Device };
  }

  // ---------------------------------------------------------------- devices

  async listDevices(domain: string, options: { memberId?: string }): Promise<Device[]> {
    checkDomain(domain);
    const keys = managerKeys(domain);
    let records: (string | null)[];
    let ids: string[];
    if (options.memberId === undefined) {
      const all = await this.redis.hgetall(keys.devices);
      ids = Object.keys(all);
      records = Object.values(all);
    } else {
      ids = decodeIdList(await this.redis.hget(keys.memberDevices, options.memberId));
      if (ids.length === 0) return [];
      records = await this.redis.hmget(keys.devices, ...ids);
    }
    if (ids.length === 0) return [];
    const seen = await this.redis.hmget(keys.lastSeen, ...ids);
    const devices: Device[] = [];
    records.forEach((json, i) => {
      if (json === null) return;
      const lastSeenAt = seen[i];
      const device = JSON.parse(json) as Device;
      devices.push(lastSeenAt == null ? device : { ...device, lastSeenAt });
    });
    return devices.sort(byId);
  }

  async getDevice(domain: string, id: string): Promise<Device | undefined> {
    checkDomain(domain);
    const keys = managerKeys(domain);
    const [json, lastSeenAt] = await Promise.all([
      this.redis.hget(keys.devices, id),
      this.redis.hget(keys.lastSeen, id),
    ]);
    if (json === null) return undefined;
    const device = JSON.parse(json) as Device;
    return lastSeenAt === null ? device : { ...device, lastSeenAt };
  }

  async revokeDevice(domain: string, id: string, now: Date): Promise<Device> {
    checkDomain(domain);
    checkId(id, 'device');
    const [status, json] = await runScript(this.redis, revokeDeviceScript, {
      domain,
      id,
      now: now.toISOString(),
    });
    if (status !== 'OK' || json === undefined) fail('NOT_FOUND', `no device ${id} in ${domain}`);
    // The queue lives in the device's own slot: purged after the directory no longer lists
    // the device, so no relay queues anything new for it.
    await this.purgeQueue(domain, id);
    const lastSeenAt = await this.redis.hget(managerKeys(domain).lastSeen, id);
    const device = JSON.parse(json) as Device;
    return lastSeenAt === null ? device : { ...device, lastSeenAt };
  }

  private async purgeQueue(domain: string, device: string): Promise<void> {
    const keys = deviceKeys(domain, device);
    await this.redis.del(keys.meta, keys.queue, keys.ids);
  }

  async touchDevice(domain: string, id: string, now: Date): Promise<void> {
    checkDomain(domain);
    await runScript(this.redis, touchDeviceScript, { domain, id, now: now.toISOString() });
  }

  async presence(
    domain: string,
    memberIds: readonly string[],
  ): Promise<Map<string, 'active' | 'idle'>> {
    checkDomain(domain);
    const result = new Map<string, 'active' | 'idle'>();
    const hashes = await Promise.all(
      memberIds.map((member) => this.redis.hgetall(identityKeys(domain, member).presence)),
    );
    for (const hash of hashes) {
      for (const [device, value] of Object.entries(hash)) {
        result.set(device, decodePresenceValue(value).status);
      }
    }
    return result;
  }

  // ---------------------------------------------------------------- workspaces

  async createWorkspace(domain: string, input: WorkspaceInput, now: Date): Promise<Workspace> {
    checkDomain(domain);
    checkId(input.id, 'workspace');
    checkName(input.name, 'workspace name');
    input.members.forEach((member) => checkId(member, 'member'));
    const members = [...new Set(input.members)].sort();
    const time = now.toISOString();
    const meta: WorkspaceMeta = {
      id: input.id,
      domain,
      name: input.name,
      createdAt: time,
      updatedAt: time,
    };
    const [status, ...unknown] = await runScript(this.redis, createWorkspaceScript, {
      domain,
      id: input.id,
      record: JSON.stringify(meta),
      members,
    });
    if (status === 'ALREADY_EXISTS') fail('ALREADY_EXISTS', `workspace ${input.id} already exists`);
    if (status !== 'OK') {
      fail('NOT_FOUND', `unknown members: ${unknown.join(', ')}`, { members: unknown });
    }
    return toWorkspace(meta, members);
  }

  async getWorkspace(domain: string, id: string): Promise<Workspace | undefined> {
    checkDomain(domain);
    const keys = managerKeys(domain);
    const [meta, members] = await Promise.all([
      this.redis.hget(keys.workspaces, id),
      this.redis.hget(keys.directory.workspaces, id),
    ]);
    if (meta === null) return undefined;
    return toWorkspace(JSON.parse(meta) as WorkspaceMeta, decodeIdList(members));
  }

  async listWorkspaces(domain: string): Promise<Workspace[]> {
    checkDomain(domain);
    const keys = managerKeys(domain);
    const [metas, lists] = await Promise.all([
      this.redis.hgetall(keys.workspaces),
      this.redis.hgetall(keys.directory.workspaces),
    ]);
    return Object.entries(metas)
      .map(([id, meta]) => toWorkspace(JSON.parse(meta) as WorkspaceMeta, decodeIdList(lists[id])))
      .sort(byId);
  }

  private async changeWorkspace(
    domain: string,
    id: string,
    now: Date,
    change: WorkspaceChange,
  ): Promise<Workspace> {
    const [status, ...rest] = await runScript(this.redis, changeWorkspaceScript, {
      domain,
      id,
      now: now.toISOString(),
      change,
    });
    const [meta, members] = rest;
    if (status === 'OK' && meta !== undefined && members !== undefined) {
      return toWorkspace(JSON.parse(meta) as WorkspaceMeta, decodeIdList(members));
    }
    if (status === 'UNKNOWN_MEMBERS') {
      fail('NOT_FOUND', `unknown members: ${rest.join(', ')}`, { members: rest });
    }
    if (status === 'NOT_A_MEMBER') {
      const member = change.op === 'remove' ? change.member : '';
      fail('NOT_FOUND', `${member} is not a member of workspace ${id}`);
    }
    fail('NOT_FOUND', `no workspace ${id} in ${domain}`);
  }

  async renameWorkspace(domain: string, id: string, name: string, now: Date): Promise<Workspace> {
    checkDomain(domain);
    checkName(name, 'workspace name');
    return this.changeWorkspace(domain, id, now, { op: 'rename', name });
  }

  async deleteWorkspace(domain: string, id: string): Promise<void> {
    checkDomain(domain);
    const [status] = await runScript(this.redis, deleteWorkspaceScript, { domain, id });
    if (status !== 'OK') fail('NOT_FOUND', `no workspace ${id} in ${domain}`);
  }

  async addWorkspaceMembers(
    domain: string,
    id: string,
    members: readonly string[],
    now: Date,
  ): Promise<Workspace> {
    checkDomain(domain);
    members.forEach((member) => checkId(member, 'member'));
    return this.changeWorkspace(domain, id, now, { op: 'add', members: [...new Set(members)] });
  }

  async removeWorkspaceMember(
    domain: string,
    id: string,
    member: string,
    now: Date,
  ): Promise<Workspace> {
    checkDomain(domain);
    return this.changeWorkspace(domain, id, now, { op: 'remove', member });
  }

  // ---------------------------------------------------------------- admin tokens

  async createAdminToken(
    input: { name: string; role: Role; domains: string[] },
    now: Date,
  ): Promise<{ token: string; info: AdminTokenInfo }> {
    checkName(input.name, 'token name', 128);
    if (!roleSchema.safeParse(input.role).success) fail('VALIDATION_FAILED', 'unknown role');
    input.domains.forEach(checkDomain);
    const token = generateAdminToken(this.random);
    const info: AdminTokenInfo = {
      name: input.name,
      role: input.role,
      domains: [...input.domains],
      createdAt: now.toISOString(),
    };
    const [status] = await this.putAdminToken('create', token, info);
    if (status !== 'OK') fail('ALREADY_EXISTS', `an admin token named ${input.name} exists`);
    return { token, info };
  }

  private putAdminToken(
    mode: 'create' | 'replace',
    token: string,
    info: AdminTokenInfo,
  ): Promise<string[]> {
    return runScript(this.redis, putAdminTokenScript, {
      mode,
      name: info.name,
      hash: hashAdminToken(token),
      record: JSON.stringify(info),
    });
  }

  async ensureBootstrapToken(token: string, now: Date): Promise<void> {
    if (typeof token !== 'string' || token.length < 16) {
      fail('VALIDATION_FAILED', 'the bootstrap token must be at least 16 characters');
    }
    await this.putAdminToken('replace', token, {
      name: 'bootstrap',
      role: 'server-admin',
      domains: [],
      createdAt: now.toISOString(),
    });
  }

  async authenticateAdmin(token: string): Promise<AdminTokenInfo | undefined> {
    if (typeof token !== 'string' || token.length === 0 || token.length > 512) return undefined;
    const json = await this.redis.hget(globalKeys.adminTokens, hashAdminToken(token));
    return json === null ? undefined : (JSON.parse(json) as AdminTokenInfo);
  }

  async listAdminTokens(): Promise<AdminTokenInfo[]> {
    const all = await this.redis.hvals(globalKeys.adminTokens);
    return all
      .map((json) => JSON.parse(json) as AdminTokenInfo)
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async revokeAdminToken(name: string): Promise<void> {
    const [status] = await runScript(this.redis, revokeAdminTokenScript, { name });
    if (status !== 'OK') fail('NOT_FOUND', `no admin token named ${name}`);
  }

  // ---------------------------------------------------------------- audit

  async appendAudit(entry: Omit<AuditEntry, 'id'>): Promise<AuditEntry> {
    if (entry.domain !== undefined) {
      checkDomain(entry.domain);
      // Registered first: a query over all domains must find every stream that has entries.
      await this.redis.sadd(globalKeys.auditDomains, entry.domain);
    }
    const time = Date.parse(entry.time);
    if (Number.isNaN(time)) fail('VALIDATION_FAILED', 'audit entry time must be an ISO time');
    const stored = { ...entry };
    const id = await runScript(this.redis, appendAuditScript, {
      domain: entry.domain,
      maxLen: AUDIT_MAX_LEN,
      timeMs: Math.max(0, time),
      record: JSON.stringify(stored),
    });
    return { ...stored, id };
  }

  async queryAudit(query: AuditQuery): Promise<Page<AuditEntry>> {
    const limit = pageLimit(query.limit);
    let cursor: AuditCursor | undefined;
    if (query.cursor !== undefined) {
      cursor = decodeAuditCursor(query.cursor);
      if (cursor === undefined) fail('VALIDATION_FAILED', 'invalid cursor');
    }
    let streams: string[];
    if (query.domains === undefined) {
      const domains = await this.redis.smembers(globalKeys.auditDomains);
      streams = [globalKeys.audit, ...domains.map((d) => auditStreamKey(d))];
    } else {
      query.domains.forEach(checkDomain);
      streams = [...new Set(query.domains)].map((d) => auditStreamKey(d));
    }
    streams.sort();
    const since = query.since?.getTime();
    const until = query.until?.getTime();
    const keep = (entry: AuditEntry) => {
      if (query.actor !== undefined && entry.actor !== query.actor) return false;
      if (query.action !== undefined && entry.action !== query.action) return false;
      const time = Date.parse(entry.time);
      if (since !== undefined && time < since) return false;
      if (until !== undefined && time > until) return false;
      return true;
    };
    // Newest first across streams: by id descending, ties by stream name ascending. After a
    // cursor, a stream ordered before or at the cursor's continues below its id, a stream
    // ordered after it at its id.
    const start = since === undefined ? '-' : String(Math.max(0, since));
    const readers = streams.map((stream) => {
      let end = until === undefined ? '+' : String(Math.max(0, until));
      if (cursor !== undefined) end = stream > cursor.stream ? cursor.id : `(${cursor.id}`;
      return new AuditReader(this.redis, stream, end, start, keep);
    });
    const items: AuditEntry[] = [];
    let lastStream = '';
    for (;;) {
      const heads = await Promise.all(readers.map((reader) => reader.peek()));
      let best = -1;
      heads.forEach((head, i) => {
        if (head === undefined) return;
        const current = best < 0 ? undefined : heads[best];
        if (current === undefined || compareStreamIds(head.id, current.id) > 0) best = i;
      });
      const reader = readers[best];
      const head = heads[best];
      if (reader === undefined || head === undefined) return { items };
      if (items.length === limit) {
        const last = items.at(-1);
        return last === undefined
          ? { items }
          : { items, next: encodeAuditCursor({ id: last.id, stream: lastStream }) };
      }
      items.push(head);
      lastStream = reader.stream;
      reader.pop();
    }
  }

  // ---------------------------------------------------------------- misc

  async useNonce(
    domain: string,
    deviceId: string,
    nonce: string,
    ttlSeconds: number,
  ): Promise<boolean> {
    checkDomain(domain);
    checkId(deviceId, 'device');
    // The nonce is hashed into the key: whatever the client sent, the key stays well-formed.
    const key = managerKeys(domain).nonce(deviceId, sha256Hex(nonce).slice(0, 32));
    const set = await this.redis.set(key, '1', 'EX', Math.max(1, Math.ceil(ttlSeconds)), 'NX');
    return set === 'OK';
  }

  async usage(domain: string): Promise<UsageReport> {
    checkDomain(domain);
    const keys = managerKeys(domain);
    const [members, directoryDevices, relayed] = await Promise.all([
      this.redis.hlen(keys.members),
      this.redis.hgetall(keys.directory.devices),
      this.redis.hget(keys.usage, 'messagesRelayed'),
    ]);
    const devices = Object.keys(directoryDevices);
    const identities = [...new Set(Object.values(directoryDevices))];
    const [presence, metas] = await Promise.all([
      Promise.all(identities.map((id) => this.redis.hkeys(identityKeys(domain, id).presence))),
      Promise.all(
        devices.map((device) =>
          this.redis.hmget(deviceKeys(domain, device).meta, 'head', 'next', 'bytes'),
        ),
      ),
    ]);
    const enrolled = new Set(devices);
    const devicesOnline = presence.flat().filter((device) => enrolled.has(device)).length;
    let queuedMessages = 0;
    let queuedBytes = 0;
    for (const [head, next, bytes] of metas) {
      // Queue meta (contracts/redis/lua/enqueue.lua): entries head..next-1 are queued, `bytes` their size.
      if (head == null || next == null) continue;
      queuedMessages += Math.max(0, Number(next) - Number(head));
      queuedBytes += Math.max(0, Number(bytes ?? 0));
    }
    return {
      domain,
      members,
      devices: devices.length,
      devicesOnline,
      messagesRelayed: Number(relayed ?? 0),
      queuedMessages,
      queuedBytes,
    };
  }
}

function lastId(items: readonly Member[]): string {
  return items.at(-1)?.id ?? '';
}
