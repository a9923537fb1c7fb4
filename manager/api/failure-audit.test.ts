import { describe, expect, it } from '@jest/globals';
import type { Logger } from '../../contracts/logger.js';
import type { AuditEntry } from '../model.js';
import { FailureAudit, type RefusedAttempt } from './failure-audit.js';

const silent: Logger = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

function setup(options: { windowMs?: number; maxOpen?: number } = {}) {
  const written: Omit<AuditEntry, 'id'>[] = [];
  let now = Date.parse('2030-01-01T00:00:00Z');
  const audit = new FailureAudit(
    (entry) => {
      written.push(entry);
      return Promise.resolve();
    },
    () => new Date(now),
    silent,
    { windowMs: options.windowMs ?? 60_000, ...(options.maxOpen === undefined ? {} : options) },
  );
  return {
    audit,
    written,
    tick: (ms: number) => {
      now += ms;
    },
  };
}

const login = (address: string, extra: Partial<RefusedAttempt> = {}): RefusedAttempt => ({
  action: 'login.failed',
  reason: 'unknown admin token',
  address,
  route: 'GET /v1/admin/whoami',
  details: { method: 'GET', path: '/v1/admin/whoami' },
  ...extra,
});

describe('refused attempts in the audit log', () => {
  it('writes the first at once and its repeats as one entry with a count', async () => {
    const { audit, written, tick } = setup();
    await audit.record(login('10.0.0.1'));
    for (let i = 0; i < 999; i++) {
      tick(10);
      await audit.record(login('10.0.0.1', { rateLimited: i >= 29 }));
    }
    expect(written).toHaveLength(1);
    expect(written[0]?.details).toMatchObject({ count: 1, address: '10.0.0.1' });
    await audit.flush();
    expect(written).toHaveLength(2);
    expect(written[1]?.details).toMatchObject({
      count: 999,
      rateLimited: 970,
      repeated: true,
      firstAt: '2030-01-01T00:00:00.000Z',
    });
    expect(written[1]?.time).toBe('2030-01-01T00:00:09.990Z');
    // Nothing left open: a second flush writes nothing.
    await audit.flush();
    expect(written).toHaveLength(2);
  });

  it('keeps addresses, routes and reasons apart, and folds past maxOpen into address "*"', async () => {
    const { audit, written } = setup({ maxOpen: 3 });
    await audit.record(login('10.0.0.1'));
    await audit.record(login('10.0.0.2'));
    await audit.record(login('10.0.0.1', { route: 'GET /v1/admin/tokens' }));
    await audit.record(login('10.0.0.3'));
    await audit.record(login('10.0.0.4'));
    expect(written.map((e) => e.details?.['address'])).toEqual([
      '10.0.0.1',
      '10.0.0.2',
      '10.0.0.1',
      '*',
    ]);
    await audit.flush();
    expect(written.at(-1)?.details).toMatchObject({ address: '*', count: 1 });
  });
});
