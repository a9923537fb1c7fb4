import { describe, expect, it } from '@jest/globals';
import { describeConnectFailure, describeConnectFailures } from './relay-diagnosis.js';

const failure = (
  errorCode: string | undefined,
  reason: string,
  closeCode = 1006,
  attempts = 4,
) => ({
  relay: 'wss://relay.example.com',
  attempts,
  reason,
  closeCode,
  ...(errorCode === undefined ? {} : { errorCode }),
});

describe('describeConnectFailure', () => {
  it.each([
    [
      'ENOTFOUND',
      'getaddrinfo ENOTFOUND relay.example.com',
      /^cannot resolve relay wss:\/\/relay\.example\.com \(getaddrinfo ENOTFOUND relay\.example\.com; tried 4 times\)$/,
    ],
    [
      'ECONNREFUSED',
      'connect ECONNREFUSED 10.0.0.1:443',
      /^cannot reach relay wss:\/\/relay\.example\.com/,
    ],
    ['ETIMEDOUT', 'Opening handshake has timed out', /^cannot reach relay/],
    [
      'ERR_SSL_WRONG_VERSION_NUMBER',
      'wrong version number',
      /does not answer TLS on that port.*use ws:\/\//,
    ],
    [
      'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      'unable to verify the first certificate',
      /not trusted.*--ca FILE \(or GROVE_CA=FILE\)/,
    ],
    [
      'ERR_TLS_CERT_ALTNAME_INVALID',
      "Hostname/IP does not match certificate's altnames",
      /certificate is for other names/,
    ],
    ['HTTP_502', 'upgrade refused with HTTP 502', /answered HTTP 502 instead of Grove/],
    [undefined, 'something odd', /^cannot connect to relay/],
  ])('%s', (code, reason, expected) => {
    expect(describeConnectFailure(failure(code, reason))).toMatch(expected);
  });

  it('says when the relay answered but asked to come back (Redis down, draining)', () => {
    expect(describeConnectFailure(failure(undefined, 'Redis is unavailable', 4002, 1))).toBe(
      'relay wss://relay.example.com answered but asked to come back later (Redis is unavailable; tried once)',
    );
  });

  it('joins several relays, and has nothing to say about none', () => {
    expect(describeConnectFailures([])).toBeUndefined();
    expect(
      describeConnectFailures([
        failure('ENOTFOUND', 'a'),
        { ...failure('ECONNREFUSED', 'b'), relay: 'ws://x' },
      ]),
    ).toBe(
      'cannot resolve relay wss://relay.example.com (a; tried 4 times); cannot reach relay ws://x (b; tried 4 times)',
    );
  });
});
