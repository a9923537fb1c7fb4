import { directoryKeys, domainOfDirectoryChannel } from '../../contracts/redis/keys.js';
import type { RedisClient } from '../../contracts/redis/connection.js';
import { directoryChangedMessage } from '../../contracts/wire/directory-channel.js';
import {
  decodeIdList,
  encodeIdentityRecord,
  encodeIdList,
} from '../../contracts/wire/directory-records.js';

/** Who is in a domain: identities, their devices, workspaces and their members. */
export interface DomainDirectory {
  identityOfDevice(device: string): string | undefined;
  devicesOfIdentity(identity: string): readonly string[] | undefined;
  membersOfWorkspace(workspace: string): readonly string[] | undefined;
}

export interface DirectorySeed {
  identities: { id: string; displayName?: string | undefined; devices: string[] }[];
  workspaces: { id: string; members: string[] }[];
}

class Snapshot implements DomainDirectory {
  constructor(
    private readonly deviceToIdentity: Map<string, string>,
    private readonly identityToDevices: Map<string, string[]>,
    private readonly workspaceMembers: Map<string, string[]>,
  ) {}
  identityOfDevice(device: string) {
    return this.deviceToIdentity.get(device);
  }
  devicesOfIdentity(identity: string) {
    return this.identityToDevices.get(identity);
  }
  membersOfWorkspace(workspace: string) {
    return this.workspaceMembers.get(workspace);
  }
}

/**
 * The relay's read-through cache of each domain's directory. Whoever changes a directory
 * publishes on its channel, and the cache drops that domain at once, so a change takes
 * effect at the next send.
 */
export class DirectoryCache {
  private readonly loaded = new Map<string, Promise<DomainDirectory>>();

  constructor(
    private readonly redis: RedisClient,
    private readonly subscriber: RedisClient,
  ) {
    subscriber.on('smessage', (channel: string) => {
      const domain = domainOfDirectoryChannel(channel);
      if (domain !== undefined) this.loaded.delete(domain);
    });
  }

  /** Forgets every loaded directory (changes may have been published while unsubscribed). */
  clear(): void {
    this.loaded.clear();
  }

  get(domain: string): Promise<DomainDirectory> {
    let directory = this.loaded.get(domain);
    if (directory === undefined) {
      directory = this.load(domain);
      this.loaded.set(domain, directory);
      directory.catch(() => this.loaded.delete(domain));
    }
    return directory;
  }

  private async load(domain: string): Promise<DomainDirectory> {
    const keys = directoryKeys(domain);
    await this.subscriber.ssubscribe(keys.channel);
    const [devices, identities, workspaces] = await Promise.all([
      this.redis.hgetall(keys.devices),
      this.redis.hgetall(keys.identities),
      this.redis.hgetall(keys.workspaces),
    ]);
    const deviceToIdentity = new Map(Object.entries(devices));
    const identityToDevices = new Map<string, string[]>(
      Object.keys(identities).map((id) => [id, []]),
    );
    for (const [device, identity] of deviceToIdentity) {
      identityToDevices.get(identity)?.push(device);
    }
    for (const list of identityToDevices.values()) list.sort();
    const workspaceMembers = new Map(
      Object.entries(workspaces).map(([id, json]) => [id, decodeIdList(json)]),
    );
    return new Snapshot(deviceToIdentity, identityToDevices, workspaceMembers);
  }
}

/** Writes a domain's directory (the local stack's seed; later the Manager) and notifies relays. */
export async function writeDirectory(
  redis: RedisClient,
  domain: string,
  seed: DirectorySeed,
): Promise<void> {
  const keys = directoryKeys(domain);
  const devices: Record<string, string> = {};
  const identities: Record<string, string> = {};
  for (const identity of seed.identities) {
    identities[identity.id] = encodeIdentityRecord({
      displayName: identity.displayName ?? identity.id,
    });
    for (const device of identity.devices) devices[device] = identity.id;
  }
  const workspaces: Record<string, string> = {};
  for (const workspace of seed.workspaces)
    workspaces[workspace.id] = encodeIdList(workspace.members);
  const multi = redis.multi();
  multi.del(keys.devices, keys.identities, keys.workspaces);
  if (Object.keys(devices).length > 0) multi.hset(keys.devices, devices);
  if (Object.keys(identities).length > 0) multi.hset(keys.identities, identities);
  if (Object.keys(workspaces).length > 0) multi.hset(keys.workspaces, workspaces);
  await multi.exec();
  await redis.spublish(keys.channel, directoryChangedMessage);
}
