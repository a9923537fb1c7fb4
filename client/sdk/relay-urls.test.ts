import { describe, expect, it } from '@jest/globals';
import { parseRelayList, relayEndpoints } from './relay-urls.js';

describe('relayEndpoints', () => {
  it('derives the WebSocket and HTTP endpoints from any of the four schemes', () => {
    const plain = { websocket: 'ws://relay:8443/v1/connect', http: 'http://relay:8443' };
    const secure = { websocket: 'wss://relay.example/v1/connect', http: 'https://relay.example' };
    expect(relayEndpoints('ws://relay:8443')).toEqual(plain);
    expect(relayEndpoints('http://relay:8443')).toEqual(plain);
    expect(relayEndpoints('wss://relay.example')).toEqual(secure);
    expect(relayEndpoints('https://relay.example')).toEqual(secure);
  });

  it('keeps a path prefix and drops trailing slashes', () => {
    expect(relayEndpoints('https://lb.example/grove///')).toEqual({
      websocket: 'wss://lb.example/grove/v1/connect',
      http: 'https://lb.example/grove',
    });
    expect(relayEndpoints('ws://relay:1/')).toEqual({
      websocket: 'ws://relay:1/v1/connect',
      http: 'http://relay:1',
    });
  });

  it('refuses text that is not a URL', () => {
    expect(() => relayEndpoints('relay:8443 x')).toThrow(
      /is not a URL|must use ws, wss, http or https/,
    );
    expect(() => relayEndpoints('')).toThrow('relay URL "" is not a URL');
  });

  it('refuses other schemes', () => {
    expect(() => relayEndpoints('ftp://relay')).toThrow(
      'relay URL "ftp://relay" must use ws, wss, http or https',
    );
    expect(() => relayEndpoints('relay:8443')).toThrow(/must use ws, wss, http or https/);
  });
});

describe('parseRelayList', () => {
  it('splits on commas and trims blanks', () => {
    expect(parseRelayList(' ws://a:1 , ,wss://b ,')).toEqual(['ws://a:1', 'wss://b']);
  });

  it('refuses an empty list', () => {
    expect(() => parseRelayList(' , ')).toThrow('no relay URL given');
  });

  it('refuses a list with one bad URL', () => {
    expect(() => parseRelayList('ws://a:1,ftp://b')).toThrow(/ftp:\/\/b/);
  });
});
