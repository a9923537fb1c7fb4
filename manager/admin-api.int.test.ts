import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ManagerProcess, writeManagerConfig, stopAll } from '../test/support/manager-process.js';
import { RedisServer } from '../test/support/redis-server.js';
import { makeDomain } from '../test/support/relay-process.js';

interface ErrorBody {
  error: { code: string; message: string; details?: { issues?: { path: string }[] } };
}
interface AuditEntry {
  actor: string;
  action: string;
  domain?: string;
  target?: string;
  outcome: string;
  details?: Record<string, unknown>;
}

let redis: RedisServer;
let manager: ManagerProcess;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  redis = await RedisServer.start({ appendonly: false });
  const configFile = writeManagerConfig({
    redisPort: redis.port,
    domains: [{ domain: await makeDomain('acme') }, { domain: await makeDomain('globex') }],
  });
  manager = await ManagerProcess.start({ configFile, redisUrl: redis.url });
  for (const [name, role, domains] of [
    ['globex-admin', 'domain-admin', ['globex']],
    ['globex-auditor', 'auditor', ['globex']],
    ['all-auditor', 'auditor', []],
  ] as const) {
    const created = await manager.api<{ token: string }>('POST', '/v1/admin/tokens', {
      name,
      role,
      domains,
    });
    expect(created.status).toBe(201);
    tokens[name] = created.body.token;
  }
  tokens['server-admin'] = manager.bootstrapToken;
}, 60_000);

afterAll(async () => {
  await stopAll(
    () => manager.terminate(),
    () => redis.stop(),
  );
});

/** Every admin route, on domain acme, with a body it would accept. */
const acmeRoutes: [method: string, path: string, body?: unknown][] = [
  ['GET', '/v1/admin/domains/acme/members'],
  ['POST', '/v1/admin/domains/acme/members', { id: 'table-x', displayName: 'X' }],
  ['GET', '/v1/admin/domains/acme/members/m1'],
  ['PATCH', '/v1/admin/domains/acme/members/m1', { displayName: 'M' }],
  ['POST', '/v1/admin/domains/acme/members:import', [{ id: 'table-y', displayName: 'Y' }]],
  ['POST', '/v1/admin/domains/acme/members/m1/codes', {}],
  ['GET', '/v1/admin/domains/acme/codes'],
  ['DELETE', '/v1/admin/domains/acme/codes/00000000'],
  ['GET', '/v1/admin/domains/acme/devices'],
  ['POST', '/v1/admin/domains/acme/devices/d-none/revoke'],
  ['GET', '/v1/admin/domains/acme/workspaces'],
  ['POST', '/v1/admin/domains/acme/workspaces', { id: 'table-w', name: 'W' }],
  ['PATCH', '/v1/admin/domains/acme/workspaces/w1', { name: 'W1' }],
  ['POST', '/v1/admin/domains/acme/workspaces/w1/members', { members: ['m1'] }],
  ['DELETE', '/v1/admin/domains/acme/workspaces/w1/members/m1'],
  ['DELETE', '/v1/admin/domains/acme/workspaces/w1'],
  ['DELETE', '/v1/admin/domains/acme/members/m1'],
  ['GET', '/v1/admin/domains/acme/policy'],
  ['GET', '/v1/admin/domains/acme/relays'],
  ['GET', '/v1/admin/domains/acme/usage'],
  ['GET', '/v1/admin/audit?domain=acme'],
];
const tokenRoutes: [string, string, unknown?][] = [
  ['GET', '/v1/admin/tokens'],
  ['POST', '/v1/admin/tokens', { name: 'table-token', role: 'auditor', domains: [] }],
  ['DELETE', '/v1/admin/tokens/table-token'],
];
const serverReads: [string, string][] = [
  ['GET', '/v1/admin/whoami'],
  ['GET', '/v1/admin/domains'],
  ['GET', '/v1/admin/audit'],
];

type Expectation = 'forbidden' | 'allowed';
const isRead = (method: string) => method === 'GET';

/** route × role → expected outcome ('allowed': anything but 401/403). */
const table: [role: string, method: string, path: string, body: unknown, expected: Expectation][] =
  [];
for (const [method, path, body] of acmeRoutes) {
  table.push(['server-admin', method, path, body, 'allowed']);
  table.push(['globex-admin', method, path, body, 'forbidden']);
  table.push(['globex-auditor', method, path, body, 'forbidden']);
  table.push(['all-auditor', method, path, body, isRead(method) ? 'allowed' : 'forbidden']);
}
for (const [method, path, body] of tokenRoutes) {
  table.push(['server-admin', method, path, body, 'allowed']);
  for (const role of ['globex-admin', 'globex-auditor', 'all-auditor']) {
    table.push([role, method, path, body, 'forbidden']);
  }
}
for (const [method, path] of serverReads) {
  for (const role of ['server-admin', 'globex-admin', 'globex-auditor', 'all-auditor']) {
    table.push([role, method, path, undefined, 'allowed']);
  }
}
// Within its own domain, a domain-admin may write and an auditor may only read.
for (const [method, path, body] of acmeRoutes) {
  if (path.startsWith('/v1/admin/audit')) continue;
  const own = path.replace('/domains/acme/', '/domains/globex/');
  table.push(['globex-admin', method, own, body, 'allowed']);
  table.push(['globex-auditor', method, own, body, isRead(method) ? 'allowed' : 'forbidden']);
}

describe('admin API › role checks', () => {
  it.each(table)('%s: %s %s → %s', async (role, method, path, body, expected) => {
    const token = tokens[role] ?? '';
    const answer = await manager.api<ErrorBody>(method, path, body, token);
    if (expected === 'forbidden') {
      expect(answer.status).toBe(403);
      expect(answer.body.error.code).toBe('FORBIDDEN');
    } else {
      expect([401, 403]).not.toContain(answer.status);
    }
  });

  it('answers 401 without a token or with an unknown one, before looking at the body', async () => {
    const none = await manager.api<ErrorBody>('GET', '/v1/admin/whoami', undefined, null);
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe('UNAUTHENTICATED');
    const bad = await manager.api<ErrorBody>(
      'POST',
      '/v1/admin/domains/acme/members',
      { nonsense: true },
      'not-a-token',
    );
    expect(bad.status).toBe(401);
    const forbiddenInvalid = await manager.api<ErrorBody>(
      'POST',
      '/v1/admin/domains/acme/members',
      { nonsense: true },
      tokens['globex-auditor'],
    );
    expect(forbiddenInvalid.status).toBe(403);
  });

  it('lets an unknown domain be 404 for a server-admin but 403 for others', async () => {
    const missing = await manager.api<ErrorBody>('GET', '/v1/admin/domains/nowhere/members');
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('UNKNOWN_DOMAIN');
    const hidden = await manager.api<ErrorBody>(
      'GET',
      '/v1/admin/domains/nowhere/members',
      undefined,
      tokens['globex-admin'],
    );
    expect(hidden.status).toBe(403);
    const domains = await manager.api<{ name: string }[]>(
      'GET',
      '/v1/admin/domains',
      undefined,
      tokens['globex-auditor'],
    );
    expect(domains.body.map((d) => d.name)).toEqual(['globex']);
  });
});

async function auditSince(marker: string): Promise<AuditEntry[]> {
  const answer = await manager.api<{ items: (AuditEntry & { time: string })[] }>(
    'GET',
    `/v1/admin/audit?since=${encodeURIComponent(marker)}&limit=1000`,
  );
  expect(answer.status).toBe(200);
  return answer.body.items.reverse();
}

describe('admin API › audit log', () => {
  it('records each change once, with its actor, target and outcome', async () => {
    const since = new Date().toISOString();
    const admin = tokens['globex-admin'] ?? '';
    const g = '/v1/admin/domains/globex';
    const calls: [string, string, unknown?][] = [
      ['POST', `${g}/members`, { id: 'ann', displayName: 'Ann' }],
      ['PATCH', `${g}/members/ann`, { email: 'ann@example.com' }],
      ['POST', `${g}/members:import`, [{ id: 'ben', displayName: 'Ben' }]],
      ['POST', `${g}/members/ann/codes`, { ttlSeconds: 3600 }],
      ['POST', `${g}/workspaces`, { id: 'ops', name: 'Ops', members: ['ann'] }],
      ['PATCH', `${g}/workspaces/ops`, { name: 'Operations' }],
      ['POST', `${g}/workspaces/ops/members`, { members: ['ben'] }],
      ['DELETE', `${g}/workspaces/ops/members/ben`],
      ['DELETE', `${g}/workspaces/ops`],
      ['POST', `${g}/members`, { id: 'ann', displayName: 'Ann again' }],
      ['DELETE', `${g}/members/ben`],
    ];
    const statuses: number[] = [];
    for (const [method, path, body] of calls) {
      statuses.push((await manager.api(method, path, body, admin)).status);
    }
    expect(statuses).toEqual([201, 200, 200, 201, 201, 200, 200, 200, 204, 409, 200]);
    // Reads are not audited; a failed login is.
    await manager.api('GET', `${g}/members`, undefined, admin);
    await manager.api('GET', '/v1/admin/whoami', undefined, 'wrong-token');

    const entries = await auditSince(since);
    expect(entries.map((e) => [e.actor, e.action, e.target ?? null, e.outcome])).toEqual([
      ['globex-admin', 'member.create', 'member:ann', 'success'],
      ['globex-admin', 'member.update', 'member:ann', 'success'],
      ['globex-admin', 'member.import', null, 'success'],
      ['globex-admin', 'code.issue', 'member:ann', 'success'],
      ['globex-admin', 'workspace.create', 'workspace:ops', 'success'],
      ['globex-admin', 'workspace.rename', 'workspace:ops', 'success'],
      ['globex-admin', 'workspace.members.add', 'workspace:ops', 'success'],
      ['globex-admin', 'workspace.members.remove', 'workspace:ops', 'success'],
      ['globex-admin', 'workspace.delete', 'workspace:ops', 'success'],
      ['globex-admin', 'member.create', 'member:ann', 'failure'],
      ['globex-admin', 'member.delete', 'member:ben', 'success'],
      ['anonymous', 'login.failed', null, 'failure'],
    ]);
    expect(entries.slice(0, 11).every((e) => e.domain === 'globex')).toBe(true);
    // The code itself never reaches the log, only its id.
    expect(JSON.stringify(entries)).not.toMatch(/globex\.[A-Z2-7]{20,}/);
  });

  it('filters by domain for a domain-admin and exports JSON lines', async () => {
    await manager.api('POST', '/v1/admin/domains/acme/members', { id: 'zed', displayName: 'Zed' });
    const mine = await manager.api<{ items: AuditEntry[] }>(
      'GET',
      '/v1/admin/audit?limit=1000',
      undefined,
      tokens['globex-admin'],
    );
    expect(mine.body.items.length).toBeGreaterThan(0);
    expect(mine.body.items.every((e) => e.domain === 'globex')).toBe(true);

    const response = await fetch(`${manager.url}/v1/admin/audit?action=member.create&domain=acme`, {
      headers: {
        authorization: `Bearer ${manager.bootstrapToken}`,
        accept: 'application/x-ndjson',
      },
    });
    expect(response.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    const lines = (await response.text()).trim().split('\n');
    const parsed = lines.map((l) => JSON.parse(l) as AuditEntry);
    expect(parsed.length).toBeGreaterThan(0);
    expect(parsed.every((e) => e.action === 'member.create' && e.domain === 'acme')).toBe(true);
    expect(parsed.map((e) => e.target)).toContain('member:zed');
  });
});

/**
 * A POST announcing `length` bytes: the Manager refuses on the Content-Length alone, before any
 * byte of the body is sent (writing it anyway races the server closing the socket: EPIPE).
 */
function postAnnounced(
  path: string,
  length: number,
  type: string,
): Promise<{ status: number; body: ErrorBody }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${manager.url}${path}`,
      {
        method: 'POST',
        headers: {
          authorization: `Bearer ${manager.bootstrapToken}`,
          'content-type': type,
          'content-length': length,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          req.destroy();
          resolve({
            status: res.statusCode ?? 0,
            body: JSON.parse(Buffer.concat(chunks).toString()) as ErrorBody,
          });
        });
      },
    );
    req.on('error', reject);
    req.flushHeaders();
  });
}

describe('admin API › bad requests', () => {
  const post = (path: string, body: string, type = 'application/json') =>
    fetch(`${manager.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${manager.bootstrapToken}`, 'content-type': type },
      body,
    });

  it('lists every invalid field path', async () => {
    const answer = await manager.api<ErrorBody>('POST', '/v1/admin/domains/acme/members', {
      id: 'Bad Id',
      displayName: '',
      extra: 1,
    });
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('VALIDATION_FAILED');
    const paths = answer.body.error.details?.issues?.map((i) => i.path).sort();
    expect(paths).toEqual(['body', 'body.displayName', 'body.id']);
    expect(answer.body.error.message).toContain('body.id');
  });

  it('refuses malformed JSON, a wrong content type, oversized bodies and unknown routes', async () => {
    const malformed = await post('/v1/admin/domains/acme/members', '{"id": "x",');
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as ErrorBody).error.code).toBe('VALIDATION_FAILED');

    const poisoned = await post(
      '/v1/admin/domains/acme/members',
      '{"id":"p","displayName":"P","__proto__":{"admin":true}}',
    );
    expect(poisoned.status).toBe(400);

    // A client that always sets the JSON content type may send no body where none is needed.
    const emptyBody = await post('/v1/admin/domains/acme/devices/d-none/revoke', '');
    expect(emptyBody.status).toBe(404);
    expect(((await emptyBody.json()) as ErrorBody).error.code).toBe('NOT_FOUND');

    const wrongType = await post('/v1/admin/domains/acme/members', 'id=x', 'text/plain');
    expect(wrongType.status).toBe(415);
    expect(((await wrongType.json()) as ErrorBody).error.code).toBe('UNSUPPORTED_MEDIA_TYPE');

    const csvToJsonRoute = await post('/v1/admin/domains/acme/members', 'id\nx', 'text/csv');
    expect(csvToJsonRoute.status).toBe(415);

    const tooLarge = await postAnnounced(
      '/v1/admin/domains/acme/members',
      1024 * 1024 + 1,
      'application/json',
    );
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.body.error.code).toBe('PAYLOAD_TOO_LARGE');

    // Imports take up to 10 MiB: 2 MiB of CSV is accepted.
    const rows = Array.from({ length: 40_000 }, (_, i) => `big-${i},${'N'.repeat(40)}`);
    const csv = `id,displayName\n${rows.join('\n')}`;
    expect(csv.length).toBeGreaterThan(1024 * 1024);
    const bigImport = await post('/v1/admin/domains/globex/members:import', csv, 'text/csv');
    expect(bigImport.status).toBe(200);
    expect(((await bigImport.json()) as { created: string[] }).created).toHaveLength(40_000);

    const hugeImport = await postAnnounced(
      '/v1/admin/domains/acme/members:import',
      10 * 1024 * 1024 + 1,
      'text/csv',
    );
    expect(hugeImport.status).toBe(413);

    const unknown = await manager.api<ErrorBody>('GET', '/v1/nothing-here');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('NOT_FOUND');
  });

  it('sets the security headers on every answer', async () => {
    for (const path of ['/healthz', '/v1/admin/whoami', '/v1/nothing', '/v1/openapi.json']) {
      const response = await fetch(`${manager.url}${path}`);
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('referrer-policy')).toBe('no-referrer');
      expect(response.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    }
  });

  it('serves an OpenAPI document naming every route', async () => {
    const doc = (await (await fetch(`${manager.url}/v1/openapi.json`)).json()) as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
    };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/v1/enroll',
        '/v1/token',
        '/v1/admin/domains/{domain}/members:import',
        '/v1/admin/domains/{domain}/devices/{id}/revoke',
      ]),
    );
    expect(Object.keys(doc.paths['/v1/admin/domains/{domain}/members'] ?? {}).sort()).toEqual([
      'get',
      'post',
    ]);
  });
});

describe('admin API › imports', () => {
  it('loses no member when imports run concurrently', async () => {
    const batches = Array.from({ length: 8 }, (_, b) =>
      Array.from({ length: 250 }, (_, i) => ({ id: `c${b}-${i}`, displayName: `C ${b} ${i}` })),
    );
    // Every batch also holds one id another batch has: exactly one of them may create it.
    batches.forEach((batch) => batch.push({ id: 'shared', displayName: 'Shared' }));
    const answers = await Promise.all(
      batches.map((batch) =>
        manager.api<{ created: string[]; errors: { code: string }[] }>(
          'POST',
          '/v1/admin/domains/acme/members:import',
          batch,
        ),
      ),
    );
    const created = answers.flatMap((a) => a.body.created);
    expect(created.filter((id) => id === 'shared')).toHaveLength(1);
    expect(created).toHaveLength(8 * 250 + 1);
    expect(answers.flatMap((a) => a.body.errors.map((e) => e.code))).toEqual(
      Array(7).fill('ALREADY_EXISTS'),
    );
    const listed: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await manager.api<{ items: { id: string }[]; next?: string }>(
        'GET',
        `/v1/admin/domains/acme/members?limit=1000${cursor === undefined ? '' : `&cursor=${encodeURIComponent(cursor)}`}`,
      );
      listed.push(...page.body.items.map((m) => m.id));
      cursor = page.body.next;
    } while (cursor !== undefined);
    for (const batch of batches) {
      for (const row of batch) expect(listed).toContain(row.id);
    }
  });

  it('reports per-row errors, and creates nothing with allOrNothing', async () => {
    const csv = 'id,displayName,email\nrow-ok,Ok,\nBAD ID,Bad,\nrow-mail,Mail,not-an-email\n';
    const post = (query: string) =>
      fetch(`${manager.url}/v1/admin/domains/acme/members:import${query}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${manager.bootstrapToken}`, 'content-type': 'text/csv' },
        body: csv,
      });
    const strict = await post('?allOrNothing=true');
    expect(strict.status).toBe(422);
    const strictBody = (await strict.json()) as { created: string[]; errors: { row: number }[] };
    expect(strictBody.created).toEqual([]);
    expect(strictBody.errors.map((e) => e.row)).toEqual([2, 3]);
    expect((await manager.api('GET', '/v1/admin/domains/acme/members/row-ok')).status).toBe(404);

    const lenient = await post('');
    expect(lenient.status).toBe(200);
    const body = (await lenient.json()) as {
      created: string[];
      errors: { row: number; code: string }[];
    };
    expect(body.created).toEqual(['row-ok']);
    expect(body.errors).toEqual([
      expect.objectContaining({ row: 2, id: 'BAD ID', code: 'VALIDATION_FAILED' }),
      expect.objectContaining({ row: 3, id: 'row-mail', code: 'VALIDATION_FAILED' }),
    ]);
  });
});
