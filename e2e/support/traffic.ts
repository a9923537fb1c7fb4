import { setTimeout as sleep } from 'node:timers/promises';
import {
  GroveClient,
  type ReceivedMessage,
  type Transport,
} from '../../client/sdk/grove-client.js';
import { SeenIds } from '../../client/sdk/seen-ids.js';
import type { StateSession } from '../../client/cli/state-session.js';
import type { Device } from './grove.js';

/**
 * Steady traffic through a relay Service with real SDK clients, and the bookkeeping that
 * proves the delivery promise: sender i sends to receiver i mod R, one message at a time (the
 * next only once the relay acknowledged the previous one), so for each sender the acked
 * messages carry 0, 1, 2, … and each receiver must hand its application exactly that
 * sequence, each number once.
 */

export interface TrafficParticipant {
  device: Device;
  session: StateSession;
  transport: Exclude<Transport, 'auto'>;
}

export interface TrafficOptions {
  senders: TrafficParticipant[];
  receivers: TrafficParticipant[];
  /** Messages a second per sender. */
  ratePerSender: number;
  payloadBytes?: number;
  /**
   * The SDK's pool failover settings, for devices of a Domain with several pools (their
   * session has `pools`: each client then gets `pools` instead of `relays`).
   */
  poolFailover?: { failoverAfterRounds?: number; homeProbeMs?: number; homeStableProbes?: number };
}

interface PhaseFigures {
  name: string;
  startedAt: number;
  endedAt?: number;
  acked: number;
  delivered: number;
  reconnects: number;
  /** Clients that moved to another pool of their Domain (SDK event `pool`). */
  poolMoves: number;
  longestAckGapMs: number;
  longestDeliveryGapMs: number;
}

interface SenderState {
  index: number;
  participant: TrafficParticipant;
  client: GroveClient;
  to: string;
  next: number;
  acked: number;
  lastAckAt: number;
  relayDuplicates: number;
  loop?: Promise<void>;
}

interface ReceiverState {
  participant: TrafficParticipant;
  client: GroveClient;
  lastDeliveryAt: number;
  longestGapMs: number;
}

interface Flow {
  expectedDevice: string;
  next: number;
  delivered: Set<number>;
}

export interface TrafficFigures {
  senders: number;
  receivers: number;
  transports: Record<string, number>;
  durationS: number;
  ratePerSecond: number;
  sent: number;
  acked: number;
  delivered: number;
  lost: number;
  outOfOrder: number;
  duplicatesToApplication: number;
  duplicatesSuppressedBySdk: number;
  retriesDeduplicatedByRelay: number;
  reconnects: number;
  poolMoves: number;
  resyncs: number;
  fatal: number;
  refused: number;
  longestDeliveryGapMs: number;
  longestAckGapMs: number;
  /** The send that took longest to be acknowledged (SDK retries included). */
  slowestSend: { ms: number; sender: string; transport: string; phase: string; at: string };
  stalls: { sender: string; transport: string; ms: number; at: string; events: string[] }[];
  latencyMs: { p50: number; p99: number; max: number };
  phases: Omit<PhaseFigures, 'startedAt' | 'endedAt'>[];
}

/** A send slower than this is recorded with its client's recent events (figures().stalls). */
const STALL_MS = 15_000;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/**
 * Counts the redeliveries the SDK drops before the application sees them. GroveClient keeps
 * the ids it handled in a private SeenIds; its `add` answers false for a duplicate.
 */
function countSuppressedDuplicates(client: GroveClient, onDuplicate: () => void): void {
  const seen: unknown = Reflect.get(client, 'seen');
  if (!(seen instanceof SeenIds)) {
    throw new Error(
      'GroveClient no longer keeps its handled ids in `seen`: update e2e/support/traffic.ts',
    );
  }
  const add = seen.add.bind(seen);
  seen.add = (id: string) => {
    const fresh = add(id);
    if (!fresh) onDuplicate();
    return fresh;
  };
}

export class Traffic {
  private readonly senders: SenderState[] = [];
  private readonly receivers: ReceiverState[] = [];
  private readonly flows = new Map<string, Flow>();
  private readonly latencies: number[] = [];
  private readonly phases: PhaseFigures[] = [];
  private readonly problems: string[] = [];
  private stopping = false;
  private closed = false;
  private startedAt = 0;
  private stoppedAt = 0;
  private lastAckAt = 0;
  private slowestSend = { ms: 0, sender: '', transport: '', phase: '', at: '' };
  private readonly eventLogs = new WeakMap<GroveClient, string[]>();
  /** The index of the pool each client is on (0: home), for clients given pools. */
  private readonly poolOf = new Map<GroveClient, number>();
  /** Sends that took over STALL_MS, with what their client went through meanwhile. */
  private readonly stalls: {
    sender: string;
    transport: string;
    ms: number;
    at: string;
    events: string[];
  }[] = [];
  private counts = {
    delivered: 0,
    outOfOrder: 0,
    duplicatesToApplication: 0,
    duplicatesSuppressedBySdk: 0,
    reconnects: 0,
    poolMoves: 0,
    resyncs: 0,
    fatal: 0,
    refused: 0,
  };

  constructor(private readonly options: TrafficOptions) {}

  private get phase(): PhaseFigures {
    const current = this.phases.at(-1);
    if (current === undefined) throw new Error('traffic has not started');
    return current;
  }

  private problem(text: string): void {
    if (this.problems.length < 50) this.problems.push(text);
  }

  private client(
    participant: TrafficParticipant,
    onMessage?: (m: ReceivedMessage) => void,
  ): GroveClient {
    const pools = participant.session.pools;
    const client = new GroveClient({
      // Where the Manager told the device its relays are (status.endpoints of its pools): one
      // list, or with several pools each pool's list, home first.
      relays: participant.session.current.relays,
      ...(pools === undefined
        ? {}
        : {
            pools,
            ...(this.options.poolFailover === undefined
              ? {}
              : { poolFailover: this.options.poolFailover }),
          }),
      token: participant.session.provider(),
      transport: participant.transport,
      ...(onMessage === undefined ? {} : { onMessage }),
    });
    let connections = 0;
    const events: string[] = [];
    this.eventLogs.set(client, events);
    const note = (text: string) => {
      events.push(`${new Date().toISOString()} ${text}`);
      if (events.length > 30) events.shift();
    };
    client.on('connected', () => note('connected'));
    client.on('disconnected', (closed: { code: number; reason: string }) =>
      note(`disconnected ${closed.code} ${closed.reason}`),
    );
    client.on('connect-failed', (failure: { reason: string; attempts: number }) =>
      note(`connect failed (${failure.attempts}): ${failure.reason}`),
    );
    client.on('relay-error', (frame: unknown) => note(`relay error ${JSON.stringify(frame)}`));
    if (pools !== undefined) {
      this.poolOf.set(client, 0);
      client.on('pool', (moved: { from: number; to: number; reason: string }) => {
        note(`pool ${moved.from} → ${moved.to} (${moved.reason})`);
        this.poolOf.set(client, moved.to);
        this.counts.poolMoves++;
        if (this.phases.length > 0) this.phase.poolMoves++;
      });
    }
    client.on('connected', () => {
      connections++;
      if (connections > 1 && this.phases.length > 0) {
        this.counts.reconnects++;
        this.phase.reconnects++;
      }
    });
    client.on('resync', (event: { reason: string }) => {
      this.counts.resyncs++;
      this.problem(`${participant.device.identity}: resync (${event.reason})`);
    });
    client.on('fatal', (error: Error) => {
      this.counts.fatal++;
      this.problem(`${participant.device.identity}: fatal: ${error.message}`);
    });
    client.on('handler-error', (error: unknown) => {
      this.problem(`${participant.device.identity}: handler error: ${String(error)}`);
    });
    countSuppressedDuplicates(client, () => this.counts.duplicatesSuppressedBySdk++);
    return client;
  }

  private onMessage(receiver: ReceiverState, message: ReceivedMessage): void {
    const now = Date.now();
    let body: { s: number; n: number; t: number };
    try {
      body = JSON.parse(message.data.toString('utf8')) as typeof body;
    } catch {
      this.problem(`${receiver.participant.device.identity}: a message that is not the suite's`);
      return;
    }
    const flow = this.flows.get(`${body.s}`);
    if (flow === undefined || flow.expectedDevice !== message.from.device) {
      this.problem(`message ${message.id} from ${message.from.device} claims sender ${body.s}`);
      return;
    }
    if (flow.delivered.has(body.n)) {
      this.counts.duplicatesToApplication++;
      this.problem(`sender ${body.s} message ${body.n} reached the application twice`);
      return;
    }
    if (body.n !== flow.next) {
      this.counts.outOfOrder++;
      this.problem(`sender ${body.s}: got message ${body.n}, expected ${flow.next}`);
    }
    flow.delivered.add(body.n);
    flow.next = Math.max(flow.next, body.n + 1);
    this.counts.delivered++;
    this.latencies.push(now - body.t);
    if (this.stoppedAt === 0) {
      receiver.longestGapMs = Math.max(receiver.longestGapMs, now - receiver.lastDeliveryAt);
      this.phase.longestDeliveryGapMs = Math.max(
        this.phase.longestDeliveryGapMs,
        now - receiver.lastDeliveryAt,
      );
    }
    receiver.lastDeliveryAt = now;
    this.phase.delivered++;
  }

  /** Connects every client (receivers first), then starts sending. */
  async start(): Promise<void> {
    const { receivers, senders } = this.options;
    for (const participant of receivers) {
      const state: ReceiverState = {
        participant,
        client: undefined as unknown as GroveClient,
        lastDeliveryAt: 0,
        longestGapMs: 0,
      };
      state.client = this.client(participant, (message) => this.onMessage(state, message));
      this.receivers.push(state);
    }
    senders.forEach((participant, index) => {
      const receiver = receivers[index % receivers.length];
      if (receiver === undefined) throw new Error('traffic needs at least one receiver');
      this.flows.set(`${index}`, {
        expectedDevice: participant.device.deviceId,
        next: 0,
        delivered: new Set(),
      });
      this.senders.push({
        index,
        participant,
        client: this.client(participant),
        to: `device:${receiver.device.deviceId}`,
        next: 0,
        acked: 0,
        lastAckAt: 0,
        relayDuplicates: 0,
      });
    });
    await Promise.all([...this.receivers, ...this.senders].map((s) => s.client.start()));
    this.startedAt = Date.now();
    this.lastAckAt = this.startedAt;
    for (const receiver of this.receivers) receiver.lastDeliveryAt = this.startedAt;
    this.beginPhase('steady');
    for (const sender of this.senders) sender.loop = this.sendLoop(sender);
  }

  private async sendLoop(sender: SenderState): Promise<void> {
    const interval = 1000 / this.options.ratePerSender;
    const pad = 'x'.repeat(Math.max(0, (this.options.payloadBytes ?? 100) - 40));
    let due = Date.now();
    while (!this.stopping) {
      const n = sender.next++;
      const sentAt = Date.now();
      const data = JSON.stringify({ s: sender.index, n, t: sentAt, pad });
      try {
        const receipt = await sender.client.send([sender.to], data);
        const now = Date.now();
        if (now - sentAt > STALL_MS && this.stalls.length < 10) {
          this.stalls.push({
            sender: sender.participant.device.identity,
            transport: sender.participant.transport,
            ms: now - sentAt,
            at: new Date(sentAt).toISOString(),
            events: [...(this.eventLogs.get(sender.client) ?? [])],
          });
        }
        if (now - sentAt > this.slowestSend.ms) {
          this.slowestSend = {
            ms: now - sentAt,
            sender: sender.participant.device.identity,
            transport: sender.participant.transport,
            phase: this.phase.name,
            at: new Date(sentAt).toISOString(),
          };
        }
        sender.acked++;
        sender.lastAckAt = now;
        if (receipt.duplicates > 0) sender.relayDuplicates++;
        this.phase.longestAckGapMs = Math.max(this.phase.longestAckGapMs, now - this.lastAckAt);
        this.lastAckAt = now;
        this.phase.acked++;
      } catch (error) {
        this.counts.refused++;
        this.problem(`sender ${sender.index} message ${n} refused: ${String(error)}`);
        return;
      }
      due += interval;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      else if (wait < -interval) due = Date.now();
    }
  }

  /** Starts a new phase of the figures (e.g. one per fault). */
  beginPhase(name: string): void {
    const now = Date.now();
    const current = this.phases.at(-1);
    if (current !== undefined) current.endedAt = now;
    this.phases.push({
      name,
      startedAt: now,
      acked: 0,
      delivered: 0,
      reconnects: 0,
      poolMoves: 0,
      longestAckGapMs: 0,
      longestDeliveryGapMs: 0,
    });
  }

  /**
   * Waits until traffic flows again after a fault: every sender had a send acknowledged and
   * every receiver got a message after this call. Returns how long that took.
   */
  async waitFlowing(timeoutMs = 120_000): Promise<number> {
    const mark = Date.now();
    const flowing = () =>
      this.senders.every((s) => s.lastAckAt > mark) &&
      this.receivers.every((r) => r.lastDeliveryAt > mark);
    while (!flowing()) {
      if (Date.now() - mark > timeoutMs) {
        const stuck = [
          ...this.senders
            .filter((s) => s.lastAckAt <= mark)
            .map((s) => s.participant.device.identity),
          ...this.receivers
            .filter((r) => r.lastDeliveryAt <= mark)
            .map((r) => r.participant.device.identity),
        ];
        throw new Error(`traffic did not flow again within ${timeoutMs} ms: ${stuck.join(', ')}`);
      }
      await sleep(50);
    }
    return Date.now() - mark;
  }

  /** How many clients are on each pool index now (clients given pools only). */
  clientsPerPool(): Record<number, number> {
    const counts: Record<number, number> = {};
    for (const pool of this.poolOf.values()) counts[pool] = (counts[pool] ?? 0) + 1;
    return counts;
  }

  /** Waits until every client given pools is on pool `index`; returns how long that took. */
  async waitAllOnPool(index: number, timeoutMs = 120_000): Promise<number> {
    const mark = Date.now();
    const total = this.poolOf.size;
    while ((this.clientsPerPool()[index] ?? 0) !== total || total === 0) {
      if (Date.now() - mark > timeoutMs) {
        throw new Error(
          `not every client reached pool ${index} within ${timeoutMs} ms: ${JSON.stringify(this.clientsPerPool())}`,
        );
      }
      await sleep(50);
    }
    return Date.now() - mark;
  }

  /** Figures of the phase now running. */
  /**
   * After a fault settled: waits until every client sends and receives again, lets traffic
   * flow 2 s longer so the phase's figures show the recovery, and checks it did flow.
   * Resolves with how long flowing again took (ms).
   */
  async recovered(): Promise<number> {
    const ms = await this.waitFlowing();
    await sleep(2000);
    const { acked, delivered, name } = this.phase;
    if (acked === 0 || delivered === 0) {
      throw new Error(
        `traffic did not flow after recovering in phase ${name}: ${String(acked)} acked, ${String(delivered)} delivered`,
      );
    }
    return ms;
  }

  currentPhase(): Readonly<PhaseFigures> {
    return this.phase;
  }

  /** Stops sending; resolves once every message sent was acknowledged (or timeoutMs passed). */
  async stop(timeoutMs = 120_000): Promise<void> {
    this.stopping = true;
    const loops = Promise.all(this.senders.map((s) => s.loop ?? Promise.resolve()));
    const timer = new AbortController();
    const timeout = sleep(timeoutMs, undefined, { signal: timer.signal }).then(() => {
      throw new Error(`sends still unacknowledged after ${timeoutMs} ms`);
    });
    timeout.catch(() => undefined);
    try {
      await Promise.race([loops, timeout]);
    } finally {
      timer.abort();
    }
    this.stoppedAt = Date.now();
    this.phase.endedAt = this.stoppedAt;
  }

  private undelivered(): number {
    let missing = 0;
    for (const sender of this.senders) {
      const flow = this.flows.get(`${sender.index}`);
      missing += sender.acked - (flow?.delivered.size ?? 0);
    }
    return missing;
  }

  /** Waits until every acknowledged message reached its receiver's application. */
  async drain(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.undelivered() > 0 && Date.now() < deadline) await sleep(100);
    for (const sender of this.senders) {
      const flow = this.flows.get(`${sender.index}`);
      for (let n = 0; n < sender.acked; n++) {
        if (flow?.delivered.has(n) !== true) {
          this.problem(`sender ${sender.index} message ${n} was acknowledged but never delivered`);
          break;
        }
      }
    }
  }

  figures(): TrafficFigures {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const acked = this.senders.reduce((sum, s) => sum + s.acked, 0);
    const transports: Record<string, number> = {};
    for (const p of [...this.options.senders, ...this.options.receivers]) {
      transports[p.transport] = (transports[p.transport] ?? 0) + 1;
    }
    const duration = ((this.stoppedAt || Date.now()) - this.startedAt) / 1000;
    return {
      senders: this.senders.length,
      receivers: this.receivers.length,
      transports,
      durationS: Math.round(duration),
      ratePerSecond: Math.round(acked / Math.max(duration, 1)),
      sent: this.senders.reduce((sum, s) => sum + s.next, 0),
      acked,
      delivered: this.counts.delivered,
      lost: this.undelivered(),
      outOfOrder: this.counts.outOfOrder,
      duplicatesToApplication: this.counts.duplicatesToApplication,
      duplicatesSuppressedBySdk: this.counts.duplicatesSuppressedBySdk,
      retriesDeduplicatedByRelay: this.senders.reduce((sum, s) => sum + s.relayDuplicates, 0),
      reconnects: this.counts.reconnects,
      poolMoves: this.counts.poolMoves,
      resyncs: this.counts.resyncs,
      fatal: this.counts.fatal,
      refused: this.counts.refused,
      longestDeliveryGapMs: Math.max(0, ...this.receivers.map((r) => r.longestGapMs)),
      longestAckGapMs: Math.max(0, ...this.phases.map((p) => p.longestAckGapMs)),
      slowestSend: this.slowestSend,
      stalls: this.stalls,
      latencyMs: {
        p50: percentile(sorted, 50),
        p99: percentile(sorted, 99),
        max: sorted.at(-1) ?? 0,
      },
      phases: this.phases.map(({ startedAt: _s, endedAt: _e, ...rest }) => rest),
    };
  }

  /** What went wrong (empty when the delivery promise held). */
  problemList(): readonly string[] {
    return this.problems;
  }

  /** Sessions of the clients, to force token refreshes. */
  sessions(): StateSession[] {
    return [...this.options.senders, ...this.options.receivers].map((p) => p.session);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopping = true;
    await Promise.all([...this.senders, ...this.receivers].map((s) => s.client.close()));
  }
}
