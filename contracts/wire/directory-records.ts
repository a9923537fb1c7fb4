/**
 * Values of a domain's directory hashes (contracts/redis/keys.ts directoryKeys), written by the
 * Manager (its scripts too: lua/create-members.lua, lua/change-workspace.lua…) and the local
 * stack's seed, read by relays: `devices` maps a device to its identity id as is, `identities`
 * an identity to its record JSON, `workspaces` a workspace to the JSON list of its members.
 * The Manager keeps a member's device ids as the same kind of list.
 */
export interface IdentityRecord {
  displayName: string;
}

export function encodeIdentityRecord(identity: IdentityRecord): string {
  return JSON.stringify({ displayName: identity.displayName });
}

export function encodeIdList(ids: readonly string[]): string {
  return JSON.stringify(ids);
}

/** A list of ids; anything else (missing, not a list) reads as none. */
export function decodeIdList(json: string | null | undefined): string[] {
  if (json === null || json === undefined) return [];
  const value: unknown = JSON.parse(json);
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}
