import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { CloseCode } from '../../contracts/errors/close-codes.js';
import { RelayError } from '../../contracts/errors/relay-errors.js';
import { DeliveryCursor } from './delivery-cursor.js';
import type { DeviceSocket } from './device-socket.js';
import { Handshake, type HandshakeHost } from './handshake.js';
import type { RelayCore } from './relay-core.js';
import { ConnectionTimers } from './timer-wheel.js';

// A liveness bug found when the device connection was split: the session's limits and keys
// were computed outside the hello's try, so a throw there was an unhandled rejection (which
// ends a Node process) instead of a refused connection.

function fakeSocket() {
  const closes: { code: number; reason: string }[] = [];
  const errors: { code: string; message: string }[] = [];
  const socket = {
    isClosed: () => closes.length > 0,
    close: (code: number, reason: string) => closes.push({ code, reason }),
    error: (code: string, message: string) => errors.push({ code, message }),
    send: () => undefined,
    pause: () => undefined,
    resume: () => undefined,
  };
  return { socket: socket as unknown as DeviceSocket, closes, errors };
}

function fakeCore(limits: () => never): RelayCore {
  return {
    config: { podId: 'pod', connection: { helloTimeoutMs: 10_000 } },
    clock: () => 0,
    timers: new ConnectionTimers({ pingIntervalMs: 15_000, helloTimeoutMs: 10_000 }, () => 0),
    authenticate: () =>
      Promise.resolve({ domain: 'acme', identity: 'alice', device: 'a1', expiresAt: 1e9 }),
    limits,
  } as unknown as RelayCore;
}

const host: HandshakeHost = {
  onDeviceChannel: () => undefined,
  signalDrops: () => undefined,
  handleFrame: () => Promise.resolve(),
  pump: () => undefined,
};

describe('Handshake', () => {
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown) => rejections.push(reason);
  beforeEach(() => {
    rejections.length = 0;
    process.on('unhandledRejection', onRejection);
  });
  afterEach(() => {
    process.off('unhandledRejection', onRejection);
  });

  it('refuses the connection, rather than rejecting unhandled, when the session cannot be set up', async () => {
    const { socket, closes, errors } = fakeSocket();
    const handshake = new Handshake(
      fakeCore(() => {
        throw new RelayError('AUTH_UNKNOWN_DOMAIN', 'unknown domain "acme"');
      }),
      socket,
      new DeliveryCursor(),
      host,
    );
    handshake.admit({ t: 'hello', token: 't' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    handshake.dispose();
    expect(rejections).toEqual([]);
    expect(errors).toEqual([{ code: 'AUTH_UNKNOWN_DOMAIN', message: 'unknown domain "acme"' }]);
    expect(closes).toEqual([
      { code: CloseCode.authUnknownDomain, reason: 'unknown domain "acme"' },
    ]);
  });

  it('closes with 4002 for an unexpected failure', async () => {
    const { socket, closes } = fakeSocket();
    const handshake = new Handshake(
      fakeCore(() => {
        throw new Error('boom');
      }),
      socket,
      new DeliveryCursor(),
      host,
    );
    handshake.admit({ t: 'hello', token: 't' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    handshake.dispose();
    expect(rejections).toEqual([]);
    expect(closes).toEqual([{ code: CloseCode.storageUnavailable, reason: 'internal error' }]);
  });
});
