import { describe, expect, it } from '@jest/globals';
import { adminCommand } from './admin-command.js';

interface Seen {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string | undefined;
}

/** The Manager at the fetch boundary: answers from a route table, records each request. */
function manager(routes: Record<string, (url: URL) => Response>) {
  const seen: Seen[] = [];
  const fetchFn = ((input: URL, init?: RequestInit) => {
    const method = init?.method ?? 'GET';
    seen.push({
      method,
      url: input.href,
      headers: (init?.headers ?? {}) as Record<string, string>,
      body: typeof init?.body === 'string' ? init.body : undefined,
    });
    const route = routes[`${method} ${input.pathname}`];
    return Promise.resolve(
      route?.(input) ??
        Response.json({ error: { code: 'NOT_FOUND', message: 'no route' } }, { status: 404 }),
    );
  }) as typeof fetch;
  return { seen, fetchFn };
}

async function run(args: string[], fetchFn: typeof fetch) {
  const out: string[] = [];
  const env = { GROVE_MANAGER_URL: 'http://m.test', GROVE_ADMIN_TOKEN: 'tok' };
  const error = await adminCommand(args, (line) => out.push(line), env, { fetch: fetchFn }).then(
    () => undefined,
    (e: unknown) => e,
  );
  return { out, error };
}

const member = (id: string) => ({
  id,
  domain: 'acme',
  displayName: id.toUpperCase(),
  createdAt: '2026-01-01T00:00:00Z',
  updatedAt: '2026-01-01T00:00:00Z',
});

describe('grove admin', () => {
  it('members list follows every page and prints one JSON line per member', async () => {
    const { seen, fetchFn } = manager({
      'GET /v1/admin/domains/acme/members': (url) =>
        url.searchParams.get('cursor') === null
          ? Response.json({ items: [member('a'), member('b')], next: 'c1' })
          : Response.json({ items: [member('c')] }),
    });
    const { out, error } = await run(['members', 'list', '--domain', 'acme'], fetchFn);
    expect(error).toBeUndefined();
    expect(out.map((line) => (JSON.parse(line) as { id: string }).id)).toEqual(['a', 'b', 'c']);
    expect(seen.map((request) => request.url)).toEqual([
      'http://m.test/v1/admin/domains/acme/members',
      'http://m.test/v1/admin/domains/acme/members?cursor=c1',
    ]);
    expect(seen[0]?.headers.authorization).toBe('Bearer tok');
  });

  it('members update --email "" clears the email (null), other fields untouched', async () => {
    const { seen, fetchFn } = manager({
      'PATCH /v1/admin/domains/acme/members/bob': () => Response.json(member('bob')),
    });
    await run(['members', 'update', '--domain', 'acme', '--id', 'bob', '--email', ''], fetchFn);
    expect(JSON.parse(seen[0]?.body ?? '')).toEqual({ email: null });
  });

  it('audit --jsonl streams every entry the Manager sends as JSON lines', async () => {
    const entry = (id: string) =>
      JSON.stringify({
        id,
        time: '2026-01-01T00:00:00Z',
        actor: 'bootstrap',
        action: 'member.create',
        outcome: 'success',
      });
    const { seen, fetchFn } = manager({
      'GET /v1/admin/audit': () =>
        new Response(`${entry('1-0')}\n${entry('2-0')}\n${entry('3-0')}`, {
          headers: { 'content-type': 'application/x-ndjson' },
        }),
    });
    const { out, error } = await run(
      ['audit', '--jsonl', '--action', 'member.create', '--since', '2026-01-01T00:00:00+01:00'],
      fetchFn,
    );
    expect(error).toBeUndefined();
    expect(out.map((line) => (JSON.parse(line) as { id: string }).id)).toEqual([
      '1-0',
      '2-0',
      '3-0',
    ]);
    const url = new URL(seen[0]?.url ?? '');
    expect(url.searchParams.get('since')).toBe('2025-12-31T23:00:00.000Z');
    expect(url.searchParams.get('action')).toBe('member.create');
    expect(seen[0]?.headers.accept).toBe('application/x-ndjson');
  });

  it('turns a Manager error into its code with exit 1', async () => {
    const { fetchFn } = manager({
      'POST /v1/admin/domains/acme/devices/d-1/revoke': () =>
        Response.json(
          { error: { code: 'FORBIDDEN', message: 'auditors read only' } },
          { status: 403 },
        ),
    });
    const { out, error } = await run(
      ['devices', 'revoke', '--domain', 'acme', '--id', 'd-1'],
      fetchFn,
    );
    expect(out).toEqual([]);
    expect(error).toMatchObject({ code: 'FORBIDDEN', exitCode: 1, message: 'auditors read only' });
  });

  it('reports an unreachable Manager as MANAGER_UNREACHABLE', async () => {
    const refused = (() => Promise.reject(new TypeError('fetch failed'))) as typeof fetch;
    const { error } = await run(['usage', '--domain', 'acme'], refused);
    expect(error).toMatchObject({ code: 'MANAGER_UNREACHABLE', exitCode: 1 });
  });

  it('rejects --since that is not a time, naming the option (exit 2)', async () => {
    const { fetchFn, seen } = manager({});
    const { error } = await run(['audit', '--since', 'yesterday'], fetchFn);
    expect(error).toMatchObject({ code: 'USAGE', exitCode: 2 });
    expect((error as Error).message).toMatch(/--since/);
    expect(seen).toEqual([]);
  });
});
