import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { CloseCode, shouldReconnect } from './close-codes.js';
import { managerErrors } from './manager-errors.js';
import {
  closeCodeOf,
  errorCodeOfClose,
  httpStatusOf,
  isRetryable,
  refusalCloseCodeOf,
  relayErrors,
} from './relay-errors.js';

const errorsDoc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');

/** The `| \`CODE\` | HTTP | …` rows of one `## Section` of docs/errors.md: code → HTTP column. */
function documented(section: string): Map<string, string> {
  const start = errorsDoc.indexOf(`\n## ${section}\n`);
  const end = errorsDoc.indexOf('\n## ', start + 1);
  const text = errorsDoc.slice(start, end < 0 ? undefined : end);
  const rows = new Map<string, string>();
  for (const [, code = '', http = ''] of text.matchAll(/^\| `([A-Z_]+)` +\| ([^|]+?) +\|/gm)) {
    rows.set(code, http);
  }
  return rows;
}

describe('docs/errors.md', () => {
  it('lists every relay error with its HTTP status, and no other', () => {
    const rows = documented('Relay');
    const expected = Object.entries(relayErrors).map(([code, spec]) => [
      code,
      'http' in spec ? String(spec.http) : '—',
    ]);
    expect([...rows].sort()).toEqual(expected.sort());
  });

  it('lists every Manager error with its HTTP status, and no other', () => {
    const rows = documented('Manager');
    const expected = Object.entries(managerErrors).map(([code, spec]) => [code, String(spec.http)]);
    expect([...rows].sort()).toEqual(expected.sort());
  });
});

describe('the relay error catalogue', () => {
  it('closes only with named close codes', () => {
    const named = new Set<number>(Object.values(CloseCode));
    for (const spec of Object.values(relayErrors)) {
      if ('close' in spec) expect(named.has(spec.close)).toBe(true);
    }
  });

  it('maps each refusing close code back to its error, and no reconnecting one', () => {
    for (const [code, spec] of Object.entries(relayErrors)) {
      if (!('close' in spec)) continue;
      if (shouldReconnect(spec.close)) {
        expect(errorCodeOfClose(spec.close)).toBeUndefined();
        expect(refusalCloseCodeOf(code)).toBeUndefined();
      } else {
        expect(errorCodeOfClose(spec.close)).toBe(code);
        expect(refusalCloseCodeOf(code)).toBe(spec.close);
      }
    }
    expect(errorCodeOfClose(CloseCode.revoked)).toBe('AUTH_REVOKED');
    expect(errorCodeOfClose(CloseCode.protocolError)).toBeUndefined();
  });

  it('has defaults for codes it does not know (a newer relay, or a transport error)', () => {
    expect(httpStatusOf('SOMETHING_NEW')).toBe(400);
    expect(closeCodeOf('SOMETHING_NEW')).toBe(CloseCode.storageUnavailable);
    expect(isRetryable('SOMETHING_NEW')).toBe(false);
    expect(refusalCloseCodeOf('HTTP_502')).toBeUndefined();
    expect(isRetryable('toString')).toBe(false);
  });

  it('retries exactly the sends refused for a passing reason', () => {
    const retryable = Object.keys(relayErrors).filter(isRetryable).sort();
    expect(retryable).toEqual(['NOT_READY', 'RATE_LIMITED', 'STORAGE_UNAVAILABLE']);
  });
});
