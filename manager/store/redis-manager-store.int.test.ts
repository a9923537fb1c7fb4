import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { withRedisKinds } from '../../test/support/redis-kinds.js';
import { waitFor } from '../../test/support/ports.js';
import { DirectoryCache } from '../../relay/store/directory.js';
import { DeviceQueueStore } from '../../relay/store/device-queue.js';
import { deviceKeys, directoryKeys, globalKeys, managerKeys } from '../../contracts/redis/keys.js';
import { revokeMessage } from '../../contracts/wire/directory-channel.js';
import { PresenceStore } from '../../relay/store/presence-store.js';
import { connectRedis, type RedisClient } from '../../contracts/redis/connection.js';
import { ManagerError } from '../errors.js';
import type { AuditEntry } from '../model.js';
import type { MemberInput } from './manager-store.js';
import { RedisManagerStore } from './redis-manager-store.js';

const T0 = new Date('2026-03-01T10:00:00.000Z');
const later = (seconds: number) => new Date(T0.getTime() + seconds * 1000);
const publicKey = () => randomBytes(32).toString('base64url');

let domainCounter = 0;
/** A fresh domain per test: tests share the servers, never their data. */
function freshDomain(): string {
  domainCounter += 1;
  return `d${domainCounter}-${Date.now().toString(36)}`;
}

async function code(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    if (error instanceof ManagerError) return error.code;
    throw error;
  }
}

function rows(prefix: string, from: number, to: number): MemberInput[] {
  const out: MemberInput[] = [];
  for (let i = from; i < to; i++) {
    out.push({ id: `${prefix}${String(i).padStart(4, '0')}`, displayName: `User ${i}` });
  }
  return out;
}

describe.each(withRedisKinds())('Manager store on %s', (_name, target) => {
  let redis: RedisClient;
  let subscriber: RedisClient;
  let store: RedisManagerStore;
  beforeAll(() => {
    redis = connectRedis(target(), 'commands');
    subscriber = connectRedis(target(), 'subscriber');
    store = new RedisManagerStore(redis);
  });
  afterAll(() => {
    redis.disconnect();
    subscriber.disconnect();
  });

  /** Collects messages published on a domain's directory channel. */
  async function listen(domain: string): Promise<string[]> {
    const received: string[] = [];
    const channel = directoryKeys(domain).channel;
    subscriber.on('smessage', (ch: string, message: string) => {
      if (ch === channel) received.push(message);
    });
    await subscriber.ssubscribe(channel);
    return received;
  }

  async function enroll(domain: string, member: string, name = 'laptop') {
    const { code: activation } = await store.issueCode(domain, member, 3600, T0);
    return store.redeemCode(activation, { name, publicKey: publicKey() }, later(1));
  }

  describe('members', () => {
    it('creates a member once, addressable in the relay directory at once', async () => {
      const domain = freshDomain();
      const member = await store.createMember(
        domain,
        { id: 'alice', displayName: 'Alice', email: 'alice@example.org' },
        T0,
      );
      expect(member).toEqual({
        id: 'alice',
        domain,
        displayName: 'Alice',
        email: 'alice@example.org',
        createdAt: T0.toISOString(),
        updatedAt: T0.toISOString(),
      });
      expect(await code(store.createMember(domain, { id: 'alice', displayName: 'A' }, T0))).toBe(
        'ALREADY_EXISTS',
      );
      expect(await code(store.createMember(domain, { id: 'Al ice', displayName: 'A' }, T0))).toBe(
        'VALIDATION_FAILED',
      );
      expect(await store.getMember(domain, 'alice')).toEqual(member);
      expect(await redis.hget(directoryKeys(domain).identities, 'alice')).toBe(
        JSON.stringify({ displayName: 'Alice' }),
      );
    });

    it('updates display name and email, and the directory follows', async () => {
      const domain = freshDomain();
      await store.createMember(domain, { id: 'bob', displayName: 'Bob', email: 'b@x.org' }, T0);
      const renamed = await store.updateMember(domain, 'bob', { displayName: 'Robert' }, later(5));
      expect(renamed).toMatchObject({ displayName: 'Robert', email: 'b@x.org' });
      expect(renamed.updatedAt).toBe(later(5).toISOString());
      // Records pass through Lua's cjson: text survives byte for byte.
      const odd = 'Zoë "Z" </script> \\ ✓';
      expect(
        (await store.updateMember(domain, 'bob', { displayName: odd }, later(5))).displayName,
      ).toBe(odd);
      expect((await store.getMember(domain, 'bob'))?.displayName).toBe(odd);
      await store.updateMember(domain, 'bob', { displayName: 'Robert' }, later(5));
      const cleared = await store.updateMember(domain, 'bob', { email: null }, later(6));
      expect(cleared.email).toBeUndefined();
      expect(cleared.displayName).toBe('Robert');
      expect(await redis.hget(directoryKeys(domain).identities, 'bob')).toBe(
        JSON.stringify({ displayName: 'Robert' }),
      );
      expect(await code(store.updateMember(domain, 'nobody', { displayName: 'X' }, T0))).toBe(
        'NOT_FOUND',
      );
    });

    it('lists in id order page by page, and searches case-insensitively', async () => {
      const domain = freshDomain();
      await store.importMembers(domain, rows('u', 0, 25), { allOrNothing: true }, T0);
      await store.createMember(
        domain,
        { id: 'zed', displayName: 'Zed', email: 'ZED@Example.ORG' },
        T0,
      );
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await store.listMembers(domain, {
          limit: 10,
          ...(cursor === undefined ? {} : { cursor }),
        });
        seen.push(...page.items.map((m) => m.id));
        cursor = page.next;
        pages++;
      } while (cursor !== undefined);
      expect(pages).toBe(3);
      expect(seen).toEqual([...rows('u', 0, 25).map((r) => r.id), 'zed']);
      expect(
        (await store.listMembers(domain, { query: 'example.org' })).items.map((m) => m.id),
      ).toEqual(['zed']);
      const search = await store.listMembers(domain, { query: 'USER 1', limit: 5 });
      expect(search.items.map((m) => m.id)).toEqual(['u0001', 'u0010', 'u0011', 'u0012', 'u0013']);
      const rest = await store.listMembers(domain, {
        query: 'USER 1',
        limit: 100,
        ...(search.next === undefined ? {} : { cursor: search.next }),
      });
      expect(rest.items.map((m) => m.id)).toEqual([
        'u0014',
        'u0015',
        'u0016',
        'u0017',
        'u0018',
        'u0019',
      ]);
      expect(rest.next).toBeUndefined();
    });
  });

  describe('imports', () => {
    it('all-or-nothing creates none when one row exists already, all otherwise', async () => {
      const domain = freshDomain();
      await store.createMember(domain, { id: 'u0003', displayName: 'Taken' }, T0);
      const failed = await store.importMembers(
        domain,
        rows('u', 0, 10),
        { allOrNothing: true },
        T0,
      );
      expect(failed.created).toEqual([]);
      expect(failed.errors).toEqual([
        { row: 4, id: 'u0003', code: 'ALREADY_EXISTS', message: 'member u0003 already exists' },
      ]);
      expect((await store.listMembers(domain, {})).items.map((m) => m.id)).toEqual(['u0003']);
      const ok = await store.importMembers(domain, rows('v', 0, 10), { allOrNothing: true }, T0);
      expect(ok.created).toHaveLength(10);
      expect(await redis.hlen(directoryKeys(domain).identities)).toBe(11);
    });

    it('otherwise creates the valid rows and reports each failure', async () => {
      const domain = freshDomain();
      await store.createMember(domain, { id: 'u0001', displayName: 'Taken' }, T0);
      const result = await store.importMembers(
        domain,
        [
          ...rows('u', 0, 3),
          { id: 'u0000', displayName: 'again' },
          { id: '-bad', displayName: 'x' },
        ],
        { allOrNothing: false },
        T0,
      );
      expect(result.created).toEqual(['u0000', 'u0002']);
      expect(result.errors.map((e) => [e.row, e.code])).toEqual([
        [2, 'ALREADY_EXISTS'],
        [4, 'ALREADY_EXISTS'],
        [5, 'VALIDATION_FAILED'],
      ]);
    });

    it('checks rows as received, once, and stores them trimmed', async () => {
      const domain = freshDomain();
      const received: unknown[] = [
        { id: 'ok', displayName: '  Ok  ', email: ' ok@example.org ' },
        null,
        { id: 'ok', displayName: 'Again' },
        { id: 'extra', displayName: 'X', role: 'admin' },
      ];
      const expected = [
        {
          row: 2,
          code: 'VALIDATION_FAILED',
          message: 'row: Invalid input: expected object, received null',
        },
        { row: 3, id: 'ok', code: 'ALREADY_EXISTS', message: 'id "ok" is also in row 1' },
        {
          row: 4,
          id: 'extra',
          code: 'VALIDATION_FAILED',
          message: 'row: Unrecognized key: "role"',
        },
      ];
      const strict = await store.importMembers(domain, received, { allOrNothing: true }, T0);
      expect(strict).toEqual({ created: [], errors: expected });
      expect((await store.listMembers(domain, {})).items).toEqual([]);
      const lenient = await store.importMembers(domain, received, { allOrNothing: false }, T0);
      expect(lenient).toEqual({ created: ['ok'], errors: expected });
      expect(await store.getMember(domain, 'ok')).toMatchObject({
        displayName: 'Ok',
        email: 'ok@example.org',
      });
    });

    it('concurrent imports of disjoint sets lose nothing', async () => {
      const domain = freshDomain();
      const [a, b] = await Promise.all([
        store.importMembers(domain, rows('a', 0, 500), { allOrNothing: false }, T0),
        store.importMembers(domain, rows('b', 0, 500), { allOrNothing: true }, T0),
      ]);
      expect(a.created).toHaveLength(500);
      expect(b.created).toHaveLength(500);
      expect(await redis.hlen(managerKeys(domain).members)).toBe(1000);
      expect(await redis.zcard(managerKeys(domain).memberIndex)).toBe(1000);
      expect(await redis.hlen(directoryKeys(domain).identities)).toBe(1000);
    });

    it('concurrent overlapping imports create each id exactly once', async () => {
      const domain = freshDomain();
      const [a, b] = await Promise.all([
        store.importMembers(domain, rows('m', 0, 1500), { allOrNothing: false }, T0),
        store.importMembers(domain, rows('m', 500, 2000), { allOrNothing: false }, T0),
      ]);
      const created = [...a.created, ...b.created];
      expect(new Set(created).size).toBe(created.length);
      expect(created).toHaveLength(2000);
      const reported = [...a.errors, ...b.errors];
      expect(reported).toHaveLength(1000);
      expect(reported.every((e) => e.code === 'ALREADY_EXISTS')).toBe(true);
      expect(new Set([...created, ...reported.map((e) => e.id)]).size).toBe(2000);
      expect(await redis.hlen(managerKeys(domain).members)).toBe(2000);
    });

    it('of two overlapping all-or-nothing imports at once, exactly one lands', async () => {
      const domain = freshDomain();
      const results = await Promise.all([
        store.importMembers(domain, rows('x', 0, 400), { allOrNothing: true }, T0),
        store.importMembers(domain, rows('x', 300, 700), { allOrNothing: true }, T0),
      ]);
      const landed = results.filter((r) => r.created.length > 0);
      expect(landed).toHaveLength(1);
      expect(results.filter((r) => r.errors.length === 100 && r.created.length === 0)).toHaveLength(
        1,
      );
      expect(await redis.hlen(managerKeys(domain).members)).toBe(400);
    });
  });

  describe('activation codes and enrollment', () => {
    it('enrolls a device once; the relay directory sees it at once', async () => {
      const domain = freshDomain();
      await store.createMember(domain, { id: 'alice', displayName: 'Alice' }, T0);
      const cache = new DirectoryCache(redis, subscriber);
      expect((await cache.get(domain)).devicesOfIdentity('alice')).toEqual([]);
      const { code: activation, info } = await store.issueCode(domain, 'alice', 600, T0);
      expect(activation.startsWith(`${domain}.`)).toBe(true);
      expect(info).toEqual({
        id: info.id,
        domain,
        memberId: 'alice',
        createdAt: T0.toISOString(),
        expiresAt: later(600).toISOString(),
      });
      const stored = JSON.stringify(await redis.hgetall(managerKeys(domain).codes));
      expect(stored).not.toContain(activation.slice(domain.length + 1));
      const key = publicKey();
      const { member, device } = await store.redeemCode(
        activation,
        { name: 'Laptop ✓ "/"', publicKey: key },
        later(10),
      );
      expect(member.id).toBe('alice');
      expect(device).toEqual({
        id: device.id,
        domain,
        memberId: 'alice',
        name: 'Laptop ✓ "/"',
        publicKey: key,
        enrolledAt: later(10).toISOString(),
      });
      expect(device.id).toMatch(/^d-[0-9a-z]{26}$/);
      await waitFor(
        async () => (await cache.get(domain)).identityOfDevice(device.id) === 'alice',
        'the directory cache to see the device',
        2000,
      );
      expect((await cache.get(domain)).devicesOfIdentity('alice')).toEqual([device.id]);
      expect(await store.listDevices(domain, { memberId: 'alice' })).toEqual([device]);
      const [used] = await store.listCodes(domain, { memberId: 'alice' });
      expect(used).toMatchObject({ usedAt: later(10).toISOString(), usedByDevice: device.id });
      expect(
        await code(store.redeemCode(activation, { name: 'Again', publicKey: key }, later(11))),
      ).toBe('CODE_USED');
    });

    it('refuses expired, revoked, malformed, unknown and foreign-domain codes', async () => {
      const domain = freshDomain();
      await store.createMember(domain, { id: 'carol', displayName: 'Carol' }, T0);
      expect(await code(store.issueCode(domain, 'nobody', 60, T0))).toBe('NOT_FOUND');
      const device = { name: 'Phone', publicKey: publicKey() };
      const expiring = await store.issueCode(domain, 'carol', 60, T0);
      expect(await code(store.redeemCode(expiring.code, device, later(60)))).toBe('CODE_EXPIRED');
      const revoked = await store.issueCode(domain, 'carol', 60, T0);
      const revokedInfo = await store.revokeCode(domain, revoked.info.id, later(1));
      expect(revokedInfo.revokedAt).toBe(later(1).toISOString());
      expect(await code(store.redeemCode(revoked.code, device, later(2)))).toBe('CODE_REVOKED');
      expect(await code(store.redeemCode('nonsense', device, T0))).toBe('CODE_INVALID');
      expect(
        await code(store.redeemCode(`${domain}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`, device, T0)),
      ).toBe('CODE_INVALID');
      const valid = await store.issueCode(domain, 'carol', 60, T0);
      const foreign = `other-${domain}${valid.code.slice(domain.length)}`;
      expect(await code(store.redeemCode(foreign, device, T0))).toBe('CODE_INVALID');
      expect(await code(store.revokeCode(domain, 'ffffffff', T0))).toBe('NOT_FOUND');
      expect(await redis.hlen(directoryKeys(domain).devices)).toBe(0);
      await store.redeemCode(valid.code, device, T0);
      expect(await code(store.revokeCode(domain, valid.info.id, T0))).toBe('CONFLICT');
    });

    it('of many concurrent redemptions of one code exactly one wins', async () => {
      const domain = freshDomain();
      await store.createMember(domain, { id: 'dave', displayName: 'Dave' }, T0);
      const { code: activation } = await store.issueCode(domain, 'dave', 600, T0);
      // A second store: two Manager replicas racing, not one process's promise order.
      const otherRedis = connectRedis(target(), 'commands');
      const other = new RedisManagerStore(otherRedis);
      try {
        const outcomes = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            code(
              (i % 2 === 0 ? store : other).redeemCode(
                activation,
                { name: `d${i}`, publicKey: publicKey() },
                later(1),
              ),
            ),
          ),
        );
        expect(outcomes.filter((o) => o === undefined)).toHaveLength(1);
        expect(outcomes.filter((o) => o === 'CODE_USED')).toHaveLength(19);
        expect(await redis.hlen(directoryKeys(domain).devices)).toBe(1);
        expect(await store.listDevices(domain, {})).toHaveLength(1);
      } finally {
        otherRedis.disconnect();
      }
    });
  });

  describe('devices', () => {
    it('revoking removes the device from the directory, purges its queue and tells relays', async () => {
      const domain = freshDomain();
      await store.createMember(domain, { id: 'erin', displayName: 'Erin' }, T0);
      const { device } = await enroll(domain, 'erin');
      const { device: kept } = await enroll(domain, 'erin', 'phone');
      const queues = new DeviceQueueStore(
        redis,
        () => T0.getTime(),
        () => 'epoch1',
      );
      await queues.enqueue(
        domain,
        [device.id, kept.id],
        { dedupKey: 'm1', expiresAt: T0.getTime() + 3_600_000, body: '{"x":1}', bytes: 7 },
        { maxQueuedMessages: 100, maxQueuedBytes: 10_000, retentionSeconds: 3600 },
      );
      const keys = deviceKeys(domain, device.id);
      expect(await redis.exists(keys.meta, keys.queue, keys.ids)).toBe(3);
      const messages = await listen(domain);
      await store.touchDevice(domain, device.id, later(30));
      const revoked = await store.revokeDevice(domain, device.id, later(60));
      expect(revoked).toEqual({
        ...device,
        lastSeenAt: later(30).toISOString(),
        revokedAt: later(60).toISOString(),
      });
      expect(await redis.exists(keys.meta, keys.queue, keys.ids)).toBe(0);
      expect(await redis.hget(directoryKeys(domain).devices, device.id)).toBeNull();
      expect(await redis.hget(directoryKeys(domain).devices, kept.id)).toBe('erin');
      await waitFor(() => messages.includes(revokeMessage(device.id)), 'the revoke message', 2000);
      const listed = await store.listDevices(domain, { memberId: 'erin' });
      expect(listed.map((d) => [d.id, d.revokedAt])).toEqual(
        [
          [device.id, later(60).toISOString()],
          [kept.id, undefined],
        ].sort(),
      );
      expect(await code(store.revokeDevice(domain, 'd-unknown', T0))).toBe('NOT_FOUND');
    });

    it('deleting a member revokes its devices, drops its codes and its workspace seats', async () => {
      const domain = freshDomain();
      await store.importMembers(
        domain,
        [
          { id: 'frank', displayName: 'Frank' },
          { id: 'gina', displayName: 'Gina' },
        ],
        { allOrNothing: true },
        T0,
      );
      const { device } = await enroll(domain, 'frank');
      const pending = await store.issueCode(domain, 'frank', 600, T0);
      await store.issueCode(domain, 'gina', 600, T0);
      await store.createWorkspace(
        domain,
        { id: 'team', name: 'Team', members: ['frank', 'gina'] },
        T0,
      );
      const messages = await listen(domain);
      expect(await store.deleteMember(domain, 'frank', later(5))).toEqual({
        revokedDevices: [device.id],
      });
      expect(await store.getMember(domain, 'frank')).toBeUndefined();
      expect(await redis.hget(directoryKeys(domain).identities, 'frank')).toBeNull();
      expect(await redis.hget(directoryKeys(domain).devices, device.id)).toBeNull();
      expect(await redis.hget(directoryKeys(domain).workspaces, 'team')).toBe('["gina"]');
      expect((await store.getWorkspace(domain, 'team'))?.updatedAt).toBe(later(5).toISOString());
      expect((await store.listCodes(domain, {})).map((c) => c.memberId)).toEqual(['gina']);
      expect((await store.getDevice(domain, device.id))?.revokedAt).toBe(later(5).toISOString());
      await waitFor(() => messages.includes(revokeMessage(device.id)), 'the revoke message', 2000);
      expect(await code(store.deleteMember(domain, 'frank', T0))).toBe('NOT_FOUND');
      expect(
        await code(store.redeemCode(pending.code, { name: 'x', publicKey: publicKey() }, later(6))),
      ).toBe('CODE_INVALID');
    });

    it("reads presence and usage from the relays' keys", async () => {
      const domain = freshDomain();
      await store.importMembers(domain, rows('p', 0, 3), { allOrNothing: true }, T0);
      const one = (await enroll(domain, 'p0000')).device;
      const two = (await enroll(domain, 'p0000', 'phone')).device;
      const three = (await enroll(domain, 'p0001')).device;
      const presence = new PresenceStore(redis, () => T0.getTime());
      await presence.online(
        'pod1',
        { domain, identity: 'p0000', device: one.id, connectionId: 'c1' },
        'active',
      );
      await presence.online(
        'pod1',
        { domain, identity: 'p0000', device: two.id, connectionId: 'c2' },
        'idle',
      );
      const seen = await store.presence(domain, ['p0000', 'p0001']);
      expect([...seen.entries()].sort()).toEqual(
        [
          [one.id, 'active'],
          [two.id, 'idle'],
        ].sort(),
      );
      const queues = new DeviceQueueStore(
        redis,
        () => T0.getTime(),
        () => 'e',
      );
      const bounds = { maxQueuedMessages: 100, maxQueuedBytes: 100_000, retentionSeconds: 3600 };
      for (const [i, bytes] of [10, 20].entries()) {
        await queues.enqueue(
          domain,
          [three.id, two.id],
          { dedupKey: `k${i}`, expiresAt: T0.getTime() + 3_600_000, body: 'x', bytes },
          bounds,
        );
      }
      await redis.hincrby(managerKeys(domain).usage, 'messagesRelayed', 42);
      await store.revokeDevice(domain, one.id, T0);
      expect(await store.usage(domain)).toEqual({
        domain,
        members: 3,
        devices: 2,
        // one is still in the presence hash, but revoked: not counted.
        devicesOnline: 1,
        messagesRelayed: 42,
        queuedMessages: 4,
        queuedBytes: 60,
      });
    });

    it('accepts a refresh nonce once', async () => {
      const domain = freshDomain();
      expect(await store.useNonce(domain, 'd-1', 'abcdefghijklmnop', 60)).toBe(true);
      expect(await store.useNonce(domain, 'd-1', 'abcdefghijklmnop', 60)).toBe(false);
      expect(await store.useNonce(domain, 'd-2', 'abcdefghijklmnop', 60)).toBe(true);
    });
  });

  describe('workspaces', () => {
    it('keeps the relay directory in step with every change', async () => {
      const domain = freshDomain();
      await store.importMembers(domain, rows('w', 0, 4), { allOrNothing: true }, T0);
      const cache = new DirectoryCache(redis, subscriber);
      expect((await cache.get(domain)).membersOfWorkspace('ops')).toBeUndefined();
      const unknown = store.createWorkspace(
        domain,
        { id: 'ops', name: 'Ops', members: ['w0000', 'ghost', 'nobody'] },
        T0,
      );
      await expect(unknown).rejects.toMatchObject({
        code: 'NOT_FOUND',
        details: { members: ['ghost', 'nobody'] },
      });
      const created = await store.createWorkspace(
        domain,
        { id: 'ops', name: 'Ops', members: ['w0002', 'w0000', 'w0002'] },
        T0,
      );
      expect(created).toEqual({
        id: 'ops',
        domain,
        name: 'Ops',
        members: ['w0000', 'w0002'],
        createdAt: T0.toISOString(),
        updatedAt: T0.toISOString(),
      });
      expect(
        await code(store.createWorkspace(domain, { id: 'ops', name: 'x', members: [] }, T0)),
      ).toBe('ALREADY_EXISTS');
      await waitFor(
        async () => (await cache.get(domain)).membersOfWorkspace('ops')?.length === 2,
        'the directory cache to see the workspace',
        2000,
      );
      const added = await store.addWorkspaceMembers(domain, 'ops', ['w0003', 'w0001'], later(1));
      expect(added.members).toEqual(['w0000', 'w0001', 'w0002', 'w0003']);
      expect(await code(store.addWorkspaceMembers(domain, 'ops', ['ghost'], later(1)))).toBe(
        'NOT_FOUND',
      );
      const removed = await store.removeWorkspaceMember(domain, 'ops', 'w0002', later(2));
      expect(removed.members).toEqual(['w0000', 'w0001', 'w0003']);
      expect(await code(store.removeWorkspaceMember(domain, 'ops', 'w0002', later(2)))).toBe(
        'NOT_FOUND',
      );
      await waitFor(
        async () =>
          JSON.stringify((await cache.get(domain)).membersOfWorkspace('ops')) ===
          '["w0000","w0001","w0003"]',
        'the directory cache to follow',
        2000,
      );
      const renamed = await store.renameWorkspace(domain, 'ops', 'Operations', later(3));
      expect(renamed).toMatchObject({ name: 'Operations', members: ['w0000', 'w0001', 'w0003'] });
      expect(renamed.updatedAt).toBe(later(3).toISOString());
      await store.createWorkspace(domain, { id: 'empty', name: 'Empty', members: [] }, T0);
      expect(await redis.hget(directoryKeys(domain).workspaces, 'empty')).toBe('[]');
      expect((await store.listWorkspaces(domain)).map((w) => w.id)).toEqual(['empty', 'ops']);
      await store.deleteWorkspace(domain, 'ops');
      expect(await store.getWorkspace(domain, 'ops')).toBeUndefined();
      expect(await redis.hget(directoryKeys(domain).workspaces, 'ops')).toBeNull();
      expect(await code(store.deleteWorkspace(domain, 'ops'))).toBe('NOT_FOUND');
      expect(await code(store.renameWorkspace(domain, 'ops', 'x', T0))).toBe('NOT_FOUND');
    });
  });

  describe('admin tokens', () => {
    it('creates hashed tokens with unique names, authenticates and revokes them', async () => {
      const name = `ops-${freshDomain()}`;
      const { token, info } = await store.createAdminToken(
        { name, role: 'domain-admin', domains: ['acme'] },
        T0,
      );
      expect(token).toMatch(/^gat_[A-Za-z0-9_-]{43}$/);
      expect(await store.authenticateAdmin(token)).toEqual(info);
      expect(await store.authenticateAdmin(`${token}x`)).toBeUndefined();
      expect(JSON.stringify(await redis.hgetall(globalKeys.adminTokens))).not.toContain(token);
      expect(await code(store.createAdminToken({ name, role: 'auditor', domains: [] }, T0))).toBe(
        'ALREADY_EXISTS',
      );
      expect((await store.listAdminTokens()).map((t) => t.name)).toContain(name);
      await store.revokeAdminToken(name, T0);
      expect(await store.authenticateAdmin(token)).toBeUndefined();
      expect(await code(store.revokeAdminToken(name, T0))).toBe('NOT_FOUND');
    });

    it('makes the bootstrap token idempotently, replacing an older one', async () => {
      const first = `gat_${randomBytes(32).toString('base64url')}`;
      const second = `gat_${randomBytes(32).toString('base64url')}`;
      expect(await store.ensureBootstrapToken(first, T0)).toBe('created');
      expect(await store.ensureBootstrapToken(first, later(10))).toBe('kept');
      expect(await store.authenticateAdmin(first)).toEqual({
        name: 'bootstrap',
        role: 'server-admin',
        domains: [],
        createdAt: T0.toISOString(),
      });
      expect(await store.ensureBootstrapToken(second, later(20))).toBe('replaced');
      expect(await store.authenticateAdmin(first)).toBeUndefined();
      expect((await store.authenticateAdmin(second))?.name).toBe('bootstrap');
      expect((await store.listAdminTokens()).filter((t) => t.name === 'bootstrap')).toHaveLength(1);
      // The replaced token never comes back, and the current one is kept meanwhile.
      expect(await store.ensureBootstrapToken(first, later(30))).toBe('revoked');
      expect(await store.authenticateAdmin(first)).toBeUndefined();
      expect((await store.authenticateAdmin(second))?.name).toBe('bootstrap');
    });

    it('never stores a revoked bootstrap token again', async () => {
      const boot = `gat_${randomBytes(32).toString('base64url')}`;
      await store.ensureBootstrapToken(boot, T0);
      await store.revokeAdminToken('bootstrap', later(5));
      expect(await store.ensureBootstrapToken(boot, later(10))).toBe('revoked');
      expect(await store.authenticateAdmin(boot)).toBeUndefined();
      expect((await store.listAdminTokens()).map((t) => t.name)).not.toContain('bootstrap');
      // A new value is a new token.
      const next = `gat_${randomBytes(32).toString('base64url')}`;
      expect(await store.ensureBootstrapToken(next, later(20))).toBe('created');
      expect((await store.authenticateAdmin(next))?.name).toBe('bootstrap');
    });
  });

  describe('audit log', () => {
    it('merges domain and global streams newest first, filters and pages without loss', async () => {
      const a = freshDomain();
      const b = freshDomain();
      const base = Date.now();
      const at = (ms: number) => new Date(base + ms).toISOString();
      const appended: AuditEntry[] = [];
      // Several entries share one millisecond across streams (equal stream ids).
      const plan: [string | undefined, number, string, string][] = [
        [a, 0, 'root', 'member.create'],
        [b, 0, 'root', 'member.create'],
        [undefined, 0, 'root', 'token.create'],
        [a, 1, 'ops', 'code.issue'],
        [b, 1, 'ops', 'code.issue'],
        [a, 2, 'device:d-1', 'device.enroll'],
        [b, 3, 'root', 'device.revoke'],
        [a, 3, 'root', 'device.revoke'],
        [undefined, 4, 'anonymous', 'login.failed'],
        [a, 5, 'ops', 'workspace.create'],
      ];
      for (const [domain, ms, actor, action] of plan) {
        appended.push(
          await store.appendAudit({
            time: at(ms),
            actor,
            action,
            outcome: 'success',
            ...(domain === undefined ? {} : { domain, target: 'member:x' }),
            details: { ms },
          }),
        );
      }
      const ours = new Set(appended.map((e) => JSON.stringify([e.id, e.domain, e.action])));
      const key = (e: AuditEntry) => JSON.stringify([e.id, e.domain, e.action]);
      const readAll = async (query: Parameters<RedisManagerStore['queryAudit']>[0]) => {
        const out: AuditEntry[] = [];
        let cursor: string | undefined;
        for (let i = 0; i < 50; i++) {
          const page = await store.queryAudit({
            ...query,
            ...(cursor === undefined ? {} : { cursor }),
          });
          out.push(...page.items);
          cursor = page.next;
          if (cursor === undefined) break;
        }
        return out;
      };
      const restricted = await readAll({ domains: [a, b], limit: 2 });
      expect(restricted).toHaveLength(8);
      expect(new Set(restricted.map(key)).size).toBe(8);
      const times = restricted.map((e) => e.time);
      expect([...times].sort().reverse()).toEqual(times);
      expect(restricted.every((e) => ours.has(key(e)))).toBe(true);

      const everything = await readAll({ limit: 3, since: new Date(base) });
      expect(everything.map(key).sort()).toEqual([...ours].sort());
      expect(everything[0]?.action).toBe('workspace.create');
      expect(everything.at(-1)?.time).toBe(at(0));

      expect((await readAll({ domains: [a], actor: 'root' })).map((e) => e.action)).toEqual([
        'device.revoke',
        'member.create',
      ]);
      expect(
        (await readAll({ action: 'login.failed', since: new Date(base) })).map((e) => e.actor),
      ).toEqual(['anonymous']);
      const window = await readAll({
        domains: [a, b],
        since: new Date(base + 1),
        until: new Date(base + 3),
      });
      expect(window.map((e) => e.time)).toEqual([at(3), at(3), at(2), at(1), at(1)]);
      expect(window[0]).toMatchObject({ details: { ms: 3 }, outcome: 'success' });
      await expect(store.queryAudit({ cursor: 'garbage' })).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
      });
    });

    it("takes an entry whose time is older than the stream's last one", async () => {
      const domain = freshDomain();
      await store.appendAudit({
        time: T0.toISOString(),
        actor: 'root',
        action: 'member.create',
        domain,
        outcome: 'success',
      });
      // A later entry with an earlier time still lands (Redis picks the id).
      const earlier = await store.appendAudit({
        time: new Date(T0.getTime() - 60_000).toISOString(),
        actor: 'root',
        action: 'member.delete',
        domain,
        outcome: 'failure',
      });
      expect(earlier.id).toMatch(/^\d+-\d+$/);
      // Failures are kept in a stream of their own, capped apart from the successes.
      expect(await redis.xlen(managerKeys(domain).audit)).toBe(1);
      expect(await redis.xlen(managerKeys(domain).auditFailures)).toBe(1);
      const page = await store.queryAudit({ domains: [domain] });
      expect(page.items.map((e) => e.outcome)).toEqual(['success', 'failure']);
    });
  });
});
