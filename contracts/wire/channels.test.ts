import { describe, expect, it } from '@jest/globals';
import { decodeDeviceChannelMessage, isWake } from './device-channel.js';
import {
  decodeDirectoryMessage,
  directoryChangedMessage,
  revokeMessage,
} from './directory-channel.js';

// The Lua side writes these (lua/includes/device-channel.lua, directory-channel.lua);
// scripts.int.test.ts reads what the scripts publish. These are the shapes they write.

describe('device channel messages', () => {
  it('read a wake-up without an entry', () => {
    const message = 'm12 lx9-ab1';
    expect(isWake(message)).toBe(true);
    expect(decodeDeviceChannelMessage(message)).toEqual({
      kind: 'wake',
      seq: 12,
      epoch: 'lx9-ab1',
      entry: undefined,
    });
  });

  it('read a wake-up carrying its entry, newlines and spaces in the entry kept', () => {
    const entry = '12:99:2:I{"id":"a b","data":"x\ny"}';
    expect(decodeDeviceChannelMessage(`m12 e1\n${entry}`)).toEqual({
      kind: 'wake',
      seq: 12,
      epoch: 'e1',
      entry,
    });
  });

  it('read a claim with its ordinal', () => {
    expect(isWake('c1712345678901234 relay-0/abc')).toBe(false);
    expect(decodeDeviceChannelMessage('c1712345678901234 relay-0/abc')).toEqual({
      kind: 'claim',
      ordinal: 1_712_345_678_901_234,
      connectionId: 'relay-0/abc',
    });
  });

  it('read a claim of a relay from before ordinals as one without', () => {
    expect(decodeDeviceChannelMessage('crelay-0/abc')).toEqual({
      kind: 'claim',
      ordinal: undefined,
      connectionId: 'relay-0/abc',
    });
  });
});

describe('directory channel messages', () => {
  it('read back a revocation', () => {
    expect(decodeDirectoryMessage(revokeMessage('laptop'))).toEqual({
      kind: 'revoke',
      device: 'laptop',
    });
  });

  it('read any other message as a change', () => {
    for (const message of [directoryChangedMessage, 'seed', '']) {
      expect(decodeDirectoryMessage(message)).toEqual({ kind: 'changed' });
    }
  });
});
