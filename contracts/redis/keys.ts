/**
 * Redis key names. Every key of one device shares the hash tag `{d:DOMAIN:DEVICE}`, every
 * presence key of one identity `{i:DOMAIN:IDENTITY}`, and a domain's directory
 * `{dir:DOMAIN}`, so each Lua script touches one slot and works on Redis Cluster unchanged.
 * Ids never contain ':' (see crds/common.ts idPattern), so the names cannot collide.
 */
export function deviceKeys(domain: string, device: string) {
  const tag = `g:{d:${domain}:${device}}`;
  return {
    meta: `${tag}:m`,
    queue: `${tag}:q`,
    ids: `${tag}:i`,
    /** Sharded pub/sub channel: wake-ups and connection claims for this device. */
    channel: `${tag}:w`,
  };
}

export function identityKeys(domain: string, identity: string) {
  const tag = `g:{i:${domain}:${identity}}`;
  return { presence: `${tag}:p`, channel: `${tag}:pc` };
}

export function directoryKeys(domain: string) {
  const tag = `g:{dir:${domain}}`;
  return {
    /** HASH device → identity */
    devices: `${tag}:devices`,
    /** HASH identity → JSON {displayName?} */
    identities: `${tag}:identities`,
    /** HASH workspace → JSON array of member identities */
    workspaces: `${tag}:workspaces`,
    /**
     * Sharded channel: "the directory changed, reload it"; the message `revoke:<device>`
     * also closes that device's connections on every relay.
     */
    channel: `${tag}:changed`,
    /** HASH of usage counters written by relays (field `messagesRelayed`: accepted sends). */
    usage: `${tag}:usage`,
    /**
     * HASH device → ISO time it was last seen: relays write it when a device connects or goes
     * offline, the Manager when it refreshes a token; the Manager shows it per device.
     */
    lastSeen: `${tag}:m:last-seen`,
  };
}

/** A large payload stored once and referenced from every recipient's queue. */
export function payloadKey(domain: string, sender: string, messageId: string): string {
  return `g:{p:${domain}:${sender}:${messageId}}`;
}

export const podKeys = {
  /** ZSET pod id → liveness deadline (ms). */
  pods: 'g:relay-pods',
  conns: (pod: string) => `g:pod:{${pod}}:conns`,
  sweepLock: (pod: string) => `g:pod:{${pod}}:sweep`,
};
