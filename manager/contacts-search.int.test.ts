import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  DeviceKey,
  ManagerProcess,
  stopAll,
  writeManagerConfig,
} from '../test/support/manager-process.js';
import { RedisServer } from '../test/support/redis-server.js';
import { makeDomain } from '../test/support/relay-process.js';

/**
 * /v1/contacts never returns e-mail addresses, so it must not match on them either: a device
 * could otherwise recover a hidden address one character at a time (issue 12, item 8).
 */

let redis: RedisServer;
let manager: ManagerProcess;
let relayToken: string;

beforeAll(async () => {
  redis = await RedisServer.start({ appendonly: false });
  const configFile = writeManagerConfig({
    redisPort: redis.port,
    domains: [{ domain: await makeDomain('acme') }],
  });
  manager = await ManagerProcess.start({ configFile, redisUrl: redis.url });
  for (const [id, displayName, email] of [
    ['alice', 'Alice Liddell', 'alice@example.com'],
    ['zed', 'Zed Shaw', 'qx7-hidden@corp.example'],
  ] as const) {
    const created = await manager.api('POST', '/v1/admin/domains/acme/members', {
      id,
      displayName,
      email,
    });
    expect(created.status).toBe(201);
  }
  const code = await manager.api<{ code: string }>(
    'POST',
    '/v1/admin/domains/acme/members/alice/codes',
    {},
  );
  const enrolled = await manager.api<{ token: string }>(
    'POST',
    '/v1/enroll',
    { code: code.body.code, publicKey: DeviceKey.generate().publicKey, deviceName: 'laptop' },
    null,
  );
  expect(enrolled.status).toBe(201);
  relayToken = enrolled.body.token;
}, 60_000);

afterAll(async () => {
  await stopAll(
    () => manager.terminate(),
    () => redis.stop(),
  );
});

const contacts = (q: string) =>
  manager.api<{ id: string; displayName: string }[]>(
    'GET',
    `/v1/contacts?q=${encodeURIComponent(q)}`,
    undefined,
    relayToken,
  );

describe('GET /v1/contacts', () => {
  it('matches ids and display names', async () => {
    expect((await contacts('zed')).body).toEqual([{ id: 'zed', displayName: 'Zed Shaw' }]);
    expect((await contacts('shaw')).body).toEqual([{ id: 'zed', displayName: 'Zed Shaw' }]);
  });

  it('does not match on e-mail addresses, which it never returns', async () => {
    for (const q of ['qx7', 'hidden@', '@corp.example', 'example.com']) {
      const answer = await contacts(q);
      expect([q, answer.status, answer.body]).toEqual([q, 200, []]);
    }
  });

  it('admins still search e-mail addresses (they see them)', async () => {
    const page = await manager.api<{ items: { id: string }[] }>(
      'GET',
      '/v1/admin/domains/acme/members?q=qx7',
    );
    expect(page.body.items.map((m) => m.id)).toEqual(['zed']);
  });
});
