import type { RedisClient } from '../../contracts/redis/connection.js';
import { RedisActivationCodeStore } from './activation-codes.js';
import { RedisAdminTokenStore } from './admin-tokens.js';
import { RedisAuditLog } from './audit-log.js';
import { RedisDeviceStore } from './devices.js';
import type {
  ActivationCodeStore,
  AdminTokenStore,
  AuditLog,
  DeviceStore,
  ManagerStore,
  MemberStore,
  RelayStateReader,
  WorkspaceStore,
} from './manager-store.js';
import { RedisMemberStore } from './members.js';
import { RedisRelayState } from './relay-state.js';
import { defaultRandom, type RandomSource } from './secrets.js';
import { RedisWorkspaceStore } from './workspaces.js';

/**
 * The ManagerStore on Redis (single or Cluster): one module per aggregate, each over the one
 * script runner (contracts/redis/script-runner.ts) with the scripts of
 * contracts/redis/manager-scripts.ts and the key layout of contracts/redis/keys.ts; this class
 * only routes each call to its module. Failures of Redis itself surface as the client's errors
 * (anything that is not a ManagerError): the API answers 503 for those.
 */
export class RedisManagerStore implements ManagerStore {
  private readonly members: MemberStore;
  private readonly codes: ActivationCodeStore;
  private readonly devices: DeviceStore;
  private readonly workspaces: WorkspaceStore;
  private readonly tokens: AdminTokenStore;
  private readonly audit: AuditLog;
  private readonly relayState: RelayStateReader;

  constructor(
    redis: RedisClient,
    options: { random?: RandomSource; auditMaxFailures?: number } = {},
  ) {
    const random = options.random ?? defaultRandom;
    this.members = new RedisMemberStore(redis);
    this.codes = new RedisActivationCodeStore(redis, random);
    this.devices = new RedisDeviceStore(redis);
    this.workspaces = new RedisWorkspaceStore(redis);
    this.tokens = new RedisAdminTokenStore(redis, random);
    this.audit = new RedisAuditLog(redis, options.auditMaxFailures);
    this.relayState = new RedisRelayState(redis);
  }

  // ---- members: members.ts

  createMember(...args: Parameters<MemberStore['createMember']>) {
    return this.members.createMember(...args);
  }
  getMember(...args: Parameters<MemberStore['getMember']>) {
    return this.members.getMember(...args);
  }
  updateMember(...args: Parameters<MemberStore['updateMember']>) {
    return this.members.updateMember(...args);
  }
  deleteMember(...args: Parameters<MemberStore['deleteMember']>) {
    return this.members.deleteMember(...args);
  }
  listMembers(...args: Parameters<MemberStore['listMembers']>) {
    return this.members.listMembers(...args);
  }
  importMembers(...args: Parameters<MemberStore['importMembers']>) {
    return this.members.importMembers(...args);
  }
  recoverInterruptedImport(...args: Parameters<MemberStore['recoverInterruptedImport']>) {
    return this.members.recoverInterruptedImport(...args);
  }

  // ---- activation codes and enrollment: activation-codes.ts

  issueCode(...args: Parameters<ActivationCodeStore['issueCode']>) {
    return this.codes.issueCode(...args);
  }
  listCodes(...args: Parameters<ActivationCodeStore['listCodes']>) {
    return this.codes.listCodes(...args);
  }
  revokeCode(...args: Parameters<ActivationCodeStore['revokeCode']>) {
    return this.codes.revokeCode(...args);
  }
  redeemCode(...args: Parameters<ActivationCodeStore['redeemCode']>) {
    return this.codes.redeemCode(...args);
  }

  // ---- devices and token refreshes: devices.ts

  listDevices(...args: Parameters<DeviceStore['listDevices']>) {
    return this.devices.listDevices(...args);
  }
  getDevice(...args: Parameters<DeviceStore['getDevice']>) {
    return this.devices.getDevice(...args);
  }
  revokeDevice(...args: Parameters<DeviceStore['revokeDevice']>) {
    return this.devices.revokeDevice(...args);
  }
  touchDevice(...args: Parameters<DeviceStore['touchDevice']>) {
    return this.devices.touchDevice(...args);
  }
  useNonce(...args: Parameters<DeviceStore['useNonce']>) {
    return this.devices.useNonce(...args);
  }

  // ---- workspaces: workspaces.ts

  createWorkspace(...args: Parameters<WorkspaceStore['createWorkspace']>) {
    return this.workspaces.createWorkspace(...args);
  }
  getWorkspace(...args: Parameters<WorkspaceStore['getWorkspace']>) {
    return this.workspaces.getWorkspace(...args);
  }
  listWorkspaces(...args: Parameters<WorkspaceStore['listWorkspaces']>) {
    return this.workspaces.listWorkspaces(...args);
  }
  renameWorkspace(...args: Parameters<WorkspaceStore['renameWorkspace']>) {
    return this.workspaces.renameWorkspace(...args);
  }
  deleteWorkspace(...args: Parameters<WorkspaceStore['deleteWorkspace']>) {
    return this.workspaces.deleteWorkspace(...args);
  }
  addWorkspaceMembers(...args: Parameters<WorkspaceStore['addWorkspaceMembers']>) {
    return this.workspaces.addWorkspaceMembers(...args);
  }
  removeWorkspaceMember(...args: Parameters<WorkspaceStore['removeWorkspaceMember']>) {
    return this.workspaces.removeWorkspaceMember(...args);
  }

  // ---- admin tokens: admin-tokens.ts

  createAdminToken(...args: Parameters<AdminTokenStore['createAdminToken']>) {
    return this.tokens.createAdminToken(...args);
  }
  ensureBootstrapToken(...args: Parameters<AdminTokenStore['ensureBootstrapToken']>) {
    return this.tokens.ensureBootstrapToken(...args);
  }
  authenticateAdmin(...args: Parameters<AdminTokenStore['authenticateAdmin']>) {
    return this.tokens.authenticateAdmin(...args);
  }
  listAdminTokens() {
    return this.tokens.listAdminTokens();
  }
  revokeAdminToken(...args: Parameters<AdminTokenStore['revokeAdminToken']>) {
    return this.tokens.revokeAdminToken(...args);
  }

  // ---- audit log: audit-log.ts

  appendAudit(...args: Parameters<AuditLog['appendAudit']>) {
    return this.audit.appendAudit(...args);
  }
  queryAudit(...args: Parameters<AuditLog['queryAudit']>) {
    return this.audit.queryAudit(...args);
  }

  // ---- what the relays keep: relay-state.ts

  presence(...args: Parameters<RelayStateReader['presence']>) {
    return this.relayState.presence(...args);
  }
  usage(...args: Parameters<RelayStateReader['usage']>) {
    return this.relayState.usage(...args);
  }
}
