import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { ManagerProcess, stopAll, writeManagerConfig } from '../test/support/manager-process.js';
import { RedisServer } from '../test/support/redis-server.js';
import { makeDomain } from '../test/support/relay-process.js';

/**
 * The bootstrap admin token (GROVE_BOOTSTRAP_TOKEN) across restarts of real Manager
 * processes: revoked stays revoked (a tombstone), a new value rotates it, none runs without.
 */

let redis: RedisServer;
let client: Redis;
let configFile: string;
const running: ManagerProcess[] = [];

beforeAll(async () => {
  redis = await RedisServer.start({ appendonly: false });
  client = new Redis(redis.port, '127.0.0.1');
  configFile = writeManagerConfig({
    redisPort: redis.port,
    domains: [{ domain: await makeDomain('acme') }],
  });
}, 60_000);

afterEach(async () => {
  await stopAll(...running.splice(0).map((m) => () => m.terminate()));
  await client.flushall();
});

afterAll(async () => {
  client.disconnect();
  await stopAll(() => redis.stop());
});

async function start(bootstrapToken: string | undefined): Promise<ManagerProcess> {
  const manager = await ManagerProcess.start({
    configFile,
    redisUrl: redis.url,
    ...(bootstrapToken === undefined ? { env: { GROVE_BOOTSTRAP_TOKEN: '' } } : { bootstrapToken }),
  });
  running.push(manager);
  return manager;
}

async function stop(manager: ManagerProcess): Promise<void> {
  running.splice(running.indexOf(manager), 1);
  expect(await manager.terminate()).toBe(0);
}

const whoami = (manager: ManagerProcess, token: string) =>
  manager.api('GET', '/v1/admin/whoami', undefined, token);

async function serverAdmin(manager: ManagerProcess, name: string, using: string): Promise<string> {
  const created = await manager.api<{ token: string }>(
    'POST',
    '/v1/admin/tokens',
    { name, role: 'server-admin', domains: [] },
    using,
  );
  expect(created.status).toBe(201);
  return created.body.token;
}

describe('the bootstrap admin token', () => {
  it('stays revoked when the Manager restarts with the same GROVE_BOOTSTRAP_TOKEN', async () => {
    const boot = 'bootstrap-token-revoked-0001';
    const first = await start(boot);
    expect((await whoami(first, boot)).status).toBe(200);
    const ops = await serverAdmin(first, 'ops', boot);
    expect((await first.api('DELETE', '/v1/admin/tokens/bootstrap', undefined, ops)).status).toBe(
      204,
    );
    expect((await whoami(first, boot)).status).toBe(401);
    await stop(first);

    // The same Secret value at the next start (a pod restart): still refused.
    const second = await start(boot);
    expect((await whoami(second, boot)).status).toBe(401);
    const names = await second.api<{ name: string }[]>('GET', '/v1/admin/tokens', undefined, ops);
    expect(names.body.map((t) => t.name)).toEqual(['ops']);
    await stop(second);
    // And again: a tombstone, not a one-off.
    const third = await start(boot);
    expect((await whoami(third, boot)).status).toBe(401);
  }, 90_000);

  it('rotates: a new value replaces the old one, which never comes back', async () => {
    const oldToken = 'bootstrap-token-old-00000001';
    const newToken = 'bootstrap-token-new-00000002';
    const first = await start(oldToken);
    expect((await whoami(first, oldToken)).status).toBe(200);
    await stop(first);

    const second = await start(newToken);
    expect((await whoami(second, newToken)).status).toBe(200);
    expect((await whoami(second, oldToken)).status).toBe(401);
    await stop(second);

    // Someone rolls the Secret back: the old token stays revoked; the current one is kept.
    const third = await start(oldToken);
    expect((await whoami(third, oldToken)).status).toBe(401);
    expect((await whoami(third, newToken)).status).toBe(200);
  }, 90_000);

  it('runs with none: no GROVE_BOOTSTRAP_TOKEN creates no token and keeps the others', async () => {
    const boot = 'bootstrap-token-none-0000003';
    const first = await start(boot);
    const ops = await serverAdmin(first, 'ops', boot);
    await stop(first);

    const second = await start(undefined);
    expect((await whoami(second, ops)).status).toBe(200);
    // The bootstrap token made earlier is still there until revoked: unsetting is not revoking.
    expect((await whoami(second, boot)).status).toBe(200);
    expect((await second.api('DELETE', '/v1/admin/tokens/bootstrap', undefined, ops)).status).toBe(
      204,
    );
    expect((await whoami(second, boot)).status).toBe(401);
  }, 90_000);
});
