import type { ManagerStore } from '../manager/store/manager-store.js';
import { directoryKeys } from '../contracts/redis/keys.js';
import type { RedisClient } from '../contracts/redis/connection.js';
import { directoryChangedMessage } from '../contracts/wire/directory-channel.js';
import type { SeedDomain } from './config-schema.js';

/**
 * Creates the config's seed members and workspaces through the Manager's store, leaving alone
 * what exists (so enrolled devices and changes made in the Manager survive a restart). Seed
 * devices have no key: they exist for `grove token issue`, the local stack's shortcut around
 * enrollment, and are added to the relay directory directly.
 */
export async function seedDomain(
  store: ManagerStore,
  redis: RedisClient,
  seed: SeedDomain,
  now: Date,
): Promise<void> {
  const { domain } = seed;
  for (const member of seed.members) {
    if ((await store.getMember(domain, member.identity)) === undefined) {
      await store.createMember(
        domain,
        { id: member.identity, displayName: member.displayName ?? member.identity },
        now,
      );
    }
  }
  const devices = Object.fromEntries(
    seed.members.flatMap((member) => member.devices.map((device) => [device, member.identity])),
  );
  if (Object.keys(devices).length > 0) {
    const keys = directoryKeys(domain);
    await redis.hset(keys.devices, devices);
    await redis.spublish(keys.channel, directoryChangedMessage);
  }
  for (const workspace of seed.workspaces) {
    const existing = await store.getWorkspace(domain, workspace.id);
    if (existing === undefined) {
      await store.createWorkspace(
        domain,
        { id: workspace.id, name: workspace.id, members: workspace.members },
        now,
      );
    } else {
      const missing = workspace.members.filter((member) => !existing.members.includes(member));
      if (missing.length > 0) await store.addWorkspaceMembers(domain, workspace.id, missing, now);
    }
  }
}
