import { describe, expect, it } from '@jest/globals';
import { CloseCode, shouldReconnect } from './close-codes.js';

describe('shouldReconnect', () => {
  it('reconnects after every code in 4000–4099', () => {
    for (let code = 4000; code < 4100; code++) expect(shouldReconnect(code)).toBe(true);
  });

  it('does not reconnect after any code in 4100–4199', () => {
    for (let code = 4100; code < 4200; code++) expect(shouldReconnect(code)).toBe(false);
  });

  it('reconnects after network closes and going-away', () => {
    for (const code of [1000, 1001, 1005, 1006, 1011, 1012, 1013]) {
      expect(shouldReconnect(code)).toBe(true);
    }
  });

  it('does not reconnect after closes that would repeat on retry', () => {
    for (const code of [1002, 1003, 1008, 1009]) expect(shouldReconnect(code)).toBe(false);
  });

  it('puts every named relay code in the range its meaning asks for', () => {
    const reconnect = ['draining', 'slowConsumer', 'storageUnavailable', 'timeout', 'notReady'];
    for (const [name, code] of Object.entries(CloseCode)) {
      expect([name, shouldReconnect(code)]).toEqual([name, reconnect.includes(name)]);
    }
  });
});
