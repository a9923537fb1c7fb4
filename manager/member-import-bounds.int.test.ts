import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { ManagerProcess, stopAll, writeManagerConfig } from '../test/support/manager-process.js';
import { RedisServer } from '../test/support/redis-server.js';
import { makeDomain } from '../test/support/relay-process.js';

/**
 * Large member imports against a real Manager and Redis (issue 12, item 12): no single Redis
 * call of an all-or-nothing import blocks Redis for long, all-or-nothing still holds, and
 * error answers are bounded whatever the input.
 */

let redis: RedisServer;
let client: Redis;
let manager: ManagerProcess;

beforeAll(async () => {
  redis = await RedisServer.start({ appendonly: false });
  client = new Redis(redis.port, '127.0.0.1');
  const configFile = writeManagerConfig({
    redisPort: redis.port,
    domains: [{ domain: await makeDomain('acme') }],
  });
  manager = await ManagerProcess.start({ configFile, redisUrl: redis.url });
}, 60_000);

beforeEach(async () => {
  await client.del(
    'g:{dir:acme}:m:members',
    'g:{dir:acme}:m:member-index',
    'g:{dir:acme}:identities',
  );
});

afterAll(async () => {
  client.disconnect();
  await stopAll(
    () => manager.terminate(),
    () => redis.stop(),
  );
});

interface ImportAnswer {
  created: string[];
  errors: { row: number; id?: string; code: string; message: string }[];
  errorCount?: number;
}

function rows(n: number, prefix = 'm'): { id: string; displayName: string; email: string }[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `${prefix}${String(i).padStart(6, '0')}`,
    displayName: `Member ${i}`,
    email: `${prefix}${i}@example.com`,
  }));
}

async function importRaw(
  body: string,
  contentType: string,
  allOrNothing = true,
): Promise<{ status: number; text: string }> {
  const response = await fetch(
    `${manager.url}/v1/admin/domains/acme/members:import?allOrNothing=${String(allOrNothing)}`,
    {
      method: 'POST',
      headers: { authorization: `Bearer ${manager.bootstrapToken}`, 'content-type': contentType },
      body,
    },
  );
  return { status: response.status, text: await response.text() };
}

/** The commands slower than 50 ms Redis logged since the last reset: [command, µs]. */
async function slowCommands(): Promise<[string, number][]> {
  const entries = (await client.call('SLOWLOG', 'GET', '100')) as [
    number,
    number,
    number,
    string[],
  ][];
  return entries.map((entry) => [String(entry[3][0]).toLowerCase(), entry[2]]);
}

describe('member imports of 50,000 rows', () => {
  it('an all-or-nothing import never holds Redis in one long call', async () => {
    await client.config('SET', 'slowlog-log-slower-than', '50000');
    await client.call('SLOWLOG', 'RESET');
    const answer = await importRaw(JSON.stringify(rows(50_000)), 'application/json');
    expect(answer.status).toBe(200);
    expect((JSON.parse(answer.text) as ImportAnswer).created).toHaveLength(50_000);
    expect(await client.hlen('g:{dir:acme}:m:members')).toBe(50_000);
    const slow = (await slowCommands()).filter(([command]) => command.startsWith('eval'));
    console.log(`scripts slower than 50 ms during a 50k import: ${JSON.stringify(slow)}`);
    expect(slow).toEqual([]);
  }, 120_000);

  it('creates nothing when the last of 50,000 rows names a taken id', async () => {
    expect(
      (await manager.api('POST', '/v1/admin/domains/acme/members', rows(1, 'z')[0])).status,
    ).toBe(201);
    const all = [...rows(49_999), ...rows(1, 'z')];
    const answer = await importRaw(JSON.stringify(all), 'application/json');
    expect(answer.status).toBe(422);
    const body = JSON.parse(answer.text) as ImportAnswer;
    expect(body.created).toEqual([]);
    expect(body.errors).toEqual([
      expect.objectContaining({ row: 50_000, id: 'z000000', code: 'ALREADY_EXISTS' }),
    ]);
    expect(await client.hlen('g:{dir:acme}:m:members')).toBe(1);
    expect(await client.zcard('g:{dir:acme}:m:member-index')).toBe(1);
  }, 120_000);

  it('a single create racing an import: one of them wins, never half an import', async () => {
    const all = rows(50_000);
    const contested = all[45_000];
    const importing = importRaw(JSON.stringify(all), 'application/json');
    await new Promise((resolve) => setTimeout(resolve, 150));
    const single = await manager.api('POST', '/v1/admin/domains/acme/members', contested);
    const imported = await importing;
    const members = await client.hlen('g:{dir:acme}:m:members');
    if (single.status === 201) {
      expect(imported.status).toBe(422);
      expect(members).toBe(1);
    } else {
      expect(single.status).toBe(409);
      expect(imported.status).toBe(200);
      expect(members).toBe(50_000);
    }
  }, 120_000);
});

describe('import error answers are bounded', () => {
  it('an unknown CSV column made of 10 MB is not echoed back', async () => {
    const header = `id,displayName,${'\u0001'.repeat(9 * 1024 * 1024)}`;
    const answer = await importRaw(`${header}\nalice,Alice,x\n`, 'text/csv');
    console.log(`unknown-column answer: ${answer.status}, ${answer.text.length} bytes`);
    expect(answer.status).toBe(400);
    expect(answer.text.length).toBeLessThan(4096);
    expect(answer.text).toContain('unknown CSV column');
  }, 60_000);

  it('50,000 refused rows list a bounded number of errors, with the total', async () => {
    const bad = Array.from({ length: 50_000 }, (_, i) => ({
      id: `r${i}`,
      displayName: 'R',
      [`unknown-${'k'.repeat(150)}`]: 1,
    }));
    const answer = await importRaw(JSON.stringify(bad), 'application/json');
    console.log(`50k refused rows: ${answer.status}, ${answer.text.length} bytes`);
    expect(answer.status).toBe(422);
    const body = JSON.parse(answer.text) as ImportAnswer;
    expect(body.errorCount).toBe(50_000);
    expect(body.errors.length).toBeLessThanOrEqual(1000);
    expect(answer.text.length).toBeLessThan(1024 * 1024);
    expect(await client.hlen('g:{dir:acme}:m:members')).toBe(0);
  }, 60_000);
});
