import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { once } from 'node:events';
import WebSocket from 'ws';
import {
  DeviceKey,
  ManagerProcess,
  stopAll,
  writeManagerConfig,
} from '../../test/support/manager-process.js';
import { RedisServer } from '../../test/support/redis-server.js';
import {
  makeDomain,
  RelayProcess,
  seedDirectory,
  tokenFor,
  type TestDomain,
} from '../../test/support/relay-process.js';

/**
 * Device tokens issued in the future (`iat` beyond the allowed clock skew) are refused by the
 * relays and by the Manager, which verify them with the same code (issue 12, item 13).
 */

let redis: RedisServer;
let relay: RelayProcess;
let manager: ManagerProcess;
let acme: TestDomain;
let enrolled: { identityId: string; deviceId: string };

beforeAll(async () => {
  redis = await RedisServer.start({ appendonly: false });
  acme = await makeDomain('acme');
  await seedDirectory(redis.target, 'acme', {
    identities: [{ id: 'alice', devices: ['a1'] }],
    workspaces: [],
  });
  relay = await RelayProcess.start({ redis: redis.target, domains: [acme] });
  // The Manager on another Redis database would not see the seeded directory; it enrolls its own.
  const configFile = writeManagerConfig({ redisPort: redis.port, domains: [{ domain: acme }] });
  manager = await ManagerProcess.start({ configFile, redisUrl: redis.url });
  expect(
    (await manager.api('POST', '/v1/admin/domains/acme/members', { id: 'bob', displayName: 'Bob' }))
      .status,
  ).toBe(201);
  const code = await manager.api<{ code: string }>(
    'POST',
    '/v1/admin/domains/acme/members/bob/codes',
    {},
  );
  const answer = await manager.api<{ identityId: string; deviceId: string }>(
    'POST',
    '/v1/enroll',
    { code: code.body.code, publicKey: DeviceKey.generate().publicKey, deviceName: 'phone' },
    null,
  );
  expect(answer.status).toBe(201);
  enrolled = answer.body;
}, 60_000);

afterAll(async () => {
  await stopAll(
    () => manager.terminate(),
    () => relay.terminate(),
    () => redis.stop(),
  );
});

const now = () => Math.floor(Date.now() / 1000);

/** hello with `token`: the first frame's type (and code), or the close code. */
async function helloWith(token: string): Promise<string> {
  const ws = new WebSocket(`${relay.url}/v1/connect`, { perMessageDeflate: false });
  await once(ws, 'open');
  const first = new Promise<string>((resolve) => {
    ws.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString('utf8')) as { t: string; code?: string };
      resolve(frame.code === undefined ? frame.t : `${frame.t}:${frame.code}`);
    });
    ws.on('close', (code) => resolve(`close:${code}`));
  });
  ws.send(JSON.stringify({ t: 'hello', token }));
  const result = await first;
  ws.terminate();
  return result;
}

describe('a device token issued in the future', () => {
  it('is refused by a relay beyond the clock skew, accepted within it', async () => {
    expect(await helloWith(await tokenFor(acme, 'alice', 'a1', 3600, now()))).toBe('welcome');
    expect(await helloWith(await tokenFor(acme, 'alice', 'a1', 3600, now() + 30))).toBe('welcome');
    expect(await helloWith(await tokenFor(acme, 'alice', 'a1', 3600, now() + 3600))).toBe(
      'error:AUTH_EXPIRED',
    );
  });

  it('is refused by the Manager’s device routes', async () => {
    const policy = async (iat: number) =>
      (
        await manager.api(
          'GET',
          '/v1/policy',
          undefined,
          await tokenFor(acme, enrolled.identityId, enrolled.deviceId, 3600, iat),
        )
      ).status;
    expect(await policy(now())).toBe(200);
    expect(await policy(now() + 3600)).toBe(401);
  });
});

describe('a connection whose token expires', () => {
  it('is closed with 4103 at the expiry, not before, and within a second of it', async () => {
    const iat = now();
    const expiresAtMs = (iat + 2) * 1000;
    const ws = new WebSocket(`${relay.url}/v1/connect`, { perMessageDeflate: false });
    await once(ws, 'open');
    const closed = new Promise<{ code: number; at: number }>((resolve) => {
      ws.on('close', (code) => resolve({ code, at: Date.now() }));
    });
    const welcomed = new Promise<string>((resolve) => {
      ws.once('message', (data: Buffer) => {
        resolve((JSON.parse(data.toString('utf8')) as { t: string }).t);
      });
    });
    ws.send(JSON.stringify({ t: 'hello', token: await tokenFor(acme, 'alice', 'a1', 2, iat) }));
    expect(await welcomed).toBe('welcome');
    const { code, at } = await closed;
    expect(code).toBe(4103);
    expect(at).toBeGreaterThanOrEqual(expiresAtMs);
    expect(at - expiresAtMs).toBeLessThan(1000);
  });
});
