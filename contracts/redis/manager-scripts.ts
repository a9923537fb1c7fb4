import { encodeIdentityRecord, encodeIdList } from '../wire/directory-records.js';
import { auditStreamKey, globalKeys, managerKeys } from './keys.js';
import { defineScript } from './script-runner.js';

/**
 * The Manager's scripts. Each touches only keys of one domain (hash tag `{dir:DOMAIN}`) or
 * only global ones (`{mgr}`), so it runs atomically in one slot on a Redis Cluster too, and
 * publishes a directory change on the domain's sharded channel in the same step. Records go
 * in and come out as JSON text: their shapes are the Manager's (manager/model.ts). Every
 * script but the audit append replies with a status ('OK' or why not) and then its values.
 */
function statusReply(reply: unknown): string[] {
  if (!Array.isArray(reply)) throw new Error('unexpected reply from a Manager script');
  return reply.map((value) => String(value));
}

/** lua/create-members.lua */
export const createMembersScript = defineScript(
  'create-members',
  (input: {
    domain: string;
    /** 'all': every member or none; 'each': every member whose id is free. */
    mode: 'all' | 'each';
    members: readonly { id: string; record: string; displayName: string }[];
  }) => {
    const keys = managerKeys(input.domain);
    const args: string[] = [input.mode, keys.directory.channel];
    for (const member of input.members) {
      args.push(
        member.id,
        member.record,
        encodeIdentityRecord({ displayName: member.displayName }),
      );
    }
    return {
      keys: [keys.members, keys.memberIndex, keys.directory.identities, keys.importGuard],
      args,
    };
  },
  statusReply,
);

/** lua/import-members.lua: one chunk of an all-or-nothing import, under its guard. */
export const importMembersScript = defineScript(
  'import-members',
  (input: {
    domain: string;
    token: string;
    guardMs: number;
    members: readonly { id: string; record: string; displayName: string }[];
  }) => {
    const keys = managerKeys(input.domain);
    const args: (string | number)[] = [input.token, input.guardMs];
    for (const member of input.members) {
      args.push(
        member.id,
        member.record,
        encodeIdentityRecord({ displayName: member.displayName }),
      );
    }
    return {
      keys: [
        keys.members,
        keys.memberIndex,
        keys.directory.identities,
        keys.importGuard,
        keys.importJournal,
      ],
      args,
    };
  },
  statusReply,
);

/** lua/rollback-member-import.lua: removes up to `count` members of the import journal. */
export const rollbackMemberImportScript = defineScript(
  'rollback-member-import',
  (input: { domain: string; token: string; guardMs: number; count: number }) => {
    const keys = managerKeys(input.domain);
    return {
      keys: [
        keys.members,
        keys.memberIndex,
        keys.directory.identities,
        keys.importGuard,
        keys.importJournal,
      ],
      args: [input.token, input.guardMs, input.count],
    };
  },
  statusReply,
);

/** lua/finish-member-import.lua */
export const finishMemberImportScript = defineScript(
  'finish-member-import',
  (input: { domain: string; token: string; mode: 'commit' | 'release'; publish: boolean }) => {
    const keys = managerKeys(input.domain);
    return {
      keys: [keys.importGuard, keys.importJournal],
      args: [input.token, keys.directory.channel, input.mode, input.publish ? '1' : '0'],
    };
  },
  statusReply,
);

/** lua/update-member.lua: `displayName` and `email` undefined keep them, a null email clears it. */
export const updateMemberScript = defineScript(
  'update-member',
  (input: {
    domain: string;
    id: string;
    displayName: string | undefined;
    email: string | null | undefined;
    updatedAt: string;
  }) => {
    const keys = managerKeys(input.domain);
    const emailMode = input.email === undefined ? 'keep' : input.email === null ? 'clear' : 'set';
    return {
      keys: [keys.members, keys.directory.identities],
      args: [
        keys.directory.channel,
        input.id,
        input.displayName === undefined ? '0' : '1',
        input.displayName ?? '',
        emailMode,
        input.email ?? '',
        input.updatedAt,
      ],
    };
  },
  statusReply,
);

/** lua/delete-member.lua */
export const deleteMemberScript = defineScript(
  'delete-member',
  (input: { domain: string; id: string; now: string }) => {
    const keys = managerKeys(input.domain);
    return {
      keys: [
        keys.members,
        keys.memberIndex,
        keys.directory.identities,
        keys.devices,
        keys.memberDevices,
        keys.directory.devices,
        keys.workspaces,
        keys.directory.workspaces,
        keys.codes,
      ],
      args: [keys.directory.channel, input.id, input.now],
    };
  },
  statusReply,
);

/** lua/issue-code.lua */
export const issueCodeScript = defineScript(
  'issue-code',
  (input: { domain: string; memberId: string; codeId: string; record: string }) => {
    const keys = managerKeys(input.domain);
    return {
      keys: [keys.members, keys.codes],
      args: [input.memberId, input.codeId, input.record],
    };
  },
  statusReply,
);

/** lua/revoke-code.lua */
export const revokeCodeScript = defineScript(
  'revoke-code',
  (input: { domain: string; codeId: string; now: string }) => ({
    keys: [managerKeys(input.domain).codes],
    args: [input.codeId, input.now],
  }),
  statusReply,
);

/** lua/redeem-code.lua: `device` is the device record without its memberId. */
export const redeemCodeScript = defineScript(
  'redeem-code',
  (input: {
    domain: string;
    codeId: string;
    codeHash: string;
    now: Date;
    deviceId: string;
    device: string;
  }) => {
    const keys = managerKeys(input.domain);
    return {
      keys: [keys.codes, keys.members, keys.devices, keys.memberDevices, keys.directory.devices],
      args: [
        keys.directory.channel,
        input.codeId,
        input.codeHash,
        input.now.getTime(),
        input.now.toISOString(),
        input.deviceId,
        input.device,
      ],
    };
  },
  statusReply,
);

/** lua/revoke-device.lua */
export const revokeDeviceScript = defineScript(
  'revoke-device',
  (input: { domain: string; id: string; now: string }) => {
    const keys = managerKeys(input.domain);
    return {
      keys: [keys.devices, keys.directory.devices],
      args: [keys.directory.channel, input.id, input.now],
    };
  },
  statusReply,
);

/** lua/touch-device.lua */
export const touchDeviceScript = defineScript(
  'touch-device',
  (input: { domain: string; id: string; now: string }) => {
    const keys = managerKeys(input.domain);
    return { keys: [keys.devices, keys.lastSeen], args: [input.id, input.now] };
  },
  statusReply,
);

/** lua/create-workspace.lua */
export const createWorkspaceScript = defineScript(
  'create-workspace',
  (input: { domain: string; id: string; record: string; members: readonly string[] }) => {
    const keys = managerKeys(input.domain);
    return {
      keys: [keys.workspaces, keys.directory.workspaces, keys.members],
      args: [
        keys.directory.channel,
        input.id,
        input.record,
        encodeIdList(input.members),
        ...input.members,
      ],
    };
  },
  statusReply,
);

export type WorkspaceChange =
  | { op: 'add'; members: readonly string[] }
  | { op: 'remove'; member: string }
  | { op: 'rename'; name: string };

/** lua/change-workspace.lua */
export const changeWorkspaceScript = defineScript(
  'change-workspace',
  (input: { domain: string; id: string; now: string; change: WorkspaceChange }) => {
    const keys = managerKeys(input.domain);
    const { change } = input;
    const operands =
      change.op === 'add' ? change.members : [change.op === 'remove' ? change.member : change.name];
    return {
      keys: [keys.workspaces, keys.directory.workspaces, keys.members],
      args: [keys.directory.channel, input.id, input.now, change.op, ...operands],
    };
  },
  statusReply,
);

/** lua/delete-workspace.lua */
export const deleteWorkspaceScript = defineScript(
  'delete-workspace',
  (input: { domain: string; id: string }) => {
    const keys = managerKeys(input.domain);
    return {
      keys: [keys.workspaces, keys.directory.workspaces],
      args: [keys.directory.channel, input.id],
    };
  },
  statusReply,
);

/** lua/put-admin-token.lua */
export const putAdminTokenScript = defineScript(
  'put-admin-token',
  (input: {
    mode: 'create' | 'replace';
    name: string;
    hash: string;
    record: string;
    now: string;
  }) => ({
    keys: [globalKeys.adminTokens, globalKeys.adminTokenNames, globalKeys.revokedAdminTokens],
    args: [input.mode, input.name, input.hash, input.record, input.now],
  }),
  statusReply,
);

/** lua/revoke-admin-token.lua */
export const revokeAdminTokenScript = defineScript(
  'revoke-admin-token',
  (input: { name: string; now: string }) => ({
    keys: [globalKeys.adminTokens, globalKeys.adminTokenNames, globalKeys.revokedAdminTokens],
    args: [input.name, input.now],
  }),
  statusReply,
);

/** lua/append-audit.lua: the entry's stream id. `failures`: the stream of failed attempts. */
export const appendAuditScript = defineScript(
  'append-audit',
  (input: {
    domain: string | undefined;
    failures: boolean;
    maxLen: number;
    timeMs: number;
    record: string;
  }) => ({
    keys: [auditStreamKey(input.domain, input.failures)],
    args: [input.maxLen, input.timeMs, input.record],
  }),
  (reply): string => {
    if (typeof reply !== 'string') throw new Error('XADD returned no id');
    return reply;
  },
);
