/** Sizes of the workloads; `--quick` scales them down. */
export interface BenchParams {
  oneToOne: {
    devices: number;
    messages: number;
    senders: number;
    lanes: number;
    payloadBytes: number;
    /** Then this many more, one at a time (one lane): the latency of the path itself, unloaded. */
    lowLoadMessages: number;
  };
  fanOut: {
    members: number;
    messages: number;
    senders: number;
    lanes: number;
    payloadBytes: number;
  };
  backlog: { messages: number; senders: number; lanes: number; payloadBytes: number };
  idle: { warmup: number; connections: number };
  /** Upper bound on any one phase (connect, send, deliver, drain). */
  phaseTimeoutMs: number;
  /** Grove's per-connection unacked window (maxInFlight) and Mosquitto's max_inflight_messages. */
  inFlightWindow: number;
}

export const FULL: BenchParams = {
  oneToOne: {
    devices: 1000,
    messages: 20_000,
    senders: 20,
    lanes: 16,
    payloadBytes: 64,
    lowLoadMessages: 1000,
  },
  fanOut: { members: 100, messages: 1000, senders: 4, lanes: 4, payloadBytes: 64 },
  backlog: { messages: 100_000, senders: 8, lanes: 32, payloadBytes: 64 },
  idle: { warmup: 100, connections: 5000 },
  phaseTimeoutMs: 120_000,
  inFlightWindow: 256,
};

export const QUICK: BenchParams = {
  oneToOne: {
    devices: 200,
    messages: 4000,
    senders: 10,
    lanes: 16,
    payloadBytes: 64,
    lowLoadMessages: 200,
  },
  fanOut: { members: 100, messages: 200, senders: 4, lanes: 4, payloadBytes: 64 },
  backlog: { messages: 10_000, senders: 8, lanes: 32, payloadBytes: 64 },
  idle: { warmup: 50, connections: 500 },
  phaseTimeoutMs: 60_000,
  inFlightWindow: 256,
};
