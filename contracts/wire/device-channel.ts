/**
 * Messages on a device's sharded channel (contracts/redis/keys.ts deviceKeys().channel),
 * published by the enqueue and claim scripts (lua/includes/device-channel.lua):
 *
 * - `m<seq> <epoch>`: a message was queued at `seq` in the queue of `epoch`; when it is small
 *   and nothing was dropped, a newline and the queue entry itself follow, so the relay holding
 *   the socket can write it without reading the queue;
 * - `c<ordinal> <connectionId>`: that connection claimed the device with that ordinal; any
 *   connection with an older claim must close. (`c<connectionId>`, without ordinal, from
 *   relays of before ordered claims: every other connection closes.)
 */
export type DeviceChannelMessage =
  | { kind: 'wake'; seq: number; epoch: string; entry: string | undefined }
  | { kind: 'claim'; ordinal: number | undefined; connectionId: string };

export function isWake(message: string): boolean {
  return message.startsWith('m');
}

export function decodeDeviceChannelMessage(message: string): DeviceChannelMessage {
  if (message.startsWith('c')) {
    const ordered = /^c(\d+) (.+)$/s.exec(message);
    return ordered === null
      ? { kind: 'claim', ordinal: undefined, connectionId: message.slice(1) }
      : { kind: 'claim', ordinal: Number(ordered[1]), connectionId: ordered[2] ?? '' };
  }
  const newline = message.indexOf('\n');
  const header = newline < 0 ? message : message.slice(0, newline);
  const space = header.indexOf(' ');
  return {
    kind: 'wake',
    seq: Number(header.slice(1, space)),
    epoch: header.slice(space + 1),
    entry: newline < 0 ? undefined : message.slice(newline + 1),
  };
}
