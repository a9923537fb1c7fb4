import { formatRecipient, type RecipientRef } from '../../contracts/wire/recipient.js';

/** A device with the identity that owns it. */
export interface DeviceAddress {
  identity: string;
  device: string;
}

/**
 * The set of devices a message goes to: the union of every reference, each device once,
 * in first-seen order (deterministic fan-out order). The sending device is left out when it
 * was reached only through its identity or a workspace: a sender does not receive its own
 * message unless it names its own device. With `membersOnly`, a workspace the sender is not a
 * member of is unknown, exactly as one that does not exist: a non-member learns nothing of it.
 */
export function resolveFanOut(
  refs: RecipientRef[],
  lookup: {
    /** undefined: no such identity. */
    devicesOfIdentity: (identity: string) => readonly string[] | undefined;
    /** undefined: no such workspace. */
    membersOfWorkspace: (workspace: string) => readonly string[] | undefined;
    identityOfDevice: (device: string) => string | undefined;
  },
  sender: DeviceAddress,
  options: { membersOnly: boolean } = { membersOnly: false },
): { devices: DeviceAddress[]; unknown: string[] } {
  const seen = new Set<string>();
  const devices: DeviceAddress[] = [];
  const unknown: string[] = [];
  const add = (identity: string, device: string, explicit: boolean): void => {
    if (!explicit && device === sender.device) return;
    if (seen.has(device)) return;
    seen.add(device);
    devices.push({ identity, device });
  };
  const addIdentity = (identity: string): void => {
    for (const device of lookup.devicesOfIdentity(identity) ?? []) add(identity, device, false);
  };
  for (const ref of refs) {
    if (ref.kind === 'device') {
      const identity = lookup.identityOfDevice(ref.id);
      if (identity === undefined) unknown.push(formatRecipient(ref));
      else add(identity, ref.id, true);
    } else if (ref.kind === 'identity') {
      if (lookup.devicesOfIdentity(ref.id) === undefined) unknown.push(formatRecipient(ref));
      else addIdentity(ref.id);
    } else {
      const members = lookup.membersOfWorkspace(ref.id);
      if (members === undefined || (options.membersOnly && !members.includes(sender.identity)))
        unknown.push(formatRecipient(ref));
      else for (const member of members) addIdentity(member);
    }
  }
  return { devices, unknown };
}
