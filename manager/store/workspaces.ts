import { managerKeys } from '../../contracts/redis/keys.js';
import type { RedisClient } from '../../contracts/redis/connection.js';
import {
  changeWorkspaceScript,
  createWorkspaceScript,
  deleteWorkspaceScript,
  type WorkspaceChange,
} from '../../contracts/redis/manager-scripts.js';
import { runScript } from '../../contracts/redis/script-runner.js';
import { decodeIdList } from '../../contracts/wire/directory-records.js';
import type { Workspace } from '../model.js';
import type { WorkspaceInput, WorkspaceStore } from './manager-store.js';
import { byId, checkDomain, checkId, checkName, fail } from './store-checks.js';

/** A workspace's record; its members are the relay directory's list, kept apart. */
interface WorkspaceMeta {
  id: string;
  domain: string;
  name: string;
  createdAt: string;
  updatedAt: string;
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

function parseWorkspace(meta: string, members: string | null | undefined): Workspace {
  return toWorkspace(JSON.parse(meta) as WorkspaceMeta, decodeIdList(members));
}

/** Workspaces: their records, and their member lists in the relay directory. */
export class RedisWorkspaceStore implements WorkspaceStore {
  constructor(private readonly redis: RedisClient) {}

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
    return meta === null ? undefined : parseWorkspace(meta, members);
  }

  async listWorkspaces(domain: string): Promise<Workspace[]> {
    checkDomain(domain);
    const keys = managerKeys(domain);
    const [metas, lists] = await Promise.all([
      this.redis.hgetall(keys.workspaces),
      this.redis.hgetall(keys.directory.workspaces),
    ]);
    return Object.entries(metas)
      .map(([id, meta]) => parseWorkspace(meta, lists[id]))
      .sort(byId);
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
      return parseWorkspace(meta, members);
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
}
