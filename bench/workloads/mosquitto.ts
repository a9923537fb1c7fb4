import type { Socket } from 'node:net';
import { connect, type MqttClient } from 'mqtt';
import type { MosquittoBroker } from '../lib/mosquitto.js';
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

type OnMessage = (topic: string, payload: Buffer) => void;

/**
 * One MQTT 3.1.1 client. Handlers are attached before CONNECT goes out, so a persistent
 * session's queued messages arriving with the CONNACK are counted. No reconnects: a broken
 * connection fails the workload instead of hiding in it.
 */
async function mqttClient(
  broker: MosquittoBroker,
  clientId: string,
  clean: boolean,
  onMessage?: OnMessage,
): Promise<MqttClient> {
  const client = connect(broker.url, {
    clientId,
    clean,
    protocolVersion: 4,
    reconnectPeriod: 0,
    keepalive: 60,
    connectTimeout: 10_000,
  });
  if (onMessage !== undefined) client.on('message', onMessage);
  const connected = new Promise<void>((resolve, reject) => {
    client.once('connect', () => {
      (client.stream as Partial<Socket>).setNoDelay?.(true);
      resolve();
    });
    client.once('error', reject);
    client.once('close', () => reject(new Error(`${clientId}: connection closed`)));
  });
  await withTimeout(connected, 15_000, `${clientId} connect`).catch((error: unknown) => {
    client.end(true);
    throw error;
  });
  client.on('error', () => undefined);
  return client;
}

/** Connects `count` subscribers (persistent sessions, QoS 1) to `topic(i)`. */
async function subscribers(
  broker: MosquittoBroker,
  count: number,
  clientId: (i: number) => string,
  topic: (i: number) => string,
  onMessage?: (i: number, payload: Buffer) => void,
): Promise<MqttClient[]> {
  const clients: MqttClient[] = new Array<MqttClient>(count);
  await runPool(count, 50, async (i) => {
    const client = await mqttClient(
      broker,
      clientId(i),
      false,
      onMessage === undefined ? undefined : (_topic, payload) => onMessage(i, payload),
    );
    clients[i] = client;
    await withTimeout(client.subscribeAsync(topic(i), { qos: 1 }), 10_000, 'subscribe');
  });
  return clients;
}

async function publishers(
  broker: MosquittoBroker,
  count: number,
  run: string,
): Promise<MqttClient[]> {
  const clients: MqttClient[] = [];
  for (let i = 0; i < count; i++) clients.push(await mqttClient(broker, `${run}-pub-${i}`, true));
  return clients;
}

/** Same lanes as the Grove side: each awaits the PUBACK before its next publish. */
async function publishAll(
  clients: MqttClient[],
  lanes: number,
  total: number,
  topic: (i: number) => string,
  payloadBytes: number,
  startedAt: Float64Array,
  first = 0,
): Promise<void> {
  await runLanes(
    clients,
    lanes,
    total,
    (client, i) => client.publishAsync(topic(i), indexedPayload(i, payloadBytes), { qos: 1 }),
    startedAt,
    first,
  );
}

async function endAll(clients: MqttClient[]): Promise<void> {
  await withTimeout(
    runPool(clients.length, 200, async (i) => {
      await clients[i]?.endAsync();
    }),
    30_000,
    'clients end',
  ).catch(() => {
    for (const client of clients) client.end(true);
  });
}

function meter(broker: MosquittoBroker): CpuMeter {
  return new CpuMeter({ broker: [broker.pid] });
}

/** Workload 1 on Mosquitto: QoS 1 publishes to `dev/<i>`, one persistent subscriber each. */
export async function mosquittoOneToOne(broker: MosquittoBroker, params: BenchParams, run: string) {
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
  const connectStart = now();
  const subs = await withTimeout(
    subscribers(
      broker,
      p.devices,
      (i) => `${run}-dev-${i}`,
      (i) => `${run}/dev/${i}`,
      (_i, payload) => {
        const index = payload.readDoubleBE(0);
        if (!Number.isNaN(latency[index] ?? NaN)) {
          duplicates++;
          return;
        }
        const at = now();
        latency[index] = at - (startedAt[index] ?? 0);
        if (index < p.messages) {
          lastDelivery = at;
          delivered++;
        } else if (index < oneFrom) lowDelivered++;
        else {
          oneDelivered++;
          oneInFlight.delivered(index);
        }
      },
    ),
    timeout,
    'subscribers connect',
  );
  const connectMs = now() - connectStart;
  const pubs = await publishers(broker, p.senders, run);
  const random = prng(1);
  const targets = Array.from({ length: total }, () => Math.floor(random() * p.devices));
  const topic = (i: number) => `${run}/dev/${targets[i] ?? 0}`;
  const cpu = meter(broker);
  cpu.start();
  const t0 = now();
  await withTimeout(
    publishAll(pubs, p.lanes, p.messages, topic, p.payloadBytes, startedAt),
    timeout,
    'publishes',
  );
  const sendsAcked = now();
  const complete = await until(() => delivered >= p.messages, timeout, 'deliveries').then(
    () => true,
    () => false,
  );
  const used = cpu.stop();
  const elapsed = lastDelivery - t0;
  await withTimeout(
    publishAll(
      pubs.slice(0, 1),
      1,
      p.lowLoadMessages,
      topic,
      p.payloadBytes,
      startedAt,
      p.messages,
    ),
    timeout,
    'low-load publishes',
  );
  await until(() => lowDelivered >= p.lowLoadMessages, timeout, 'low-load deliveries').catch(
    () => undefined,
  );
  const [onePublisher] = pubs;
  if (onePublisher === undefined) throw new Error('no publisher');
  await withTimeout(
    oneInFlight.run(
      onePublisher,
      oneFrom,
      p.lowLoadMessages,
      (client, i) => client.publishAsync(topic(i), indexedPayload(i, p.payloadBytes), { qos: 1 }),
      startedAt,
    ),
    timeout,
    'one-in-flight publishes',
  );
  await endAll([...subs, ...pubs]);
  return {
    devices: p.devices,
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
    cpuMsPerMessage: perUnit(used, delivered),
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
  };
}

/** Workload 2 on Mosquitto: 100 persistent subscribers of one topic. */
export async function mosquittoFanOut(broker: MosquittoBroker, params: BenchParams, run: string) {
  const p = params.fanOut;
  const timeout = params.phaseTimeoutMs;
  const startedAt = new Float64Array(p.messages);
  const counts = new Uint16Array(p.messages);
  const latency = new Float64Array(p.messages).fill(NaN);
  let deliveries = 0;
  let lastDelivery = 0;
  const topic = `${run}/ws/team`;
  const subs = await withTimeout(
    subscribers(
      broker,
      p.members,
      (i) => `${run}-member-${i}`,
      () => topic,
      (_i, payload) => {
        const index = payload.readDoubleBE(0);
        deliveries++;
        lastDelivery = now();
        const count = (counts[index] = (counts[index] ?? 0) + 1);
        if (count === p.members) latency[index] = lastDelivery - (startedAt[index] ?? 0);
      },
    ),
    timeout,
    'members connect',
  );
  const pubs = await publishers(broker, p.senders, run);
  const cpu = meter(broker);
  cpu.start();
  const t0 = now();
  await withTimeout(
    publishAll(pubs, p.lanes, p.messages, () => topic, p.payloadBytes, startedAt),
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
  await endAll([...subs, ...pubs]);
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

/** Workload 3 on Mosquitto: a persistent session offline while 100,000 QoS 1 messages queue. */
export async function mosquittoBacklog(broker: MosquittoBroker, params: BenchParams, run: string) {
  const p = params.backlog;
  const timeout = params.phaseTimeoutMs;
  const clientId = `${run}-backlog`;
  const topic = `${run}/dev/backlog`;
  const first = await mqttClient(broker, clientId, false);
  await withTimeout(first.subscribeAsync(topic, { qos: 1 }), 10_000, 'subscribe');
  await endAll([first]);
  const rssBefore = rssBytes(broker.pid);
  const pubs = await publishers(broker, p.senders, run);
  const startedAt = new Float64Array(p.messages);
  const fillCpu = meter(broker);
  fillCpu.start();
  const fillStart = now();
  await withTimeout(
    publishAll(pubs, p.lanes, p.messages, () => topic, p.payloadBytes, startedAt),
    timeout * 2,
    'backlog fill',
  );
  const fillMs = now() - fillStart;
  const fillUsed = fillCpu.stop();
  await endAll(pubs);
  const rssAfter = rssBytes(broker.pid);
  await sleep(500);
  let received = 0;
  let duplicates = 0;
  const seen = new Uint8Array(p.messages);
  const cpu = meter(broker);
  cpu.start();
  const t0 = now();
  const device = await mqttClient(broker, clientId, false, (_topic, payload) => {
    const index = payload.readDoubleBE(0);
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
  await endAll([device]);
  return {
    messages: p.messages,
    payloadBytes: p.payloadBytes,
    fill: {
      concurrentSends: p.senders * p.lanes,
      ms: round(fillMs, 0),
      messagesPerSec: round((p.messages / fillMs) * 1000, 0),
      cpuMsPerMessage: perUnit(fillUsed, p.messages),
      brokerRssBytesPerQueuedMessage: round((rssAfter - rssBefore) / p.messages, 0),
    },
    received,
    duplicates,
    complete,
    drainMs: round(drainMs, 0),
    drainMessagesPerSec: round((received / drainMs) * 1000, 0),
    cpuMsPerMessage: perUnit(used, Math.max(received, 1)),
  };
}

/**
 * The broker's own heap accounting ($SYS/broker/heap/current, published every second and
 * retained): a fresh subscription gets the latest value at once.
 */
async function brokerHeap(monitor: MqttClient): Promise<number> {
  const topic = '$SYS/broker/heap/current';
  const value = withTimeout(
    new Promise<number>((resolve) => {
      const onMessage = (received: string, payload: Buffer) => {
        if (received !== topic) return;
        monitor.off('message', onMessage);
        resolve(Number(payload.toString()));
      };
      monitor.on('message', onMessage);
    }),
    5000,
    topic,
  );
  await withTimeout(monitor.subscribeAsync(topic, { qos: 0 }), 10_000, 'subscribe');
  const heap = await value;
  await withTimeout(monitor.unsubscribeAsync(topic), 10_000, 'unsubscribe');
  return heap;
}

/** Workload 4 on Mosquitto: broker RSS (and heap) per idle persistent-session subscriber. */
export async function mosquittoIdleMemory(
  broker: MosquittoBroker,
  params: BenchParams,
  run: string,
) {
  const p = params.idle;
  const timeout = params.phaseTimeoutMs;
  const clientId = (i: number) => `${run}-idle-${i}`;
  const topic = (i: number) => `${run}/idle/${i}`;
  const monitor = await mqttClient(broker, `${run}-monitor`, true);
  const warm = await subscribers(broker, p.warmup, clientId, topic);
  await sleep(1000);
  const before = { rss: rssBytes(broker.pid), heap: await brokerHeap(monitor) };
  const t0 = now();
  const idle = await withTimeout(
    subscribers(
      broker,
      p.connections,
      (i) => clientId(p.warmup + i),
      (i) => topic(p.warmup + i),
    ),
    timeout,
    'idle connections',
  );
  const connectMs = now() - t0;
  await sleep(2000);
  const after = { rss: rssBytes(broker.pid), heap: await brokerHeap(monitor) };
  await endAll([...warm, ...idle, monitor]);
  return {
    connections: p.connections,
    warmupConnections: p.warmup,
    connectsPerSec: round((p.connections / connectMs) * 1000, 0),
    brokerRssBefore: before.rss,
    brokerRssAfter: after.rss,
    brokerRssBytesPerConnection: round((after.rss - before.rss) / p.connections, 0),
    brokerHeapBytesPerConnection: round((after.heap - before.heap) / p.connections, 0),
  };
}
