import type { GroveClient } from '../../client/sdk/grove-client.js';
import type { RelayProcess } from '../../test/support/relay-process.js';
import { deviceRef, GroveStack } from '../lib/grove-stack.js';
import {
  CpuMeter,
  monotonicUs,
  now,
  OneInFlight,
  runLanes,
  perUnit,
  prng,
  round,
  rssBytes,
  sleep,
  summarize,
  until,
  withTimeout,
} from '../lib/util.js';
import type { BenchParams } from './params.js';

/** Prefixes of the benchmark's identities (each owns one device, `<prefix><i>d`). */
export const PREFIX = {
  receiver: 'r',
  sender: 's',
  member: 'w',
  backlog: 'b',
  idle: 'i',
} as const;

export const WORKSPACE = 'team';

/** The directory the benchmark seeds: every identity and device any workload uses. */
export function groveSeed(params: BenchParams) {
  const identities: { id: string; devices: string[] }[] = [];
  const add = (prefix: string, count: number) => {
    for (let i = 0; i < count; i++) {
      const ref = deviceRef(prefix, i);
      identities.push({ id: ref.identity, devices: [ref.device] });
    }
  };
  const senders = Math.max(params.oneToOne.senders, params.fanOut.senders, params.backlog.senders);
  add(PREFIX.receiver, params.oneToOne.devices);
  add(PREFIX.sender, senders);
  add(PREFIX.member, params.fanOut.members);
  add(PREFIX.backlog, 1);
  add(PREFIX.idle, params.idle.warmup + params.idle.connections);
  const members = Array.from(
    { length: params.fanOut.members },
    (_, i) => deviceRef(PREFIX.member, i).identity,
  );
  return { identities, workspaces: [{ id: WORKSPACE, members }] };
}

interface RedisSnapshot {
  stats: Map<string, { calls: number; usec: number }>;
  aofBytes: number;
  aofRewrites: number;
}

async function redisSnapshot(stack: GroveStack): Promise<RedisSnapshot> {
  const info = await stack.redisInfo();
  return {
    stats: await stack.commandStats(),
    aofBytes: info.aofBytes,
    aofRewrites: info.aofRewrites,
  };
}

/**
 * Redis work per message during a phase: commands (INFO commandstats deltas; commands run
 * inside Lua scripts count too), Redis-side µs by command, and bytes appended to the AOF
 * (null when Redis rewrote the AOF meanwhile: its size then says nothing).
 */
async function redisPer(stack: GroveStack, before: RedisSnapshot, count: number) {
  const after = await redisSnapshot(stack);
  const calls: Record<string, number> = {};
  const usec: Record<string, number> = {};
  for (const [name, value] of after.stats) {
    const delta = value.calls - (before.stats.get(name)?.calls ?? 0);
    if (delta <= 0 || name === 'info' || name === 'config') continue;
    calls[name] = round(delta / count, 3);
    usec[name] = round((value.usec - (before.stats.get(name)?.usec ?? 0)) / count, 2);
  }
  const rewrites = after.aofRewrites - before.aofRewrites;
  return {
    calls,
    usec,
    aofBytes: rewrites === 0 ? round((after.aofBytes - before.aofBytes) / count, 0) : null,
    aofRewrites: rewrites,
  };
}

function cpuMeter(stack: GroveStack, relays: RelayProcess[] = stack.relays): CpuMeter {
  return new CpuMeter({
    relays: relays.map((relay) => GroveStack.relayPid(relay)),
    redis: [stack.redisPid],
  });
}

const ids = (run: string, i: number) => `${run}-${i}`;
const indexOf = (id: string) => Number(id.slice(id.lastIndexOf('-') + 1));

/**
 * Workload 1: 1:1 messages to random online devices, as fast as the acks allow; then a
 * low-load phase (one send in flight) and a one-message-in-flight phase (each send also
 * waits for the previous delivery) for the latency of the path itself.
 */
export async function groveOneToOne(stack: GroveStack, params: BenchParams, run: string) {
  const p = params.oneToOne;
  const timeout = params.phaseTimeoutMs;
  const oneFrom = p.messages + p.lowLoadMessages;
  const total = oneFrom + p.lowLoadMessages;
  const startedAt = new Float64Array(total);
  const latency = new Float64Array(total).fill(NaN);
  const oneInFlight = new OneInFlight();
  let delivered = 0;
  let lowDelivered = 0;
  let oneDelivered = 0;
  let duplicates = 0;
  let lastDelivery = 0;
  const receivers = Array.from({ length: p.devices }, (_, i) => deviceRef(PREFIX.receiver, i));
  const connectStart = now();
  const devices = await withTimeout(
    stack.connect(receivers, {
      onMessage: (_device, message) => {
        const i = indexOf(message.id);
        if (!Number.isNaN(latency[i] ?? NaN)) {
          duplicates++;
          return;
        }
        const at = now();
        latency[i] = at - (startedAt[i] ?? 0);
        if (i < p.messages) {
          lastDelivery = at;
          delivered++;
        } else if (i < oneFrom) lowDelivered++;
        else {
          oneDelivered++;
          oneInFlight.delivered(i);
        }
      },
    }),
    timeout,
    'receivers connect',
  );
  const connectMs = now() - connectStart;
  const senders = await stack.connect(
    Array.from({ length: p.senders }, (_, i) => deviceRef(PREFIX.sender, i)),
  );
  const payload = Buffer.alloc(p.payloadBytes, 0x61);
  const random = prng(1);
  const targets = Array.from({ length: total }, () => Math.floor(random() * p.devices));
  const send = (client: GroveClient, i: number) =>
    client.send([`device:${deviceRef(PREFIX.receiver, targets[i] ?? 0).device}`], payload, {
      id: ids(run, i),
    });
  const stats = await redisSnapshot(stack);
  const meter = cpuMeter(stack);
  meter.start();
  const window = [monotonicUs(), 0];
  const t0 = now();
  await withTimeout(runLanes(senders, p.lanes, p.messages, send, startedAt), timeout, 'sends');
  const sendsAcked = now();
  const complete = await until(() => delivered >= p.messages, timeout, 'deliveries').then(
    () => true,
    () => false,
  );
  const cpu = meter.stop();
  window[1] = monotonicUs();
  const redis = await redisPer(stack, stats, p.messages);
  const elapsed = lastDelivery - t0;
  // Low load: one lane, so each message is alone on the path.
  const lowSenders = senders.slice(0, 1);
  await withTimeout(
    runLanes(lowSenders, 1, p.lowLoadMessages, send, startedAt, p.messages),
    timeout,
    'low-load sends',
  );
  await until(() => lowDelivered >= p.lowLoadMessages, timeout, 'low-load deliveries').catch(
    () => undefined,
  );
  const [oneSender] = senders;
  if (oneSender === undefined) throw new Error('no sender');
  await withTimeout(
    oneInFlight.run(oneSender, oneFrom, p.lowLoadMessages, send, startedAt),
    timeout,
    'one-in-flight sends',
  );
  await GroveStack.closeAll([...devices, ...senders]);
  return {
    devices: p.devices,
    relays: stack.relays.length,
    messages: p.messages,
    senders: p.senders,
    concurrentSends: p.senders * p.lanes,
    payloadBytes: p.payloadBytes,
    delivered,
    duplicates,
    complete,
    connectDevicesPerSec: round((p.devices / connectMs) * 1000, 0),
    elapsedMs: round(elapsed, 0),
    messagesPerSec: round((delivered / elapsed) * 1000, 0),
    sendAcksPerSec: round((p.messages / (sendsAcked - t0)) * 1000, 0),
    latency: summarize(latency.subarray(0, p.messages)),
    cpuMsPerMessage: perUnit(cpu, delivered),
    redisPerMessage: redis,
    lowLoad: {
      messages: p.lowLoadMessages,
      delivered: lowDelivered,
      latency: summarize(latency.subarray(p.messages, oneFrom)),
    },
    oneInFlight: {
      messages: p.lowLoadMessages,
      delivered: oneDelivered,
      latency: summarize(latency.subarray(oneFrom)),
    },
    monotonicWindowUs: window,
  };
}

/** Workload 2: sends to a 100-member workspace, every member's device online. */
export async function groveFanOut(stack: GroveStack, params: BenchParams, run: string) {
  const p = params.fanOut;
  const timeout = params.phaseTimeoutMs;
  const startedAt = new Float64Array(p.messages);
  const counts = new Uint16Array(p.messages);
  const latency = new Float64Array(p.messages).fill(NaN);
  let deliveries = 0;
  let lastDelivery = 0;
  const members = await withTimeout(
    stack.connect(
      Array.from({ length: p.members }, (_, i) => deviceRef(PREFIX.member, i)),
      {
        onMessage: (_device, message) => {
          const i = indexOf(message.id);
          deliveries++;
          lastDelivery = now();
          const count = (counts[i] = (counts[i] ?? 0) + 1);
          if (count === p.members) latency[i] = lastDelivery - (startedAt[i] ?? 0);
        },
      },
    ),
    timeout,
    'members connect',
  );
  // Senders are not members: every send reaches all 100 member devices.
  const senders = await stack.connect(
    Array.from({ length: p.senders }, (_, i) => deviceRef(PREFIX.sender, i)),
  );
  const payload = Buffer.alloc(p.payloadBytes, 0x62);
  let recipients = 0;
  const stats = await redisSnapshot(stack);
  const meter = cpuMeter(stack);
  meter.start();
  const window = [monotonicUs(), 0];
  const t0 = now();
  await withTimeout(
    runLanes(
      senders,
      p.lanes,
      p.messages,
      async (client, i) => {
        const receipt = await client.send([`workspace:${WORKSPACE}`], payload, { id: ids(run, i) });
        recipients = receipt.recipients;
      },
      startedAt,
    ),
    timeout,
    'sends',
  );
  const sendsAcked = now();
  const expected = p.messages * p.members;
  const complete = await until(() => deliveries >= expected, timeout, 'deliveries').then(
    () => true,
    () => false,
  );
  const cpu = meter.stop();
  window[1] = monotonicUs();
  const redis = await redisPer(stack, stats, deliveries);
  const elapsed = lastDelivery - t0;
  await GroveStack.closeAll([...members, ...senders]);
  return {
    members: p.members,
    recipientsPerSend: recipients,
    messages: p.messages,
    concurrentSends: p.senders * p.lanes,
    payloadBytes: p.payloadBytes,
    deliveries,
    complete,
    elapsedMs: round(elapsed, 0),
    sendsPerSec: round((p.messages / elapsed) * 1000, 0),
    deliveriesPerSec: round((deliveries / elapsed) * 1000, 0),
    sendAcksPerSec: round((p.messages / (sendsAcked - t0)) * 1000, 0),
    latencyToLastRecipient: summarize(latency),
    cpuMsPerDelivery: perUnit(cpu, deliveries),
    redisPerDelivery: redis,
    monotonicWindowUs: window,
  };
}

/** Workload 3: a backlog queued for one offline device, drained after it reconnects. */
export async function groveBacklog(stack: GroveStack, params: BenchParams, run: string) {
  const p = params.backlog;
  const timeout = params.phaseTimeoutMs;
  const ref = deviceRef(PREFIX.backlog, 0);
  // Connect once and leave: the device is known and now offline (as an MQTT session is).
  await GroveStack.closeAll(await stack.connect([ref]));
  const redisBefore = await stack.redisInfo();
  const senders = await stack.connect(
    Array.from({ length: p.senders }, (_, i) => deviceRef(PREFIX.sender, i)),
  );
  const payload = Buffer.alloc(p.payloadBytes, 0x63);
  const startedAt = new Float64Array(p.messages);
  const fillStats = await redisSnapshot(stack);
  const fillMeter = cpuMeter(stack);
  fillMeter.start();
  const fillWindow = [monotonicUs(), 0];
  const fillStart = now();
  await withTimeout(
    runLanes(
      senders,
      p.lanes,
      p.messages,
      (client, i) => client.send([`device:${ref.device}`], payload, { id: ids(run, i) }),
      startedAt,
    ),
    timeout * 2,
    'backlog fill',
  );
  const fillMs = now() - fillStart;
  const fillCpu = fillMeter.stop();
  fillWindow[1] = monotonicUs();
  const fillRedis = await redisPer(stack, fillStats, p.messages);
  await GroveStack.closeAll(senders);
  const redisAfter = await stack.redisInfo();
  await sleep(500);
  let received = 0;
  let duplicates = 0;
  const seen = new Uint8Array(p.messages);
  const stats = await redisSnapshot(stack);
  const meter = cpuMeter(stack);
  meter.start();
  const window = [monotonicUs(), 0];
  const t0 = now();
  const [device] = await stack.connect([ref], {
    onMessage: (_device, message) => {
      const i = indexOf(message.id);
      if (seen[i] === 1) duplicates++;
      else {
        seen[i] = 1;
        received++;
      }
    },
  });
  const complete = await until(() => received >= p.messages, timeout, 'backlog drain').then(
    () => true,
    () => false,
  );
  const drainMs = now() - t0;
  const cpu = meter.stop();
  window[1] = monotonicUs();
  const redis = await redisPer(stack, stats, Math.max(received, 1));
  if (device !== undefined) await GroveStack.closeAll([device]);
  return {
    messages: p.messages,
    payloadBytes: p.payloadBytes,
    fill: {
      concurrentSends: p.senders * p.lanes,
      ms: round(fillMs, 0),
      messagesPerSec: round((p.messages / fillMs) * 1000, 0),
      cpuMsPerMessage: perUnit(fillCpu, p.messages),
      redisBytesPerQueuedMessage: round(
        (redisAfter.usedMemory - redisBefore.usedMemory) / p.messages,
        0,
      ),
      redisPerMessage: fillRedis,
      monotonicWindowUs: fillWindow,
    },
    received,
    duplicates,
    complete,
    drainMs: round(drainMs, 0),
    drainMessagesPerSec: round((received / drainMs) * 1000, 0),
    cpuMsPerMessage: perUnit(cpu, Math.max(received, 1)),
    redisPerMessage: redis,
    monotonicWindowUs: window,
  };
}

async function relayHeapUsed(relay: RelayProcess): Promise<number> {
  return relay.metric('nodejs_heap_size_used_bytes');
}

/** Workload 4: memory per idle authenticated connection, on a relay of its own. */
export async function groveIdleMemory(stack: GroveStack, params: BenchParams) {
  const p = params.idle;
  const timeout = params.phaseTimeoutMs;
  const relay = await stack.addRelay();
  const pid = GroveStack.relayPid(relay);
  const refs = Array.from({ length: p.warmup + p.connections }, (_, i) =>
    deviceRef(PREFIX.idle, i),
  );
  // Warm up: the first connections pay for JIT, the directory cache and buffers.
  const warm = await withTimeout(
    stack.connect(refs.slice(0, p.warmup), { relays: [relay] }),
    timeout,
    'warm-up',
  );
  await sleep(2000);
  const before = {
    rss: rssBytes(pid),
    heapUsed: await relayHeapUsed(relay),
    redis: (await stack.redisInfo()).usedMemory,
  };
  const cpu = new CpuMeter({ relay: [pid], redis: [stack.redisPid] });
  cpu.start();
  const t0 = now();
  const idle = await withTimeout(
    stack.connect(refs.slice(p.warmup), { relays: [relay], concurrency: 100 }),
    timeout,
    'idle connections',
  );
  const connectMs = now() - t0;
  // CPU per connect: steadier than the rate on a shared machine.
  const connectCpu = cpu.stop();
  await sleep(3000);
  const after = {
    rss: rssBytes(pid),
    heapUsed: await relayHeapUsed(relay),
    redis: (await stack.redisInfo()).usedMemory,
  };
  await GroveStack.closeAll([...warm, ...idle]);
  return {
    connections: p.connections,
    warmupConnections: p.warmup,
    connectsPerSec: round((p.connections / connectMs) * 1000, 0),
    connectCpuMsPerConnection: perUnit(connectCpu, p.connections),
    relayRssBefore: before.rss,
    relayRssAfter: after.rss,
    relayRssBytesPerConnection: round((after.rss - before.rss) / p.connections, 0),
    relayHeapUsedBytesPerConnection: round((after.heapUsed - before.heapUsed) / p.connections, 0),
    redisBytesPerConnection: round((after.redis - before.redis) / p.connections, 0),
  };
}
