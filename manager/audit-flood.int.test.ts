import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ManagerProcess, stopAll, writeManagerConfig } from '../test/support/manager-process.js';
import { RedisServer } from '../test/support/redis-server.js';
import { makeDomain } from '../test/support/relay-process.js';

/**
 * Nobody without a token can flood the audit log or push real history out of it (issue 12,
 * item 4): failed logins, enrollments and token refreshes are rate-limited per client address,
 * repeated failures become one entry with a count, and failures live apart from successes.
 */

interface AuditEntry {
  actor: string;
  action: string;
  domain?: string;
  outcome: string;
  details?: Record<string, unknown>;
}

let redis: RedisServer;
let configFile: string;

beforeAll(async () => {
  redis = await RedisServer.start({ appendonly: false });
  configFile = writeManagerConfig({
    redisPort: redis.port,
    domains: [{ domain: await makeDomain('acme') }],
  });
}, 60_000);

afterAll(async () => {
  await stopAll(() => redis.stop());
});

async function withManager(
  args: string[],
  body: (manager: ManagerProcess) => Promise<void>,
): Promise<void> {
  const manager = await ManagerProcess.start({ configFile, redisUrl: redis.url, args });
  try {
    await body(manager);
  } finally {
    await manager.terminate();
  }
}

async function audit(manager: ManagerProcess, query: string): Promise<AuditEntry[]> {
  const response = await fetch(`${manager.url}/v1/admin/audit?format=jsonl&${query}`, {
    headers: { authorization: `Bearer ${manager.bootstrapToken}` },
  });
  expect(response.status).toBe(200);
  const text = await response.text();
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as AuditEntry);
}

/** Sends `count` requests, at most `parallel` at a time; the statuses by value. */
async function burst(
  count: number,
  parallel: number,
  send: (i: number) => Promise<Response>,
): Promise<Record<number, number>> {
  const statuses: Record<number, number> = {};
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) {
        const i = next++;
        const response = await send(i);
        await response.arrayBuffer();
        statuses[response.status] = (statuses[response.status] ?? 0) + 1;
      }
    }),
  );
  return statuses;
}

describe('failed logins and enrollments', () => {
  it('are rate-limited per address and aggregated into entries with a count', async () => {
    await withManager([], async (manager) => {
      const before = Date.now();
      const logins = await burst(300, 10, () =>
        fetch(`${manager.url}/v1/admin/whoami`, {
          headers: { authorization: 'Bearer not-a-token' },
        }),
      );
      const enrolls = await burst(300, 10, () =>
        fetch(`${manager.url}/v1/enroll`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            code: 'acme.not-a-code',
            publicKey: 'A'.repeat(43),
            deviceName: 'x'.repeat(256),
          }),
        }),
      );
      const seconds = (Date.now() - before) / 1000;
      console.log(
        `600 anonymous failures in ${seconds.toFixed(1)} s: logins ${JSON.stringify(logins)}, enrollments ${JSON.stringify(enrolls)}`,
      );
      const failedLogins = await audit(manager, 'action=login.failed');
      const failedEnrolls = await audit(manager, 'action=device.enroll&domain=acme');
      console.log(
        `audit entries written: login.failed ${failedLogins.length}, device.enroll ${failedEnrolls.length}`,
      );
      expect(logins[429]).toBeGreaterThan(200);
      expect(enrolls[429]).toBeGreaterThan(200);
      // The first failure at once; its repeats within the window later, as one entry.
      expect(failedLogins.length).toBeLessThanOrEqual(2);
      expect(failedEnrolls.length).toBeLessThanOrEqual(2);
      for (const entry of [...failedLogins, ...failedEnrolls]) {
        expect(entry.details?.['address']).toBe('127.0.0.1');
        expect(JSON.stringify(entry)).not.toContain('x'.repeat(100));
      }
    });
    // Stopping the Manager writes the pending aggregate: every refused attempt is counted.
    await withManager([], async (manager) => {
      const failedLogins = await audit(manager, 'action=login.failed');
      const counted = failedLogins.reduce((sum, e) => sum + Number(e.details?.['count'] ?? 1), 0);
      expect(failedLogins.length).toBe(2);
      expect(counted).toBe(300);
    });
  }, 120_000);

  it('token refreshes are rate-limited per address', async () => {
    await withManager(['--rate-limit-token', '50'], async (manager) => {
      const statuses = await burst(80, 8, () =>
        fetch(`${manager.url}/v1/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            domain: 'acme',
            deviceId: 'no-device',
            timestamp: new Date().toISOString(),
            nonce: 'n'.repeat(22),
            signature: 'A'.repeat(86),
          }),
        }),
      );
      expect(statuses).toEqual({ 401: 50, 429: 30 });
    });
  }, 60_000);

  it('never push successful admin changes out of the log', async () => {
    await withManager(
      ['--trust-proxy', '127.0.0.1', '--audit-max-failures', '100'],
      async (manager) => {
        expect(
          (
            await manager.api('POST', '/v1/admin/domains/acme/members', {
              id: 'kept',
              displayName: 'Kept',
            })
          ).status,
        ).toBe(201);
        // 1,000 client addresses behind the trusted proxy, three failures each.
        await burst(3000, 10, (i) =>
          fetch(`${manager.url}/v1/admin/whoami`, {
            headers: {
              authorization: 'Bearer not-a-token',
              'x-forwarded-for': `10.0.${Math.floor((i % 1000) / 250)}.${i % 250}`,
            },
          }),
        );
        const failed = await audit(manager, 'action=login.failed');
        console.log(`failed-login entries kept with a cap of 100: ${failed.length}`);
        expect(failed.length).toBeGreaterThan(0);
        expect(failed.length).toBeLessThan(400);
        const created = await audit(manager, 'action=member.create');
        expect(created.map((e) => e.outcome)).toEqual(['success']);
        // Behind the trusted proxy, the forwarded address is the client's.
        expect(String(failed[0]?.details?.['address'])).toMatch(/^10\.0\./);
      },
    );
  }, 120_000);
});
