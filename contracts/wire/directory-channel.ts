/**
 * Messages on a domain's directory channel (contracts/redis/keys.ts directoryKeys().channel),
 * published by the Manager's scripts (lua/includes/directory-channel.lua) and the local
 * stack's seed. Any message makes relays reload the directory; `revoke:<device>` also closes
 * that device's connections on every relay.
 */
export type DirectoryMessage = { kind: 'changed' } | { kind: 'revoke'; device: string };

export const directoryChangedMessage = 'changed';

const REVOKE = 'revoke:';

export function revokeMessage(device: string): string {
  return `${REVOKE}${device}`;
}

export function decodeDirectoryMessage(message: string): DirectoryMessage {
  return message.startsWith(REVOKE)
    ? { kind: 'revoke', device: message.slice(REVOKE.length) }
    : { kind: 'changed' };
}
