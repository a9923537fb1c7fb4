import { describe, expect, it } from '@jest/globals';
import {
  decodeConnectionHandle,
  decodePresenceEvent,
  decodePresenceValue,
  encodeConnectionHandle,
  encodePresenceEvent,
  presenceFrameText,
  type PresenceEvent,
} from './presence.js';

describe('presence values', () => {
  it('read the connection and status the presence script writes', () => {
    expect(decodePresenceValue('relay-0/abc|idle')).toEqual({
      connectionId: 'relay-0/abc',
      status: 'idle',
    });
    expect(decodePresenceValue('poll:relay-1|active')).toEqual({
      connectionId: 'poll:relay-1',
      status: 'active',
    });
  });

  it('read an unknown status as active', () => {
    expect(decodePresenceValue('c|away').status).toBe('active');
  });
});

describe('presence events', () => {
  const events: PresenceEvent[] = [
    { identity: 'bob', device: 'b1', state: 'online', status: 'idle' },
    { identity: 'bob', device: 'b1', state: 'offline' },
  ];

  it('read back what was published', () => {
    for (const event of events)
      expect(decodePresenceEvent(encodePresenceEvent(event))).toEqual(event);
  });

  it('become presence frames without being parsed', () => {
    for (const event of events) {
      expect(JSON.parse(presenceFrameText(encodePresenceEvent(event)))).toEqual({
        t: 'presence',
        ...event,
      });
    }
  });
});

describe('connection handles', () => {
  it('read back what was recorded', () => {
    const handle = { domain: 'acme', identity: 'bob', device: 'b1', connectionId: 'relay-0/abc' };
    expect(decodeConnectionHandle(encodeConnectionHandle(handle))).toEqual(handle);
  });

  it('refuse a value with missing parts', () => {
    expect(decodeConnectionHandle('acme|bob|b1')).toBeUndefined();
  });
});
