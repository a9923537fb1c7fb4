import { describe, expect, it } from '@jest/globals';
import {
  decodeStoredMessage,
  encodeStoredMessage,
  messageFrameText,
  skipFrameText,
  storedMessageCreatedAt,
  type StoredMessage,
} from './stored-message.js';

const message: StoredMessage = {
  createdAt: 1_700_000_000_123,
  id: '01J0ABC',
  from: { identity: 'alice', device: 'a1' },
  to: ['device:b1', 'workspace:w'],
  ttl: 60,
  data: 'aGk=',
};

describe('stored messages', () => {
  it('read back what was stored, with or without ttl and data', () => {
    const bare = { createdAt: 1, id: 'm', from: message.from, to: [] };
    for (const stored of [message, bare]) {
      expect(decodeStoredMessage(encodeStoredMessage(stored))).toEqual(stored);
    }
  });

  it('give createdAt without parsing the JSON', () => {
    expect(storedMessageCreatedAt(encodeStoredMessage(message))).toBe(message.createdAt);
    expect(storedMessageCreatedAt(encodeStoredMessage({ ...message, createdAt: 5 }))).toBe(5);
  });

  it('escape ids and recipients as JSON', () => {
    const odd = { ...message, id: 'a"b\\c', to: ['device:"x"'] };
    expect(decodeStoredMessage(encodeStoredMessage(odd))).toEqual(odd);
  });
});

describe('delivery frames', () => {
  it('make a msg frame of a message stored with its data', () => {
    const frame: unknown = JSON.parse(messageFrameText(7, encodeStoredMessage(message)));
    expect(frame).toEqual({ t: 'msg', seq: 7, ...message });
  });

  it('put the payload of a message stored by reference into its msg frame', () => {
    const { data, ...byReference } = message;
    const frame: unknown = JSON.parse(messageFrameText(8, encodeStoredMessage(byReference), data));
    expect(frame).toEqual({ t: 'msg', seq: 8, ...message });
  });

  it('make a skip frame of an expired entry', () => {
    expect(JSON.parse(skipFrameText(9))).toEqual({ t: 'skip', seq: 9, reason: 'expired' });
  });
});
