/**
 * The workloads on the peers of equal durability: Centrifugo (Redis engine, history and
 * recovery) and NATS JetStream (file storage, a durable consumer per device, explicit acks).
 * Same counts, lanes and target sequence as the Grove and Mosquitto sides.
 */
import { Centrifuge, type Subscription } from 'centrifuge';
import {
  AckPolicy,
  connect as natsConnect,
  RetentionPolicy,
  StorageType,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type NatsConnection,
} from 'nats';
import { CentrifugoPeer, type NatsPeer } from '../lib/peers.js';
import {
  CpuMeter,
  indexedPayload,
  now,
  OneInFlight,
  runLanes,
  perUnit,
  prng,
  round,
  rssBytes,
  runPool,
  sleep,
  summarize,
  until,
  withTimeout,
} from '../lib/util.js';
import type { BenchParams } from './params.js';

/** Counts first deliveries and latencies of message indexes; repeats count as duplicates. */
class Deliveries {
  readonly latency: Float64Array;
  readonly oneInFlight = new OneInFlight();
  delivered = 0;
  lowDelivered = 0;
  oneDelivered = 0;
  duplicates = 0;
  last = 0;
  /** Indexes below `loaded` are the loaded phase, then the low-load phase up to `oneFrom`. */
  constructor(
    readonly startedAt: Float64Array,
    private readonly loaded: number,
    private readonly oneFrom = startedAt.length,
  ) {
    this.latency = new Float64Array(startedAt.length).fill(NaN);
  }

  record(index: number): void {
    if (!Number.isNaN(this.latency[index] ?? 0)) {
      this.duplicates++;
      return;
    }
    const at = now();
    this.latency[index] = at - (this.startedAt[index] ?? 0);
    if (index < this.loaded) {
      this.last = at;
      this.delivered++;
    } else if (index < this.oneFrom) this.lowDelivered++;
    else {
      this.oneDelivered++;
      this.oneInFlight.delivered(index);
    }
  }
}

function targetsOf(total: number, devices: number): number[] {
  const random = prng(1);
  return Array.from({ length: total }, () => Math.floor(random() * devices));
}

// ---------------------------------------------------------------------------------------
// Centrifugo

/** A JSON publication of about `bytes` bytes carrying its index (Centrifugo's JSON protocol). */
function jsonPayload(index: number, bytes: number): { i: number; p: string } {
  return { i: index, p: 'a'.repeat(Math.max(0, bytes - 16 - String(index).length)) };
}

interface CentrifugoClient {
  client: Centrifuge;
  subscription?: Subscription;
}

async function centrifugoClient(
  peer: CentrifugoPeer,
  user: string,
  channel?: string,
  onData?: (data: { i: number }) => void,
): Promise<CentrifugoClient> {
  const client = new Centrifuge(peer.url, {
    token: CentrifugoPeer.token(user),
    websocket: WebSocket,
    // No reconnect hides in a workload: a broken connection fails it (as on the MQTT side).
    maxReconnectDelay: 60_000,
    minReconnectDelay: 60_000,
  });
  const result: CentrifugoClient = { client };
  if (channel !== undefined) {
    const subscription = client.newSubscription(channel);
    if (onData !== undefined)
      subscription.on('publication', (ctx) => {
        onData(ctx.data as { i: number });
      });
    subscription.subscribe();
    result.subscription = subscription;
  }
  client.connect();
  try {
    await client.ready(15_000);
    await result.subscription?.ready(15_000);
  } catch (error) {
    client.disconnect();
    throw new Error(`${user}: ${JSON.stringify(error)}`);
  }
  return result;
}

async function centrifugoClients(
  peer: CentrifugoPeer,
  count: number,
  user: (i: number) => string,
  channel: (i: number) => string | undefined,
  onData?: (i: number, data: { i: number }) => void,
): Promise<CentrifugoClient[]> {
  const clients = new Array<CentrifugoClient>(count);
  await runPool(count, 50, async (i) => {
    clients[i] = await centrifugoClient(
      peer,
      user(i),
      channel(i),
      onData === undefined ? undefined : (data) => onData(i, data),
    );
  });
  return clients;
}

function centrifugoClose(clients: CentrifugoClient[]): void {
  for (const { client } of clients) client.disconnect();
}

function centrifugoMeter(peer: CentrifugoPeer): CpuMeter {
  return new CpuMeter({ centrifugo: [peer.pid], redis: [peer.redisPid] });
}

/** Workload 1 on Centrifugo: a channel per device, client-side publishes awaited. */
export async function centrifugoOneToOne(peer: CentrifugoPeer, params: BenchParams, run: string) {
  const p = params.oneToOne;
  const timeout = params.phaseTimeoutMs;
  const oneFrom = p.messages + p.lowLoadMessages;
  const total = oneFrom + p.lowLoadMessages;
  const startedAt = new Float64Array(total);
  const seen = new Deliveries(startedAt, p.messages, oneFrom);
  const channel = (i: number) => `bench:${run}-dev-${i}`;
  const connectStart = now();
  const devices = await withTimeout(
    centrifugoClients(
      peer,
      p.devices,
      (i) => `${run}-dev-${i}`,
      channel,
      (_i, data) => seen.record(data.i),
    ),
    timeout,
    'devices connect',
  );
  const connectMs = now() - connectStart;
  const senders = await centrifugoClients(
    peer,
    p.senders,
    (i) => `${run}-pub-${i}`,
    () => undefined,
  );
  const targets = targetsOf(total, p.devices);
  const publish = (sender: CentrifugoClient, i: number) =>
    sender.client.publish(channel(targets[i] ?? 0), jsonPayload(i, p.payloadBytes));
  const cpu = centrifugoMeter(peer);
  cpu.start();
  const t0 = now();
  await withTimeout(
    runLanes(senders, p.lanes, p.messages, publish, startedAt),
    timeout,
    'publishes',
  );
  const sendsAcked = now();
  const complete = await until(() => seen.delivered >= p.messages, timeout, 'deliveries').then(
    () => true,
    () => false,
  );
  const used = cpu.stop();
  const elapsed = seen.last - t0;
  await withTimeout(
    runLanes(senders.slice(0, 1), 1, p.lowLoadMessages, publish, startedAt, p.messages),
    timeout,
    'low-load publishes',
  );
  await until(() => seen.lowDelivered >= p.lowLoadMessages, timeout, 'low-load deliveries').catch(
    () => undefined,
  );
  const [oneSender] = senders;
  if (oneSender === undefined) throw new Error('no sender');
  await withTimeout(
    seen.oneInFlight.run(oneSender, oneFrom, p.lowLoadMessages, publish, startedAt),
    timeout,
    'one-in-flight publishes',
  );
  centrifugoClose([...devices, ...senders]);
  return {
    devices: p.devices,
    messages: p.messages,
    concurrentSends: p.senders * p.lanes,
    payloadBytes: p.payloadBytes,
    delivered: seen.delivered,
    duplicates: seen.duplicates,
    complete,
    connectDevicesPerSec: round((p.devices / connectMs) * 1000, 0),
    elapsedMs: round(elapsed, 0),
    messagesPerSec: round((seen.delivered / elapsed) * 1000, 0),
    sendAcksPerSec: round((p.messages / (sendsAcked - t0)) * 1000, 0),
    latency: summarize(seen.latency.subarray(0, p.messages)),
    cpuMsPerMessage: perUnit(used, seen.delivered),
    lowLoad: {
      messages: p.lowLoadMessages,
      delivered: seen.lowDelivered,
      latency: summarize(seen.latency.subarray(p.messages, oneFrom)),
    },
    oneInFlight: {
      messages: p.lowLoadMessages,
      delivered: seen.oneDelivered,
      latency: summarize(seen.latency.subarray(oneFrom)),
    },
  };
}

/** Workload 2 on Centrifugo: 100 subscribers of one channel. */
export async function centrifugoFanOut(peer: CentrifugoPeer, params: BenchParams, run: string) {
  const p = params.fanOut;
  const timeout = params.phaseTimeoutMs;
  const startedAt = new Float64Array(p.messages);
  const counts = new Uint16Array(p.messages);
  const latency = new Float64Array(p.messages).fill(NaN);
  let deliveries = 0;
  let lastDelivery = 0;
  const channel = `bench:${run}-team`;
  const members = await withTimeout(
    centrifugoClients(
      peer,
      p.members,
      (i) => `${run}-member-${i}`,
      () => channel,
      (_i, data) => {
        deliveries++;
        lastDelivery = now();
        const count = (counts[data.i] = (counts[data.i] ?? 0) + 1);
        if (count === p.members) latency[data.i] = lastDelivery - (startedAt[data.i] ?? 0);
      },
    ),
    timeout,
    'members connect',
  );
  const senders = await centrifugoClients(
    peer,
    p.senders,
    (i) => `${run}-pub-${i}`,
    () => undefined,
  );
  const cpu = centrifugoMeter(peer);
  cpu.start();
  const t0 = now();
  await withTimeout(
    runLanes(
      senders,
      p.lanes,
      p.messages,
      (sender, i) => sender.client.publish(channel, jsonPayload(i, p.payloadBytes)),
      startedAt,
    ),
    timeout,
    'publishes',
  );
  const sendsAcked = now();
  const expected = p.messages * p.members;
  const complete = await until(() => deliveries >= expected, timeout, 'deliveries').then(
    () => true,
    () => false,
  );
  const used = cpu.stop();
  const elapsed = lastDelivery - t0;
  centrifugoClose([...members, ...senders]);
  return {
    members: p.members,
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
    cpuMsPerDelivery: perUnit(used, deliveries),
  };
}

/** Workload 4 on Centrifugo: server RSS per idle client subscribed to its own channel. */
export async function centrifugoIdleMemory(peer: CentrifugoPeer, params: BenchParams, run: string) {
  const p = params.idle;
  const user = (i: number) => `${run}-idle-${i}`;
  const channel = (i: number) => `bench:${run}-idle-${i}`;
  const warm = await centrifugoClients(peer, p.warmup, user, channel);
  await sleep(1000);
  const before = rssBytes(peer.pid);
  const t0 = now();
  const idle = await withTimeout(
    centrifugoClients(
      peer,
      p.connections,
      (i) => user(p.warmup + i),
      (i) => channel(p.warmup + i),
    ),
    params.phaseTimeoutMs,
    'idle connections',
  );
  const connectMs = now() - t0;
  await sleep(2000);
  const after = rssBytes(peer.pid);
  centrifugoClose([...warm, ...idle]);
  return {
    connections: p.connections,
    warmupConnections: p.warmup,
    connectsPerSec: round((p.connections / connectMs) * 1000, 0),
    serverRssBefore: before,
    serverRssAfter: after,
    serverRssBytesPerConnection: round((after - before) / p.connections, 0),
  };
}

// ---------------------------------------------------------------------------------------
// NATS JetStream

interface NatsDevice {
  connection: NatsConnection;
  messages?: ConsumerMessages;
}

/** A file-storage stream for one workload run; acked messages leave it (interest retention). */
async function natsStream(
  peer: NatsPeer,
  run: string,
): Promise<{
  admin: NatsConnection;
  jsm: JetStreamManager;
  stream: string;
}> {
  const admin = await natsConnect({ servers: peer.url, name: `${run}-admin` });
  const jsm = await admin.jetstreamManager();
  const stream = `B_${run}`;
  await jsm.streams.add({
    name: stream,
    subjects: [`${run}.>`],
    storage: StorageType.File,
    retention: RetentionPolicy.Interest,
    // From 2.15 a stream without its own limit admits 1,000 consumers (the server's
    // default_max_consumers; -1 means that default too), and the idle workload makes one per
    // device: 5,100 by default.
    max_consumers: 1_000_000,
  });
  return { admin, jsm, stream };
}

/**
 * A device: its own connection, a durable consumer on `subject` with explicit acks and at
 * most `window` unacked (Grove's maxInFlight), consumed and acked as messages arrive.
 */
async function natsDevice(
  peer: NatsPeer,
  jsm: JetStreamManager,
  stream: string,
  name: string,
  subject: string,
  window: number,
  onMessage?: (data: Uint8Array) => void,
  consume = true,
): Promise<NatsDevice> {
  await jsm.consumers.add(stream, {
    durable_name: name,
    filter_subject: subject,
    ack_policy: AckPolicy.Explicit,
    max_ack_pending: window,
  });
  const connection = await natsConnect({ servers: peer.url, name, reconnect: false });
  if (!consume) return { connection };
  return { connection, messages: await natsConsume(connection, stream, name, window, onMessage) };
}

async function natsConsume(
  connection: NatsConnection,
  stream: string,
  name: string,
  window: number,
  onMessage?: (data: Uint8Array) => void,
): Promise<ConsumerMessages> {
  const consumer = await connection.jetstream().consumers.get(stream, name);
  const messages = await consumer.consume({ max_messages: window });
  void (async () => {
    for await (const message of messages) {
      onMessage?.(message.data);
      message.ack();
    }
  })();
  return messages;
}

async function natsDevices(
  peer: NatsPeer,
  jsm: JetStreamManager,
  stream: string,
  count: number,
  name: (i: number) => string,
  subject: (i: number) => string,
  window: number,
  onMessage?: (i: number, data: Uint8Array) => void,
): Promise<NatsDevice[]> {
  const devices = new Array<NatsDevice>(count);
  await runPool(count, 50, async (i) => {
    devices[i] = await natsDevice(
      peer,
      jsm,
      stream,
      name(i),
      subject(i),
      window,
      onMessage === undefined ? undefined : (data) => onMessage(i, data),
    );
  });
  return devices;
}

async function natsPublishers(
  peer: NatsPeer,
  count: number,
  run: string,
): Promise<{ connection: NatsConnection; js: JetStreamClient }[]> {
  const publishers = [];
  for (let i = 0; i < count; i++) {
    const connection = await natsConnect({ servers: peer.url, name: `${run}-pub-${i}` });
    publishers.push({ connection, js: connection.jetstream() });
  }
  return publishers;
}

async function natsClose(connections: NatsConnection[]): Promise<void> {
  await withTimeout(
    runPool(connections.length, 200, async (i) => {
      await connections[i]?.close();
    }),
    30_000,
    'nats close',
  ).catch(() => undefined);
}

const indexOf = (data: Uint8Array): number =>
  Buffer.from(data.buffer, data.byteOffset, data.byteLength).readDoubleBE(0);

function natsMeter(peer: NatsPeer): CpuMeter {
  return new CpuMeter({ natsServer: [peer.pid] });
}

/** Workload 1 on NATS: subject per device, a durable consumer per device, PubAcks awaited. */
export async function natsOneToOne(peer: NatsPeer, params: BenchParams, run: string) {
  const p = params.oneToOne;
  const timeout = params.phaseTimeoutMs;
  const oneFrom = p.messages + p.lowLoadMessages;
  const total = oneFrom + p.lowLoadMessages;
  const startedAt = new Float64Array(total);
  const seen = new Deliveries(startedAt, p.messages, oneFrom);
  const { admin, jsm, stream } = await natsStream(peer, run);
  const subject = (i: number) => `${run}.dev.${i}`;
  const connectStart = now();
  const devices = await withTimeout(
    natsDevices(
      peer,
      jsm,
      stream,
      p.devices,
      (i) => `dev${i}`,
      subject,
      params.inFlightWindow,
      (_i, data) => seen.record(indexOf(data)),
    ),
    timeout,
    'devices connect',
  );
  const connectMs = now() - connectStart;
  const publishers = await natsPublishers(peer, p.senders, run);
  const targets = targetsOf(total, p.devices);
  const publish = (publisher: { js: JetStreamClient }, i: number) =>
    publisher.js.publish(subject(targets[i] ?? 0), indexedPayload(i, p.payloadBytes));
  const cpu = natsMeter(peer);
  cpu.start();
  const t0 = now();
  await withTimeout(
    runLanes(publishers, p.lanes, p.messages, publish, startedAt),
    timeout,
    'publishes',
  );
  const sendsAcked = now();
  const complete = await until(() => seen.delivered >= p.messages, timeout, 'deliveries').then(
    () => true,
    () => false,
  );
  const used = cpu.stop();
  const elapsed = seen.last - t0;
  await withTimeout(
    runLanes(publishers.slice(0, 1), 1, p.lowLoadMessages, publish, startedAt, p.messages),
    timeout,
    'low-load publishes',
  );
  await until(() => seen.lowDelivered >= p.lowLoadMessages, timeout, 'low-load deliveries').catch(
    () => undefined,
  );
  const [onePublisher] = publishers;
  if (onePublisher === undefined) throw new Error('no publisher');
  await withTimeout(
    seen.oneInFlight.run(onePublisher, oneFrom, p.lowLoadMessages, publish, startedAt),
    timeout,
    'one-in-flight publishes',
  );
  await natsClose([
    ...devices.map((d) => d.connection),
    ...publishers.map((p) => p.connection),
    admin,
  ]);
  return {
    devices: p.devices,
    messages: p.messages,
    concurrentSends: p.senders * p.lanes,
    payloadBytes: p.payloadBytes,
    delivered: seen.delivered,
    duplicates: seen.duplicates,
    complete,
    connectDevicesPerSec: round((p.devices / connectMs) * 1000, 0),
    elapsedMs: round(elapsed, 0),
    messagesPerSec: round((seen.delivered / elapsed) * 1000, 0),
    sendAcksPerSec: round((p.messages / (sendsAcked - t0)) * 1000, 0),
    latency: summarize(seen.latency.subarray(0, p.messages)),
    cpuMsPerMessage: perUnit(used, seen.delivered),
    lowLoad: {
      messages: p.lowLoadMessages,
      delivered: seen.lowDelivered,
      latency: summarize(seen.latency.subarray(p.messages, oneFrom)),
    },
    oneInFlight: {
      messages: p.lowLoadMessages,
      delivered: seen.oneDelivered,
      latency: summarize(seen.latency.subarray(oneFrom)),
    },
  };
}

/** Workload 2 on NATS: 100 members, each a durable consumer of the workspace subject. */
export async function natsFanOut(peer: NatsPeer, params: BenchParams, run: string) {
  const p = params.fanOut;
  const timeout = params.phaseTimeoutMs;
  const startedAt = new Float64Array(p.messages);
  const counts = new Uint16Array(p.messages);
  const latency = new Float64Array(p.messages).fill(NaN);
  let deliveries = 0;
  let lastDelivery = 0;
  const { admin, jsm, stream } = await natsStream(peer, run);
  const subject = `${run}.ws.team`;
  const members = await withTimeout(
    natsDevices(
      peer,
      jsm,
      stream,
      p.members,
      (i) => `member${i}`,
      () => subject,
      params.inFlightWindow,
      (_i, data) => {
        const index = indexOf(data);
        deliveries++;
        lastDelivery = now();
        const count = (counts[index] = (counts[index] ?? 0) + 1);
        if (count === p.members) latency[index] = lastDelivery - (startedAt[index] ?? 0);
      },
    ),
    timeout,
    'members connect',
  );
  const publishers = await natsPublishers(peer, p.senders, run);
  const cpu = natsMeter(peer);
  cpu.start();
  const t0 = now();
  await withTimeout(
    runLanes(
      publishers,
      p.lanes,
      p.messages,
      (publisher, i) => publisher.js.publish(subject, indexedPayload(i, p.payloadBytes)),
      startedAt,
    ),
    timeout,
    'publishes',
  );
  const sendsAcked = now();
  const expected = p.messages * p.members;
  const complete = await until(() => deliveries >= expected, timeout, 'deliveries').then(
    () => true,
    () => false,
  );
  const used = cpu.stop();
  const elapsed = lastDelivery - t0;
  await natsClose([
    ...members.map((d) => d.connection),
    ...publishers.map((p) => p.connection),
    admin,
  ]);
  return {
    members: p.members,
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
    cpuMsPerDelivery: perUnit(used, deliveries),
  };
}

/** Workload 3 on NATS: the device's durable consumer exists while it is offline; then it drains. */
export async function natsBacklog(peer: NatsPeer, params: BenchParams, run: string) {
  const p = params.backlog;
  const timeout = params.phaseTimeoutMs;
  const { admin, jsm, stream } = await natsStream(peer, run);
  const subject = `${run}.dev.backlog`;
  const offline = await natsDevice(
    peer,
    jsm,
    stream,
    'backlog',
    subject,
    params.inFlightWindow,
    undefined,
    false,
  );
  const publishers = await natsPublishers(peer, p.senders, run);
  const startedAt = new Float64Array(p.messages);
  const fillCpu = natsMeter(peer);
  fillCpu.start();
  const fillStart = now();
  await withTimeout(
    runLanes(
      publishers,
      p.lanes,
      p.messages,
      (publisher, i) => publisher.js.publish(subject, indexedPayload(i, p.payloadBytes)),
      startedAt,
    ),
    timeout * 2,
    'backlog fill',
  );
  const fillMs = now() - fillStart;
  const fillUsed = fillCpu.stop();
  await sleep(500);
  let received = 0;
  let duplicates = 0;
  const seen = new Uint8Array(p.messages);
  const cpu = natsMeter(peer);
  cpu.start();
  const t0 = now();
  await natsConsume(offline.connection, stream, 'backlog', params.inFlightWindow, (data) => {
    const index = indexOf(data);
    if (seen[index] === 1) duplicates++;
    else {
      seen[index] = 1;
      received++;
    }
  });
  const complete = await until(() => received >= p.messages, timeout, 'backlog drain').then(
    () => true,
    () => false,
  );
  const drainMs = now() - t0;
  const used = cpu.stop();
  await natsClose([offline.connection, ...publishers.map((p) => p.connection), admin]);
  return {
    messages: p.messages,
    payloadBytes: p.payloadBytes,
    fill: {
      concurrentSends: p.senders * p.lanes,
      ms: round(fillMs, 0),
      messagesPerSec: round((p.messages / fillMs) * 1000, 0),
      cpuMsPerMessage: perUnit(fillUsed, p.messages),
    },
    received,
    duplicates,
    complete,
    drainMs: round(drainMs, 0),
    drainMessagesPerSec: round((received / drainMs) * 1000, 0),
    cpuMsPerMessage: perUnit(used, Math.max(received, 1)),
  };
}

/** Workload 4 on NATS: server RSS per idle device (connection + its consuming durable consumer). */
export async function natsIdleMemory(peer: NatsPeer, params: BenchParams, run: string) {
  const p = params.idle;
  const { admin, jsm, stream } = await natsStream(peer, run);
  const name = (i: number) => `idle${i}`;
  const subject = (i: number) => `${run}.idle.${i}`;
  const warm = await natsDevices(peer, jsm, stream, p.warmup, name, subject, params.inFlightWindow);
  await sleep(1000);
  const before = rssBytes(peer.pid);
  const t0 = now();
  const idle = await withTimeout(
    natsDevices(
      peer,
      jsm,
      stream,
      p.connections,
      (i) => name(p.warmup + i),
      (i) => subject(p.warmup + i),
      params.inFlightWindow,
    ),
    params.phaseTimeoutMs,
    'idle connections',
  );
  const connectMs = now() - t0;
  await sleep(2000);
  const after = rssBytes(peer.pid);
  await natsClose([...warm, ...idle].map((d) => d.connection).concat(admin));
  return {
    connections: p.connections,
    warmupConnections: p.warmup,
    connectsPerSec: round((p.connections / connectMs) * 1000, 0),
    serverRssBefore: before,
    serverRssAfter: after,
    serverRssBytesPerConnection: round((after - before) / p.connections, 0),
  };
}
