import type { RedisClient } from '../../contracts/redis/connection.js';
import { bridgeKeys } from '../../contracts/redis/keys.js';
import {
  bridgeSchema,
  restoreJobSchema,
  storedRolesSchema,
  type Bridge,
  type RestoreJob,
  type StoredRoles,
} from './bridge-model.js';

/** Restore jobs kept per domain (the newest): older finished ones are dropped. */
export const MAX_RESTORE_JOBS = 200;

/** The Manager's bridge records (see bridge-model.ts). */
export interface BridgeRecords {
  getBridge(domain: string, id: string): Promise<Bridge | undefined>;
  listBridges(domain: string): Promise<Bridge[]>;
  putBridge(domain: string, bridge: Bridge): Promise<void>;
  workspaceLabels(domain: string): Promise<Map<string, Record<string, string>>>;
  setWorkspaceLabels(
    domain: string,
    workspace: string,
    labels: Record<string, string>,
  ): Promise<void>;
  /**
   * A deleted workspace: its labels and kept roles go, and no bridge counts it as joined, so a
   * workspace created again with the same id starts clean and is joined again.
   */
  forgetWorkspace(domain: string, workspace: string, now: Date): Promise<void>;
  roles(domain: string, workspace: string): Promise<StoredRoles | undefined>;
  setRoles(domain: string, workspace: string, roles: StoredRoles): Promise<void>;
  getRestore(domain: string, id: string): Promise<RestoreJob | undefined>;
  listRestores(domain: string): Promise<RestoreJob[]>;
  putRestore(domain: string, job: RestoreJob): Promise<void>;
}

function parse<T>(schema: { parse(value: unknown): T }, text: string): T {
  return schema.parse(JSON.parse(text));
}

/** BridgeRecords in the domain's `{dir:D}` hash tag (contracts/redis/keys.ts bridgeKeys). */
export class RedisBridgeRecords implements BridgeRecords {
  constructor(private readonly redis: RedisClient) {}

  async getBridge(domain: string, id: string): Promise<Bridge | undefined> {
    const text = await this.redis.hget(bridgeKeys(domain).bridges, id);
    return text === null ? undefined : parse(bridgeSchema, text);
  }

  async listBridges(domain: string): Promise<Bridge[]> {
    const all = await this.redis.hgetall(bridgeKeys(domain).bridges);
    return Object.values(all)
      .map((text) => parse(bridgeSchema, text))
      .sort((a, b) => a.id.localeCompare(b.id));
  }

  async putBridge(domain: string, bridge: Bridge): Promise<void> {
    await this.redis.hset(bridgeKeys(domain).bridges, bridge.id, JSON.stringify(bridge));
  }

  async workspaceLabels(domain: string): Promise<Map<string, Record<string, string>>> {
    const all = await this.redis.hgetall(bridgeKeys(domain).workspaceLabels);
    return new Map(
      Object.entries(all).map(([id, text]) => [id, JSON.parse(text) as Record<string, string>]),
    );
  }

  async setWorkspaceLabels(
    domain: string,
    workspace: string,
    labels: Record<string, string>,
  ): Promise<void> {
    const key = bridgeKeys(domain).workspaceLabels;
    if (Object.keys(labels).length === 0) await this.redis.hdel(key, workspace);
    else await this.redis.hset(key, workspace, JSON.stringify(labels));
  }

  async forgetWorkspace(domain: string, workspace: string, now: Date): Promise<void> {
    const keys = bridgeKeys(domain);
    await this.redis.hdel(keys.workspaceLabels, workspace);
    await this.redis.hdel(keys.workspaceRoles, workspace);
    for (const bridge of await this.listBridges(domain)) {
      if (!bridge.joined.includes(workspace)) continue;
      await this.putBridge(domain, {
        ...bridge,
        joined: bridge.joined.filter((id) => id !== workspace),
        updatedAt: now.toISOString(),
      });
    }
  }

  async roles(domain: string, workspace: string): Promise<StoredRoles | undefined> {
    const text = await this.redis.hget(bridgeKeys(domain).workspaceRoles, workspace);
    return text === null ? undefined : parse(storedRolesSchema, text);
  }

  async setRoles(domain: string, workspace: string, roles: StoredRoles): Promise<void> {
    await this.redis.hset(bridgeKeys(domain).workspaceRoles, workspace, JSON.stringify(roles));
  }

  async getRestore(domain: string, id: string): Promise<RestoreJob | undefined> {
    const text = await this.redis.hget(bridgeKeys(domain).restores, id);
    return text === null ? undefined : parse(restoreJobSchema, text);
  }

  async listRestores(domain: string): Promise<RestoreJob[]> {
    const all = await this.redis.hgetall(bridgeKeys(domain).restores);
    // Ids are ULIDs: newest first is reverse id order.
    return Object.values(all)
      .map((text) => parse(restoreJobSchema, text))
      .sort((a, b) => (a.id < b.id ? 1 : -1));
  }

  async putRestore(domain: string, job: RestoreJob): Promise<void> {
    const key = bridgeKeys(domain).restores;
    await this.redis.hset(key, job.id, JSON.stringify(job));
    const ids = (await this.redis.hkeys(key)).sort();
    if (ids.length > MAX_RESTORE_JOBS)
      await this.redis.hdel(key, ...ids.slice(0, ids.length - MAX_RESTORE_JOBS));
  }
}
