import { directoryKeys } from '../../relay/store/keys.js';

/**
 * Redis key names of the Manager. Every key of one domain carries the relay directory's hash
 * tag `{dir:DOMAIN}`, so one Lua script can update the Manager's records and the relay's
 * directory (and publish on its channel) atomically, on Redis Cluster too. Global data lives
 * under `{mgr}`. Ids never contain ':' or '{' (crds/common.ts idPattern), so names cannot collide.
 */
export function managerKeys(domain: string) {
  const tag = `g:{dir:${domain}}`;
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
    lastSeen: directoryKeys(domain).lastSeen,
    /** HASH code id → stored activation code JSON (with the code's SHA-256, never the code). */
    codes: `${tag}:m:codes`,
    /** HASH workspace id → JSON {id, name, createdAt, updatedAt}; members live in the directory. */
    workspaces: `${tag}:m:workspaces`,
    /** STREAM of this domain's audit entries. */
    audit: `${tag}:audit`,
    /** HASH of the relays' counters; field `messagesRelayed` (HINCRBY by relays). */
    usage: directoryKeys(domain).usage,
    /** STRING set once per token-refresh nonce (SET NX EX). */
    nonce: (device: string, nonce: string) => `${tag}:m:nonce:${device}:${nonce}`,
    directory: directoryKeys(domain),
  };
}

export const globalKeys = {
  /** HASH SHA-256 hex of an admin token → AdminTokenInfo JSON. */
  adminTokens: 'g:{mgr}:admin-tokens',
  /** HASH admin token name → SHA-256 hex of the token. */
  adminTokenNames: 'g:{mgr}:admin-token-names',
  /** STREAM of audit entries that belong to no domain (admin tokens, failed logins…). */
  audit: 'g:{mgr}:audit',
  /** SET of domains that have an audit stream, so a query over all domains finds them. */
  auditDomains: 'g:{mgr}:audit-domains',
};

/** The audit stream of `domain`, or the global one. */
export function auditStreamKey(domain: string | undefined): string {
  return domain === undefined ? globalKeys.audit : managerKeys(domain).audit;
}
