/**
 * Messages on a device's sharded channel (contracts/redis/keys.ts deviceKeys().channel),
 * published by the enqueue and claim scripts (lua/includes/device-channel.lua):
 *
 * - `m<seq> <epoch>`: a message was queued at `seq` in the queue of `epoch`; when it is small
 *   and nothing was dropped, a newline and the queue entry itself follow, so the relay holding
 *   the socket can write it without reading the queue;
 * - `c<connectionId>`: that connection now holds the device; any other one must close.
 */
export type DeviceChannelMessage =
  | { kind: 'wake'; seq: number; epoch: string; entry: string | undefined }
  | { kind: 'claim'; connectionId: string };

export function isWake(message: string): boolean {
  return message.startsWith('m');
}

export function decodeDeviceChannelMessage(message: string): DeviceChannelMessage {
  if (message.startsWith('c')) return { kind: 'claim', connectionId: message.slice(1) };
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
