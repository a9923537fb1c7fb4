import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Cluster } from 'ioredis';
import { withRedisKinds } from '../../test/support/redis-kinds.js';
import { waitFor } from '../../test/support/ports.js';
import { decodeDeviceChannelMessage } from '../wire/device-channel.js';
import { decodeDirectoryMessage } from '../wire/directory-channel.js';
import { decodePresenceEvent, decodePresenceValue } from '../wire/presence.js';
import { decodeQueueEntry, encodeQueuedMessage } from '../wire/queue-entry.js';
import { connectRedis, type RedisClient } from './connection.js';
import {
  ackBatchScript,
  ackScript,
  claimScript,
  enqueueBatchScript,
  enqueueScript,
  fetchScript,
  ledgerApplyScript,
  payloadReleaseScript,
  payloadStoreScript,
  type ClaimMode,
  type EnqueuedMessage,
  type LedgerEntry,
} from './device-queue-scripts.js';
import { deviceKeys, directoryKeys, identityKeys, managerKeys, payloadKeys } from './keys.js';
import { keySlot } from './replica-acks.js';
import { createMembersScript, revokeDeviceScript } from './manager-scripts.js';
import { presenceOfflineScript, presenceOnlineScript } from './presence-scripts.js';
import { runScript } from './script-runner.js';

// The one script runner on a single Redis and on a cluster, and the formats the scripts
// write, read back by their decoders in contracts/wire.

function masters(redis: RedisClient) {
  return redis instanceof Cluster ? redis.nodes('master') : [redis];
}

const message = (overrides: Partial<EnqueuedMessage> = {}): EnqueuedMessage => ({
  now: 1_000,
  dedupMember: 'a1|m1',
  dedupUntil: 100_000,
  dedupWindowMs: 99_000,
  expiresAt: 90_000,
  stored: encodeQueuedMessage({ body: '{"createdAt":1000,"id":"m1"}' }),
  bytes: 3,
  payloadBytes: 0,
  maxCount: 100,
  maxBytes: 1_000_000,
  sender: '',
  shareCount: -1,
  shareBytes: -1,
  rejectNew: false,
  domainMax: -1,
  keyTtlMs: 3_600_000,
  idsTtlMs: 3_600_000,
  newEpoch: 'e1',
  ...overrides,
});

describe.each(withRedisKinds())('Lua scripts on %s', (_name, target) => {
  let redis: RedisClient;
  let subscriber: RedisClient;
  const published: { channel: string; message: string }[] = [];
  beforeAll(async () => {
    redis = connectRedis(target(), 'commands');
    subscriber = connectRedis(target(), 'subscriber');
    subscriber.on('smessage', (channel: string, text: string) => {
      published.push({ channel, message: text });
    });
    // One at a time: on a cluster the channels of one SSUBSCRIBE must share a slot.
    for (const channel of [
      deviceKeys('acme', 'b1').channel,
      identityKeys('acme', 'bob').channel,
      directoryKeys('acme').channel,
    ]) {
      await subscriber.ssubscribe(channel);
    }
  });
  afterAll(() => {
    redis.disconnect();
    subscriber.disconnect();
  });

  const nextMessage = async (channel: string): Promise<string> => {
    await waitFor(() => published.some((entry) => entry.channel === channel), channel, 2000);
    const index = published.findIndex((entry) => entry.channel === channel);
    return published.splice(index, 1)[0]?.message ?? '';
  };

  it('runs a script by EVAL first, then by its SHA-1, and again after Redis lost it', async () => {
    const input = { domain: 'acme', device: 'nobody', fromSeq: 1, maxCount: 10, maxBytes: 10 };
    const known = async () =>
      (
        await Promise.all(masters(redis).map((node) => node.script('EXISTS', fetchScript.sha)))
      ).flat();
    expect(await runScript(redis, fetchScript, input)).toBeUndefined();
    expect(await known()).toContain(1);
    expect(await runScript(redis, fetchScript, input)).toBeUndefined();
    // As after a Redis restart: EVALSHA meets NOSCRIPT, and EVAL loads it again.
    await Promise.all(masters(redis).map((node) => node.script('FLUSH')));
    expect(await known()).not.toContain(1);
    expect(await runScript(redis, fetchScript, input)).toBeUndefined();
    expect(await known()).toContain(1);
  });

  it('sends a call made with `now` at once, ahead of the auto-pipelined commands of its turn', async () => {
    const input = { domain: 'acme', device: 'n1', fromSeq: 1, maxCount: 10, maxBytes: 10_000 };
    // Known to Redis (to the node of n1's slot, on a cluster): every call below goes by EVALSHA.
    await runScript(redis, fetchScript, input);
    const enqueue = {
      domain: 'acme',
      devices: ['n1'],
      message: message({ dedupMember: 'a1|n1' }),
      ledger: !target().cluster,
    };
    await runScript(redis, enqueueScript, { ...enqueue, devices: [sameSlot('acme', 'n1')] });
    const queued = runScript(redis, enqueueScript, enqueue);
    const early = runScript(redis, fetchScript, input, { now: true });
    const late = runScript(redis, fetchScript, input);
    // The fetch made with `now` ran before the enqueue made before it; the other one after.
    expect(await early).toBeUndefined();
    expect((await queued).results.map((r) => r.status)).toEqual(['queued']);
    expect((await late)?.entries).toHaveLength(1);
    expect((await runScript(redis, fetchScript, input, { now: true }))?.entries).toHaveLength(1);
  });

  it('passes more arguments than a spread call could', async () => {
    const members = Array.from({ length: 60_000 }, (_, i) => ({
      id: `m${String(i).padStart(5, '0')}`,
      record: '{}',
      displayName: `Member ${i}`,
    }));
    const [status, ...created] = await runScript(redis, createMembersScript, {
      domain: 'big',
      mode: 'all',
      members,
    });
    expect(status).toBe('OK');
    expect(created).toHaveLength(members.length);
    expect(await redis.hlen(managerKeys('big').members)).toBe(members.length);
  });

  it('writes queue entries and wake-ups that the wire decoders read back', async () => {
    const keys = deviceKeys('acme', 'b1');
    const body = '{"createdAt":1000,"id":"m1","from":{"identity":"alice","device":"a1"}}';
    const stored = encodeQueuedMessage({ body, payloadRef: 'g:{p:acme:a1:m1}' });
    const {
      results: [result],
    } = await runScript(redis, enqueueScript, {
      domain: 'acme',
      devices: ['b1'],
      message: message({ stored, bytes: 7 }),
      ledger: !target().cluster,
    });
    expect(result).toMatchObject({
      status: 'queued',
      seq: 1,
      receivers: 1,
      expired: 0,
      dropped: 0,
    });
    const [raw = ''] = await redis.lrange(keys.queue, 0, -1);
    const entry = { seq: 1, expiresAt: 90_000, bytes: 7, body, payloadRef: 'g:{p:acme:a1:m1}' };
    expect(decodeQueueEntry(raw)).toEqual(entry);
    expect(decodeDeviceChannelMessage(await nextMessage(keys.channel))).toEqual({
      kind: 'wake',
      seq: 1,
      epoch: 'e1',
      entry: raw,
    });
    const window = await runScript(redis, fetchScript, {
      domain: 'acme',
      device: 'b1',
      fromSeq: 1,
      maxCount: 10,
      maxBytes: 1000,
    });
    expect(window?.entries).toEqual([entry]);

    const claim = await runScript(redis, claimScript, {
      domain: 'acme',
      device: 'b1',
      connectionId: 'relay-0/abc',
      newEpoch: 'unused',
      claim: { mode: 'claim' },
    });
    expect(claim).toMatchObject({ epoch: 'e1', head: 1, next: 2, created: false });
    expect(decodeDeviceChannelMessage(await nextMessage(keys.channel))).toEqual({
      kind: 'claim',
      ordinal: claim.ordinal,
      connectionId: 'relay-0/abc',
    });
  });

  it('orders claims: each newer than the last, and a rejoin behind a newer claim is refused', async () => {
    const claim = (connectionId: string, mode: ClaimMode) =>
      runScript(redis, claimScript, {
        domain: 'acme',
        device: 'o1',
        connectionId,
        newEpoch: 'e',
        claim: mode,
      });
    const first = await claim('r/1', { mode: 'claim' });
    const second = await claim('r/2', { mode: 'claim' });
    // Above Redis's clock in µs, and above the last one.
    expect(first.ordinal).toBeGreaterThan(Date.now() * 1000 - 60e6);
    expect(second.ordinal).toBeGreaterThan(first.ordinal);
    expect(await claim('r/2', { mode: 'rejoin', ordinal: second.ordinal })).toMatchObject({
      ordinal: second.ordinal,
    });
    expect(await claim('r/1', { mode: 'rejoin', ordinal: first.ordinal })).toMatchObject({
      ordinal: -1,
      newer: second.ordinal,
    });
    // init (long-poll) only makes the metadata: it takes no ordinal and displaces nobody.
    expect(await claim('poll:p', { mode: 'init' })).toMatchObject({ ordinal: 0 });
    expect(await redis.hget(deviceKeys('acme', 'o1').meta, 'conn')).toBe('r/2');
  });

  it('keeps the first payload stored under an id and frees it with its last reference', async () => {
    const keys = payloadKeys('acme', 'a1', 'p1');
    const store = (data: string, references: number) =>
      runScript(redis, payloadStoreScript, {
        domain: 'acme',
        sender: 'a1',
        messageId: 'p1',
        data,
        references,
        ttlMs: 60_000,
        now: Date.now(),
        charge: 100,
        ledger: !target().cluster,
      });
    expect((await store('first', 2)).state).toBe(1);
    expect((await store('second', 2)).state).toBe(0);
    expect(await redis.get(keys.data)).toBe('first');
    expect(await redis.get(keys.refs)).toBe('4');
    const release = (references: number) =>
      runScript(redis, payloadReleaseScript, {
        ref: keys.data,
        references,
        now: Date.now(),
        ledger: !target().cluster,
      });
    expect((await release(3)).left).toBe(1);
    expect(await redis.exists(keys.data, keys.refs)).toBe(2);
    expect((await release(1)).left).toBe(0);
    expect(await redis.exists(keys.data, keys.refs)).toBe(0);
    // A payload an older relay stored, without a count: left alone.
    await redis.set(keys.data, 'old');
    expect((await store('new', 2)).state).toBe(-1);
    expect((await release(2)).left).toBe(-1);
    expect(await redis.get(keys.data)).toBe('old');
  });

  it('applies ledger entries by version: late and repeated ones change nothing', async () => {
    const domain = `ledger-${target().cluster ? 'c' : 's'}`;
    const apply = (entries: LedgerEntry[], now = 1000) =>
      runScript(redis, ledgerApplyScript, { domain, now, entries });
    expect(
      await apply([
        { member: 'd:x', version: 2, bytes: 100, deadline: 5000 },
        { member: 'd:y', version: 1, bytes: 50, deadline: 9000 },
      ]),
    ).toBe(150);
    expect(await apply([{ member: 'd:x', version: 1, bytes: 999, deadline: 5000 }])).toBe(150);
    expect(await apply([{ member: 'd:x', version: 2, bytes: 100, deadline: 5000 }])).toBe(150);
    expect(await apply([{ member: 'd:x', version: 3, bytes: 40, deadline: 5000 }])).toBe(90);
    // Past its deadline a member's keys expired in Redis: its bytes leave the total.
    expect(await apply([], 6000)).toBe(50);
    expect(await apply([{ member: 'd:y', version: 4, bytes: 0, deadline: 0 }], 6000)).toBe(0);
  });

  it('queues each device of one call and counts a retry as a duplicate', async () => {
    const devices = target().cluster ? ['c1'] : ['c1', 'c2', 'c3'];
    const first = await runScript(redis, enqueueScript, {
      domain: 'acme',
      devices,
      message: message({ dedupMember: 'a1|m2' }),
      ledger: !target().cluster,
    });
    expect(first.results.map((r) => [r.status, r.seq])).toEqual(devices.map(() => ['queued', 1]));
    const again = await runScript(redis, enqueueScript, {
      domain: 'acme',
      devices,
      message: message({ dedupMember: 'a1|m2' }),
      ledger: !target().cluster,
    });
    expect(again.results.map((r) => r.status)).toEqual(devices.map(() => 'duplicate'));
  });

  /** A device of `domain` whose keys share the slot of `device`'s (a cluster's batch is one slot). */
  const sameSlot = (domain: string, device: string): string => {
    const slot = keySlot(deviceKeys(domain, device).meta);
    for (let i = 0; ; i++) {
      const other = `${device}-${i}`;
      if (keySlot(deviceKeys(domain, other).meta) === slot) return other;
    }
  };

  it('runs a batch of enqueues in order, each with its own result; an item that fails leaves the others queued', async () => {
    const ledger = !target().cluster;
    const other = sameSlot('acme', 'g1');
    const broken = sameSlot('acme', other);
    // Metadata of the wrong type: Redis refuses the item's commands (WRONGTYPE).
    await redis.set(deviceKeys('acme', broken).meta, 'not a hash');
    const item = (device: string, id: string) => ({
      domain: 'acme',
      devices: [device],
      message: message({ dedupMember: `a1|${id}`, newEpoch: 'eg' }),
      ledger,
    });
    const outcomes = await runScript(redis, enqueueBatchScript, [
      item('g1', 'x1'),
      item(broken, 'x1'),
      item('g1', 'x2'),
      item('g1', 'x1'),
      item(other, 'x1'),
    ]);
    expect(outcomes.map((outcome) => outcome.ok)).toEqual([true, false, true, true, true]);
    const statuses = outcomes.map((outcome) =>
      outcome.ok ? outcome.value.results.map((r) => [r.status, r.seq]) : outcome.error.message,
    );
    expect(statuses[0]).toEqual([['queued', 1]]);
    expect(statuses[1]).toMatch(/WRONGTYPE/);
    // Later items see what earlier ones wrote, as separate calls would.
    expect(statuses[2]).toEqual([['queued', 2]]);
    expect(statuses[3]).toEqual([['duplicate', 0]]);
    expect(statuses[4]).toEqual([['queued', 1]]);
    expect(await redis.llen(deviceKeys('acme', 'g1').queue)).toBe(2);
    // A single call is a batch of one, its error thrown.
    const single = await runScript(redis, enqueueScript, item('g1', 'x3'));
    expect(single.results.map((r) => r.seq)).toEqual([3]);
    await expect(runScript(redis, enqueueScript, item(broken, 'x4'))).rejects.toThrow(/WRONGTYPE/);
  });

  it("keeps a domain's ledger across a batch: each item sees the items before it, the total is written once", async () => {
    if (target().cluster) return; // the ledger is in the scripts on a single Redis only
    const domain = 'ledgered';
    const item = (device: string, id: string, domainMax: number) => ({
      domain,
      devices: [device],
      message: message({ dedupMember: `a1|${id}`, newEpoch: 'el', bytes: 100, domainMax }),
      ledger: true,
    });
    const outcomes = await runScript(redis, enqueueBatchScript, [
      item('l1', 'z1', 10_000),
      item('l2', 'z2', 10_000),
      // Over the quota only with what the two before it stored.
      item('l3', 'z3', 300),
      item('l3', 'z4', 10_000),
    ]);
    const values = outcomes.map((outcome) => {
      if (!outcome.ok) throw outcome.error;
      return outcome.value;
    });
    expect(values.map((value) => value.results[0]?.status)).toEqual([
      'queued',
      'queued',
      'quota',
      'queued',
    ]);
    const totals = values.map((value) => value.total ?? 0);
    expect(totals[1]).toBeGreaterThan(totals[0] ?? 0);
    expect(totals[2]).toBe(totals[1]);
    expect(totals[3]).toBeGreaterThan(totals[2] ?? 0);
    expect(Number(await redis.hget(directoryKeys(domain).storage, 'total'))).toBe(totals[3]);

    const acks = await runScript(
      redis,
      ackBatchScript,
      ['l1', 'l2', 'l3'].map((device) => ({
        domain,
        device,
        upTo: 1,
        epoch: 'el',
        now: 1_000,
        ledger: true,
      })),
    );
    const after = acks.map((outcome) => (outcome.ok ? (outcome.value.total ?? 0) : -1));
    // Each ack frees its queue's entry (the de-duplication records stay charged).
    expect(after[0]).toBeLessThan(totals[3] ?? 0);
    expect(after[1]).toBeLessThan(after[0] ?? 0);
    expect(after[2]).toBeLessThan(after[1] ?? 0);
    expect(Number(await redis.hget(directoryKeys(domain).storage, 'total'))).toBe(after[2]);
  });

  it('expires a queue and its metadata while they hold entries, and an emptied queue by its de-duplication records only', async () => {
    const keys = deviceKeys('acme', 'x9');
    await subscriber.ssubscribe(keys.channel);
    const ttl = 3_600_000;
    const enqueue = (id: string) =>
      runScript(redis, enqueueScript, {
        domain: 'acme',
        devices: ['x9'],
        message: message({ dedupMember: `a1|${id}`, newEpoch: id === 'n1' ? 'ex' : 'unused' }),
        ledger: !target().cluster,
      });
    const fresh = (left: number) => left > ttl - 60_000 && left <= ttl;

    await enqueue('n1');
    expect(fresh(await redis.pttl(keys.meta))).toBe(true);
    expect(fresh(await redis.pttl(keys.queue))).toBe(true);
    await nextMessage(keys.channel);

    const acked = await runScript(redis, ackScript, {
      domain: 'acme',
      device: 'x9',
      upTo: 1,
      epoch: 'ex',
      now: 1_000,
      ledger: !target().cluster,
    });
    // Emptied: the metadata keeps its epoch for good, the list is gone, and what stays
    // charged (the de-duplication record) lasts as long as its key.
    expect(await redis.pttl(keys.meta)).toBe(-1);
    expect(await redis.exists(keys.queue)).toBe(0);
    const idsLeft = await redis.pttl(keys.ids);
    expect(acked.ledger?.bytes).toBeGreaterThan(0);
    expect(Math.abs((acked.ledger?.deadline ?? 0) - (1_000 + idsLeft))).toBeLessThan(60_000);

    // The next message into the emptied queue gives both keys their expiry again, and its
    // wake-up names the queue's own epoch.
    const [again] = (await enqueue('n2')).results;
    expect(again).toMatchObject({ status: 'queued', seq: 2 });
    expect(fresh(await redis.pttl(keys.meta))).toBe(true);
    expect(fresh(await redis.pttl(keys.queue))).toBe(true);
    expect(decodeDeviceChannelMessage(await nextMessage(keys.channel))).toMatchObject({
      kind: 'wake',
      seq: 2,
      epoch: 'ex',
    });
  });

  it('runs a batch of acks in order, each with its own result', async () => {
    const ledger = !target().cluster;
    const device = sameSlot('acme', 'k1');
    for (const id of ['y1', 'y2', 'y3']) {
      await runScript(redis, enqueueScript, {
        domain: 'acme',
        devices: [device],
        message: message({ dedupMember: `a1|${id}`, newEpoch: 'ek' }),
        ledger,
      });
    }
    const ack = (upTo: number, epoch: string) => ({
      domain: 'acme',
      device,
      upTo,
      epoch,
      now: 1_000,
      ledger,
    });
    const outcomes = await runScript(redis, ackBatchScript, [
      ack(1, 'ek'),
      ack(5, 'another epoch'),
      ack(2, 'ek'),
      ack(1, 'ek'),
    ]);
    expect(outcomes.map((outcome) => (outcome.ok ? outcome.value.head : 'error'))).toEqual([
      2,
      'stale',
      3,
      3,
    ]);
    expect(await redis.llen(deviceKeys('acme', device).queue)).toBe(1);
  });

  it("gives a sender's share back as acks remove its entries, all of it once the queue is empty", async () => {
    const ledger = !target().cluster;
    const device = 'share-1';
    const meta = deviceKeys('acme', device).meta;
    const send = (id: string) =>
      runScript(redis, enqueueScript, {
        domain: 'acme',
        devices: [device],
        message: message({
          dedupMember: `a1|${id}`,
          newEpoch: 'es',
          stored: encodeQueuedMessage({ body: '{"createdAt":1000}', sender: 'alice' }),
          sender: 'alice',
          shareCount: 2,
          shareBytes: 1_000,
        }),
        ledger,
      });
    const ack = (upTo: number) =>
      runScript(redis, ackScript, {
        domain: 'acme',
        device,
        upTo,
        epoch: 'es',
        now: 1_000,
        ledger,
      });
    const statuses = [];
    for (const id of ['s1', 's2', 's3']) statuses.push((await send(id)).results[0]?.status);
    expect(statuses).toEqual(['queued', 'queued', 'share']);
    expect(await redis.hget(meta, 's:alice')).toBe('2:6');

    await ack(1);
    expect(await redis.hget(meta, 's:alice')).toBe('1:3');
    await ack(2);
    expect(await redis.hget(meta, 's:alice')).toBeNull();
    expect((await send('s4')).results[0]?.status).toBe('queued');
    expect(await redis.hget(meta, 's:alice')).toBe('1:3');
  });

  it('writes presence values and events that the wire decoders read back', async () => {
    const handle = { domain: 'acme', identity: 'bob', device: 'b1', connectionId: 'relay-0/abc' };
    const keys = identityKeys('acme', 'bob');
    expect(await runScript(redis, presenceOnlineScript, { handle, status: 'idle' })).toBe(true);
    expect(decodePresenceValue((await redis.hget(keys.presence, 'b1')) ?? '')).toEqual({
      connectionId: 'relay-0/abc',
      status: 'idle',
    });
    expect(decodePresenceEvent(await nextMessage(keys.channel))).toEqual({
      identity: 'bob',
      device: 'b1',
      state: 'online',
      status: 'idle',
    });
    const other = { ...handle, connectionId: 'relay-1/def' };
    expect(await runScript(redis, presenceOfflineScript, other)).toBe(false);
    expect(await runScript(redis, presenceOfflineScript, handle)).toBe(true);
    expect(decodePresenceEvent(await nextMessage(keys.channel))).toEqual({
      identity: 'bob',
      device: 'b1',
      state: 'offline',
    });
  });

  it('announces a revocation that the directory decoder reads back', async () => {
    const keys = managerKeys('acme');
    await redis.hset(keys.devices, 'b9', '{"id":"b9"}');
    const [status] = await runScript(redis, revokeDeviceScript, {
      domain: 'acme',
      id: 'b9',
      now: '2026-01-01T00:00:00.000Z',
    });
    expect(status).toBe('OK');
    expect(decodeDirectoryMessage(await nextMessage(keys.directory.channel))).toEqual({
      kind: 'revoke',
      device: 'b9',
    });
  });
});
