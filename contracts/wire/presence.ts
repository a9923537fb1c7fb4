/**
 * Presence as kept in Redis and told to watchers:
 *
 * - a device's value in its identity's presence hash, `<connectionId>|<status>`, written by
 *   the presence scripts (lua/includes/presence-value.lua);
 * - presence events, JSON published on the identity's channel and passed on to watching
 *   devices as `presence` frames;
 * - connection handles `domain|identity|device|connectionId`, in the set of the relay pod
 *   holding them, so that another pod can take them offline when that pod dies.
 *
 * Ids never contain '|' (crds/common.ts idPattern), and neither do connection ids.
 */
export type PresenceStatus = 'active' | 'idle';

export interface PresenceEvent {
  identity: string;
  device: string;
  state: 'online' | 'offline';
  status?: PresenceStatus;
}

export interface ConnectionHandle {
  domain: string;
  identity: string;
  device: string;
  connectionId: string;
}

const SEPARATOR = '|';

export function decodePresenceValue(value: string): {
  connectionId: string;
  status: PresenceStatus;
} {
  const separator = value.lastIndexOf(SEPARATOR);
  return {
    connectionId: value.slice(0, separator),
    status: value.slice(separator + 1) === 'idle' ? 'idle' : 'active',
  };
}

/** `identity` first: the event is spliced into a `presence` frame after `"t"`. */
export function encodePresenceEvent(event: PresenceEvent): string {
  return JSON.stringify({
    identity: event.identity,
    device: event.device,
    state: event.state,
    ...(event.status === undefined ? {} : { status: event.status }),
  });
}

export function decodePresenceEvent(message: string): PresenceEvent {
  return JSON.parse(message) as PresenceEvent;
}

/** The `presence` frame text of a published event, without parsing it. */
export function presenceFrameText(message: string): string {
  return `{"t":"presence",${message.slice(1)}`;
}

export function encodeConnectionHandle(handle: ConnectionHandle): string {
  return [handle.domain, handle.identity, handle.device, handle.connectionId].join(SEPARATOR);
}

export function decodeConnectionHandle(value: string): ConnectionHandle | undefined {
  const [domain, identity, device, connectionId] = value.split(SEPARATOR);
  if (
    domain === undefined ||
    identity === undefined ||
    device === undefined ||
    connectionId === undefined
  ) {
    return undefined;
  }
  return { domain, identity, device, connectionId };
}
