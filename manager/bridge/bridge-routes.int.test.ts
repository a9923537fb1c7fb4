import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  DeviceKey,
  ManagerProcess,
  stopAll,
  writeManagerConfig,
} from '../../test/support/manager-process.js';
import { RedisServer } from '../../test/support/redis-server.js';
import { makeDomain } from '../../test/support/relay-process.js';
import type { Bridge, RestoreJob } from './bridge-model.js';

/**
 * The Manager's Data Bridge routes against a real Manager and Redis: registering a domain's
 * bridge, membership by id list and by label selector, what members see, audited removal, and
 * a restore job from request to the bridge's report.
 */

const A = '/v1/admin/domains/acme';

interface Sync {
  bridge: string;
  workspaces: string[];
  added: string[];
}
interface Roles {
  workspace: string;
  members: { id: string; role: string }[];
}
interface AuditEntry {
  actor: string;
  action: string;
  outcome: string;
  target?: string;
  details?: Record<string, unknown>;
}

let redis: RedisServer;
let manager: ManagerProcess;
/** Relay tokens of enrolled devices, by member. */
const tokens = new Map<string, string>();

async function enroll(member: string): Promise<string> {
  const code = await manager.api<{ code: string }>('POST', `${A}/members/${member}/codes`, {});
  expect(code.status).toBe(201);
  const enrolled = await manager.api<{ token: string }>(
    'POST',
    '/v1/enroll',
    { code: code.body.code, publicKey: DeviceKey.generate().publicKey, deviceName: member },
    null,
  );
  expect(enrolled.status).toBe(201);
  return enrolled.body.token;
}

function token(member: string): string {
  const value = tokens.get(member);
  if (value === undefined) throw new Error(`no device of ${member}`);
  return value;
}

async function audit(action: string): Promise<AuditEntry[]> {
  const answer = await manager.api<{ items: AuditEntry[] }>(
    'GET',
    `/v1/admin/audit?domain=acme&action=${action}`,
  );
  expect(answer.status).toBe(200);
  return answer.body.items;
}

async function roles(workspace: string): Promise<Record<string, string>> {
  const answer = await manager.api<Roles>('GET', `${A}/workspaces/${workspace}/roles`);
  expect(answer.status).toBe(200);
  return Object.fromEntries(answer.body.members.map((member) => [member.id, member.role]));
}

beforeAll(async () => {
  redis = await RedisServer.start({ appendonly: false });
  const configFile = writeManagerConfig({
    redisPort: redis.port,
    domains: [{ domain: await makeDomain('acme') }],
  });
  manager = await ManagerProcess.start({ configFile, redisUrl: redis.url });
  for (const id of ['alice', 'bob', 'carol']) {
    expect((await manager.api('POST', `${A}/members`, { id, displayName: id })).status).toBe(201);
  }
  for (const [id, members] of [
    ['team', ['alice', 'bob']],
    ['ops', ['alice', 'carol']],
    ['lab', ['bob', 'carol']],
    ['misc', ['alice']],
  ] as const) {
    const created = await manager.api('POST', `${A}/workspaces`, { id, name: id, members });
    expect(created.status).toBe(201);
  }
  for (const member of ['alice', 'bob']) tokens.set(member, await enroll(member));
}, 60_000);

afterAll(async () => {
  await stopAll(
    () => manager.terminate(),
    () => redis.stop(),
  );
});

describe('the Data Bridge routes of the Manager', () => {
  it('registers a bridge by workspace id list: creates its member and adds it to those workspaces', async () => {
    const registered = await manager.api<Sync>('POST', `${A}/bridges/archiver`, {
      displayName: 'Archive',
      workspaces: { ids: ['team', 'ops', 'gone'] },
    });
    expect(registered.status).toBe(200);
    // An id that names no workspace is left out.
    expect(registered.body).toEqual({
      bridge: 'archiver',
      workspaces: ['ops', 'team'],
      added: ['ops', 'team'],
    });
    const member = await manager.api<{ displayName: string }>('GET', `${A}/members/archiver`);
    expect(member.body.displayName).toBe('Archive');
    expect(await roles('team')).toEqual({ alice: 'member', bob: 'member', archiver: 'bridge' });
    expect(await roles('lab')).toEqual({ bob: 'member', carol: 'member' });
    const listed = await manager.api<Bridge[]>('GET', `${A}/bridges`);
    expect(listed.body.map((bridge) => [bridge.id, bridge.selection])).toEqual([
      ['archiver', { ids: ['team', 'ops', 'gone'] }],
    ]);
    const entries = await audit('bridge.register');
    expect(entries[0]).toMatchObject({
      action: 'bridge.register',
      outcome: 'success',
      target: 'member:archiver',
    });
    expect((await audit('bridge.workspace.add')).map((entry) => entry.target).sort()).toEqual([
      'workspace:ops',
      'workspace:team',
    ]);
  });

  it('shows members the bridge with the bridge role, and only in their workspaces', async () => {
    const seen = await manager.api<Roles>(
      'GET',
      '/v1/workspaces/team/members',
      undefined,
      token('bob'),
    );
    expect(seen.status).toBe(200);
    expect(seen.body.members).toContainEqual({ id: 'archiver', role: 'bridge' });
    // Bob is not in ops: answered as if it did not exist.
    const hidden = await manager.api('GET', '/v1/workspaces/ops/members', undefined, token('bob'));
    expect(hidden.status).toBe(404);
    const anonymous = await manager.api('GET', '/v1/workspaces/team/members', undefined, null);
    expect(anonymous.status).toBe(401);
  });

  it('selects workspaces by label selector; the bridge device syncs the ones labelled later', async () => {
    const labelled = await manager.api('POST', `${A}/workspaces/lab/labels`, {
      labels: { archive: 'yes', tier: 'gold' },
    });
    expect(labelled.status).toBe(200);
    const unknown = await manager.api('POST', `${A}/workspaces/nope/labels`, {
      labels: { archive: 'yes' },
    });
    expect(unknown.status).toBe(404);
    const changed = await manager.api<Sync>('POST', `${A}/bridges/archiver`, {
      workspaces: { selector: { matchLabels: { archive: 'yes' } } },
    });
    expect(changed.status).toBe(200);
    // Joined before stays joined: a changed selection adds, it never removes on its own.
    expect(changed.body).toEqual({
      bridge: 'archiver',
      workspaces: ['lab', 'ops', 'team'],
      added: ['lab'],
    });
    expect(await roles('lab')).toMatchObject({ archiver: 'bridge' });

    tokens.set('archiver', await enroll('archiver'));
    await manager.api('POST', `${A}/workspaces/misc/labels`, { labels: { archive: 'yes' } });
    const synced = await manager.api<Sync>('POST', '/v1/bridge/sync', undefined, token('archiver'));
    expect(synced.status).toBe(200);
    expect(synced.body.added).toEqual(['misc']);
    expect(synced.body.workspaces).toEqual(['lab', 'misc', 'ops', 'team']);
    const again = await manager.api<Sync>('POST', '/v1/bridge/sync', undefined, token('archiver'));
    expect(again.body.added).toEqual([]);
    const byDevice = (await audit('bridge.workspace.add')).find(
      (entry) => entry.target === 'workspace:misc',
    );
    expect(byDevice?.actor).toMatch(/^device:/);

    // Only a bridge's device may sync.
    const refused = await manager.api('POST', '/v1/bridge/sync', undefined, token('alice'));
    expect(refused.status).toBe(403);
  });

  it('removes the bridge from a workspace, audited, and does not add it back by itself', async () => {
    const removed = await manager.api<Sync>('DELETE', `${A}/bridges/archiver/workspaces/misc`);
    expect(removed.status).toBe(200);
    expect(removed.body.workspaces).toEqual(['lab', 'ops', 'team']);
    expect(await roles('misc')).toEqual({ alice: 'member' });
    const [entry] = await audit('bridge.workspace.remove');
    expect(entry).toMatchObject({
      actor: expect.any(String) as unknown as string,
      outcome: 'success',
      target: 'workspace:misc',
      details: { bridge: 'archiver' },
    });
    // Still selected by its label, yet a sync leaves it out.
    const synced = await manager.api<Sync>('POST', '/v1/bridge/sync', undefined, token('archiver'));
    expect(synced.body).toEqual({
      bridge: 'archiver',
      workspaces: ['lab', 'ops', 'team'],
      added: [],
    });
    // Until an administrator adds it back.
    const readded = await manager.api<Sync>('POST', `${A}/bridges/archiver/workspaces/misc`);
    expect(readded.status).toBe(200);
    expect(readded.body.workspaces).toEqual(['lab', 'misc', 'ops', 'team']);
    expect(await roles('misc')).toMatchObject({ archiver: 'bridge' });
  });

  it('joins a workspace deleted and created again with the same id, once it is selected again', async () => {
    expect((await manager.api('DELETE', `${A}/workspaces/misc`)).status).toBe(204);
    const created = await manager.api('POST', `${A}/workspaces`, {
      id: 'misc',
      name: 'misc again',
      members: ['alice'],
    });
    expect(created.status).toBe(201);
    // The old workspace's labels went with it: the new one is not selected yet.
    const unlabelled = await manager.api<Sync>(
      'POST',
      '/v1/bridge/sync',
      undefined,
      token('archiver'),
    );
    expect(unlabelled.body).toEqual({
      bridge: 'archiver',
      workspaces: ['lab', 'ops', 'team'],
      added: [],
    });
    // Labelled, it is joined: the old workspace's membership is not mistaken for the new one's.
    await manager.api('POST', `${A}/workspaces/misc/labels`, { labels: { archive: 'yes' } });
    const synced = await manager.api<Sync>('POST', '/v1/bridge/sync', undefined, token('archiver'));
    expect(synced.body).toEqual({
      bridge: 'archiver',
      workspaces: ['lab', 'misc', 'ops', 'team'],
      added: ['misc'],
    });
    expect(await roles('misc')).toEqual({ alice: 'member', archiver: 'bridge' });
  });

  it('refuses bridge changes from a domain auditor and for an unknown bridge', async () => {
    const created = await manager.api<{ token: string }>('POST', '/v1/admin/tokens', {
      name: 'acme-auditor',
      role: 'auditor',
      domains: ['acme'],
    });
    expect(created.status).toBe(201);
    const auditor = created.body.token;
    expect((await manager.api('GET', `${A}/bridges`, undefined, auditor)).status).toBe(200);
    const write = await manager.api(
      'POST',
      `${A}/bridges/other`,
      { workspaces: { all: true } },
      auditor,
    );
    expect(write.status).toBe(403);
    expect((await manager.api('DELETE', `${A}/bridges/nobody/workspaces/team`)).status).toBe(404);
    const bad = await manager.api('POST', `${A}/bridges/archiver`, {
      workspaces: { ids: ['team'], all: true },
    });
    expect(bad.status).toBe(400);
  });

  it('runs a restore job: new workspace owned by the restorer, others suspended, progress reported by the bridge, audited', async () => {
    const requested = await manager.api<RestoreJob>('POST', `${A}/restores`, {
      sourceWorkspace: 'team',
      newWorkspace: 'team-restored',
      owner: 'alice',
      segment: 2,
    });
    expect(requested.status).toBe(202);
    const job = requested.body;
    expect(job).toMatchObject({
      state: 'pending',
      bridge: 'archiver',
      sourceWorkspace: 'team',
      newWorkspace: 'team-restored',
      owner: 'alice',
      segment: 2,
      suspended: ['bob'],
      delivered: 0,
    });
    expect(await roles('team-restored')).toEqual({
      alice: 'owner',
      archiver: 'bridge',
      bob: 'suspended',
    });
    // The new id must be free.
    const twice = await manager.api('POST', `${A}/restores`, {
      sourceWorkspace: 'team',
      newWorkspace: 'team-restored',
      owner: 'alice',
    });
    expect(twice.status).toBe(409);
    const both = await manager.api('POST', `${A}/restores`, {
      sourceWorkspace: 'team',
      newWorkspace: 'x',
      owner: 'alice',
      segment: 1,
      until: '2026-01-01T00:00:00.000Z',
    });
    expect(both.status).toBe(400);

    const pending = await manager.api<RestoreJob[]>(
      'GET',
      '/v1/bridge/restores',
      undefined,
      token('archiver'),
    );
    expect(pending.body.map((item) => item.id)).toEqual([job.id]);
    expect((await manager.api('GET', '/v1/bridge/restores', undefined, token('bob'))).status).toBe(
      403,
    );

    const running = await manager.api<RestoreJob>(
      'POST',
      `/v1/bridge/restores/${job.id}`,
      { state: 'running', delivered: 10, total: 25, senders: ['bob', 'carol', 'alice'] },
      token('archiver'),
    );
    expect(running.status).toBe(200);
    expect(running.body).toMatchObject({ state: 'running', delivered: 10, total: 25 });
    expect(running.body.startedAt).toBeDefined();
    // Everyone whose messages it holds is listed, suspended until re-invited.
    expect(await roles('team-restored')).toEqual({
      alice: 'owner',
      archiver: 'bridge',
      bob: 'suspended',
      carol: 'suspended',
    });
    const done = await manager.api<RestoreJob>(
      'POST',
      `/v1/bridge/restores/${job.id}`,
      { state: 'succeeded', delivered: 25, total: 25 },
      token('archiver'),
    );
    expect(done.body).toMatchObject({ state: 'succeeded', delivered: 25 });
    expect(done.body.finishedAt).toBeDefined();
    const late = await manager.api(
      'POST',
      `/v1/bridge/restores/${job.id}`,
      { state: 'running', delivered: 26 },
      token('archiver'),
    );
    expect(late.status).toBe(409);
    const shown = await manager.api<RestoreJob>('GET', `${A}/restores/${job.id}`);
    expect(shown.body).toMatchObject({ state: 'succeeded', delivered: 25, total: 25 });
    expect(
      (await manager.api<RestoreJob[]>('GET', '/v1/bridge/restores', undefined, token('archiver')))
        .body,
    ).toEqual([]);

    const requests = await audit('workspace.restore');
    // The refused second request is audited as a failure with its code.
    expect(requests.find((entry) => entry.outcome === 'failure')).toMatchObject({
      details: { error: 'ALREADY_EXISTS' },
    });
    expect(requests.find((entry) => entry.outcome === 'success')).toMatchObject({
      target: 'workspace:team-restored',
      details: { source: 'team', owner: 'alice', segment: 2, restore: job.id },
    });
    expect((await audit('workspace.restore.finish'))[0]).toMatchObject({
      actor: expect.stringMatching(/^device:/) as unknown as string,
      outcome: 'success',
      details: { restore: job.id, source: 'team', delivered: 25 },
    });

    // Re-inviting a suspended member makes it a member again.
    const added = await manager.api('POST', `${A}/workspaces/team-restored/members`, {
      members: ['bob'],
    });
    expect(added.status).toBe(200);
    expect(await roles('team-restored')).toEqual({
      alice: 'owner',
      archiver: 'bridge',
      bob: 'member',
      carol: 'suspended',
    });
  });
});
