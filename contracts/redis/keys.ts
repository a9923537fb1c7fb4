/**
 * The whole Redis key layout of Grove: the relays, the Manager and the domain purge name keys
 * only through this module. Every key of one device shares the hash tag `{d:DOMAIN:DEVICE}`,
 * every presence key of one identity `{i:DOMAIN:IDENTITY}`, a domain's directory and the
 * Manager's records of it `{dir:DOMAIN}`, so each Lua script touches one slot and works on
 * Redis Cluster unchanged. The Manager's global records live under `{mgr}`. Ids never contain
 * ':', '{' or glob characters (see crds/common.ts idPattern), so names cannot collide and the
 * purge's SCAN patterns match nothing of another domain.
 */

const deviceTag = (domain: string, device: string) => `g:{d:${domain}:${device}}`;
const identityTag = (domain: string, identity: string) => `g:{i:${domain}:${identity}}`;
const directoryTag = (domain: string) => `g:{dir:${domain}}`;
const payloadTag = (domain: string, sender: string, messageId: string) =>
  `g:{p:${domain}:${sender}:${messageId}}`;
const managerTag = 'g:{mgr}';

export function deviceKeys(domain: string, device: string) {
  const tag = deviceTag(domain, device);
  return {
    /**
     * HASH the queue's metadata: epoch, head, next, bytes (what the entries are charged),
     * pbytes (the part of it that is payloads stored apart), ibytes (the de-duplication
     * records' charge), drops, told, conn and claim (the current connection and its claim
     * ordinal), v (the ledger version), c:<identity> and b:<identity> (entries and bytes
     * queued by each sender).
     */
    meta: `${tag}:m`,
    /** LIST of queue entries (contracts/wire/queue-entry.ts), seq `head` first. */
    queue: `${tag}:q`,
    /** ZSET de-duplication member (sender device|message id) → until when it is remembered (ms). */
    ids: `${tag}:i`,
    /** Sharded pub/sub channel: wake-ups and connection claims (contracts/wire/device-channel.ts). */
    channel: `${tag}:w`,
  };
}

export function identityKeys(domain: string, identity: string) {
  const tag = identityTag(domain, identity);
  return {
    /** HASH device → presence value (contracts/wire/presence.ts). */
    presence: `${tag}:p`,
    /** Sharded channel of presence events (contracts/wire/presence.ts). */
    channel: `${tag}:pc`,
  };
}

export function directoryKeys(domain: string) {
  const tag = directoryTag(domain);
  return {
    /** HASH device → identity */
    devices: `${tag}:devices`,
    /** HASH identity → JSON {displayName?} */
    identities: `${tag}:identities`,
    /** HASH workspace → JSON array of member identities */
    workspaces: `${tag}:workspaces`,
    /** Sharded channel of directory changes (contracts/wire/directory-channel.ts). */
    channel: `${tag}:changed`,
    /** HASH of usage counters written by relays (field `messagesRelayed`: accepted sends). */
    usage: `${tag}:usage`,
    /**
     * HASH device → ISO time it was last seen: relays write it when a device connects or goes
     * offline, the Manager when it refreshes a token; the Manager shows it per device.
     */
    lastSeen: `${tag}:m:last-seen`,
    /**
     * HASH the domain's storage ledger: `total` (bytes the domain holds in Redis) and one
     * "version:bytes:deadline" per device (`d:<device>`) and stored payload
     * (`p:<sender>:<message id>`); see contracts/redis/lua/includes/ledger.lua.
     */
    storage: `${tag}:storage`,
    /** ZSET ledger member → when its keys expire at the latest (ms). */
    storageDue: `${tag}:storage-due`,
  };
}

// The directory channel's name around the domain, so a relay can tell which domain changed.
const NO_DOMAIN = '\u0000';
const [directoryChannelHead = '', directoryChannelTail = ''] =
  directoryKeys(NO_DOMAIN).channel.split(NO_DOMAIN);

/** The domain of a directory channel (directoryKeys(domain).channel); undefined for any other channel. */
export function domainOfDirectoryChannel(channel: string): string | undefined {
  // Every wake-up passes through here: the cheap test first.
  if (!channel.endsWith(directoryChannelTail) || !channel.startsWith(directoryChannelHead)) {
    return undefined;
  }
  return channel.slice(directoryChannelHead.length, channel.length - directoryChannelTail.length);
}

/** A large payload stored once and referenced from every recipient's queue. */
export function payloadKey(domain: string, sender: string, messageId: string): string {
  return payloadTag(domain, sender, messageId);
}

/**
 * A payload stored apart (STRING, the payload key itself) and its reference count (STRING:
 * queue entries that reference it), in one slot; payload-store.lua and payload-release.lua.
 */
export function payloadKeys(domain: string, sender: string, messageId: string) {
  const data = payloadKey(domain, sender, messageId);
  return { data, refs: `${data}:n` };
}

/**
 * Domain, sender device and message id of a payload key (as a queue entry holds it); undefined
 * for anything else. Ids never contain ':' or '}', so the key splits unambiguously.
 */
export function parsePayloadKey(
  key: string,
): { domain: string; sender: string; messageId: string } | undefined {
  const match = /^g:\{p:([^:}]+):([^:}]+):([^:}]+)\}$/.exec(key);
  if (match === null) return undefined;
  const [, domain = '', sender = '', messageId = ''] = match;
  return { domain, sender, messageId };
}

export const podKeys = {
  /** ZSET pod id → liveness deadline (ms). */
  pods: 'g:relay-pods',
  /** SET of the pod's connections (contracts/wire/presence.ts connection handles). */
  conns: (pod: string) => `g:pod:{${pod}}:conns`,
  /** STRING held by the pod sweeping `pod` after it died. */
  sweepLock: (pod: string) => `g:pod:{${pod}}:sweep`,
};

/** Subscribed by every relay and never published to: its confirmation marks a finished resubscribe. */
export const resubscribedMarkerChannel = 'g:relay:resubscribed';

/**
 * The Manager's keys of one domain. They carry the relay directory's hash tag, so one Lua
 * script can update the Manager's records and the relay's directory (and publish on its
 * channel) atomically, on Redis Cluster too.
 */
export function managerKeys(domain: string) {
  const tag = directoryTag(domain);
  const directory = directoryKeys(domain);
  return {
    /** HASH member id → Member JSON. */
    members: `${tag}:m:members`,
    /** ZSET of member ids, all with score 0: lexicographic order for paging. */
    memberIndex: `${tag}:m:member-index`,
    /** HASH device id → Device JSON (lastSeenAt kept apart, in `lastSeen`). */
    devices: `${tag}:m:devices`,
    /** HASH member id → JSON array of its device ids (revoked ones included). */
    memberDevices: `${tag}:m:member-devices`,
    /** HASH device id → ISO time last seen (token refresh, or a relay's connect/disconnect). */
    lastSeen: directory.lastSeen,
    /** HASH code id → stored activation code JSON (with the code's SHA-256, never the code). */
    codes: `${tag}:m:codes`,
    /**
     * STRING the token of the all-or-nothing member import in progress (PX, renewed per
     * chunk): single creates wait while it exists.
     */
    importGuard: `${tag}:m:import-guard`,
    /** LIST of member ids written so far by that import: what to remove if it cannot finish. */
    importJournal: `${tag}:m:import-journal`,
    /** HASH workspace id → JSON {id, name, createdAt, updatedAt}; members live in the directory. */
    workspaces: `${tag}:m:workspaces`,
    /** STREAM of this domain's audit entries with outcome success. */
    audit: `${tag}:audit`,
    /** STREAM of this domain's audit entries with outcome failure, capped apart. */
    auditFailures: `${tag}:audit-failures`,
    /** HASH of the relays' counters; field `messagesRelayed` (HINCRBY by relays). */
    usage: directory.usage,
    /** STRING set once per token-refresh nonce (SET NX EX). */
    nonce: (device: string, nonce: string) => `${tag}:m:nonce:${device}:${nonce}`,
    directory,
  };
}

/** The Manager's records of the Data Bridge in a domain, under the domain's directory tag. */
export function bridgeKeys(domain: string) {
  const tag = directoryTag(domain);
  return {
    /** HASH bridge (member) id → JSON {id, selection, joined, createdAt, updatedAt}. */
    bridges: `${tag}:m:bridges`,
    /** HASH workspace id → JSON labels (what a BackupSchedule's selector matches). */
    workspaceLabels: `${tag}:m:workspace-labels`,
    /** HASH workspace id → JSON {owner, suspended}: roles of a restored workspace. */
    workspaceRoles: `${tag}:m:workspace-roles`,
    /** HASH restore id → JSON restore job. */
    restores: `${tag}:m:restores`,
  };
}

/** The Manager's records that belong to no domain. */
export const globalKeys = {
  /** HASH SHA-256 hex of an admin token → AdminTokenInfo JSON. */
  adminTokens: `${managerTag}:admin-tokens`,
  /** HASH admin token name → SHA-256 hex of the token. */
  adminTokenNames: `${managerTag}:admin-token-names`,
  /**
   * HASH SHA-256 hex of every revoked (or replaced) admin token → JSON {name, revokedAt}: a
   * tombstone, so a revoked token is never stored again (the bootstrap token at a restart).
   */
  revokedAdminTokens: `${managerTag}:admin-tokens-revoked`,
  /** STREAM of audit entries that belong to no domain (admin tokens…), outcome success. */
  audit: `${managerTag}:audit`,
  /** STREAM of audit entries that belong to no domain with outcome failure (failed logins…). */
  auditFailures: `${managerTag}:audit-failures`,
  /** SET of domains that have an audit stream, so a query over all domains finds them. */
  auditDomains: `${managerTag}:audit-domains`,
};

/**
 * The audit stream of `domain`, or the global one; failures (outcome failure) have streams of
 * their own, so a flood of them never trims away successful changes.
 */
export function auditStreamKey(domain: string | undefined, failures = false): string {
  if (domain === undefined) return failures ? globalKeys.auditFailures : globalKeys.audit;
  const keys = managerKeys(domain);
  return failures ? keys.auditFailures : keys.audit;
}

/**
 * SCAN patterns of every key a domain owns: its devices' queues, its identities' presence,
 * its directory with the Manager's records, and its stored payloads. Built from the same tags
 * as the keys, so a new key under one of them is purged too.
 */
export function domainKeyPatterns(domain: string): string[] {
  return [
    `${deviceTag(domain, '*')}*`,
    `${identityTag(domain, '*')}*`,
    `${directoryTag(domain)}*`,
    `${payloadTag(domain, '*', '*')}*`,
  ];
}
