import {
  encodePresenceEvent,
  type ConnectionHandle,
  type PresenceStatus,
} from '../wire/presence.js';
import { identityKeys } from './keys.js';
import { defineScript } from './script-runner.js';

const published = (reply: unknown): boolean => reply === 1;

/** lua/presence-online.lua: true when watchers were told. */
export const presenceOnlineScript = defineScript(
  'presence-online',
  (input: { handle: ConnectionHandle; status: PresenceStatus }) => {
    const { handle, status } = input;
    const keys = identityKeys(handle.domain, handle.identity);
    const event = encodePresenceEvent({
      identity: handle.identity,
      device: handle.device,
      state: 'online',
      status,
    });
    return {
      keys: [keys.presence],
      args: [handle.device, handle.connectionId, status, keys.channel, event],
    };
  },
  published,
);

/** lua/presence-offline.lua: true when the device went offline. */
export const presenceOfflineScript = defineScript(
  'presence-offline',
  (handle: ConnectionHandle) => {
    const keys = identityKeys(handle.domain, handle.identity);
    const event = encodePresenceEvent({
      identity: handle.identity,
      device: handle.device,
      state: 'offline',
    });
    return {
      keys: [keys.presence],
      args: [handle.device, handle.connectionId, keys.channel, event],
    };
  },
  published,
);
