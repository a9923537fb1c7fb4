import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The relay's metrics, on a registry of its own (never the global one). */
export function createRelayMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    connections: new Gauge({
      name: 'grove_relay_connections',
      help: 'Open device connections on this relay, by transport',
      labelNames: ['transport'] as const,
      registers: [registry],
    }),
    messagesIn: new Counter({
      name: 'grove_relay_messages_in_total',
      help: 'Sends acknowledged durably to the sender',
      registers: [registry],
    }),
    duplicates: new Counter({
      name: 'grove_relay_messages_duplicate_total',
      help: 'Per-device enqueues skipped because the message id was already queued (sender retries)',
      registers: [registry],
    }),
    messagesOut: new Counter({
      name: 'grove_relay_messages_out_total',
      help: 'Messages written to device connections (redeliveries included)',
      labelNames: ['transport'] as const,
      registers: [registry],
    }),
    fanOut: new Histogram({
      name: 'grove_relay_fanout_size',
      help: 'Recipient devices per send',
      buckets: [1, 2, 5, 10, 25, 50, 100, 250, 1000],
      registers: [registry],
    }),
    deliveryLatency: new Histogram({
      name: 'grove_relay_delivery_latency_seconds',
      help: 'From enqueue to the device acknowledgement',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60],
      registers: [registry],
    }),
    drops: new Counter({
      name: 'grove_relay_queue_drops_total',
      help: 'Queued messages removed before acknowledgement: quota (queue full) or expired (retention/ttl)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    resyncs: new Counter({
      name: 'grove_relay_resync_signals_total',
      help: 'Resync signals sent to devices, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    quotaExceeded: new Counter({
      name: 'grove_relay_quota_exceeded_total',
      help: 'Sends refused for storage: scope "domain" (QUOTA_EXCEEDED: the domain holds maxDomainStoredBytes), "queue" (QUEUE_FULL: a full queue with queueOverflow rejectNew) or "sender" (QUEUE_FULL: the sender holds its share of a queue)',
      labelNames: ['domain', 'scope'] as const,
      registers: [registry],
    }),
    domainStoredBytes: new Gauge({
      name: 'grove_relay_domain_stored_bytes',
      help: "What each domain holds in Redis as this relay last saw it (the domain's storage ledger), in bytes",
      labelNames: ['domain'] as const,
      registers: [registry],
    }),
    redisUp: new Gauge({
      name: 'grove_relay_redis_up',
      help: 'Whether both Redis connections of this relay (commands, subscriber) are ready (1) or not (0)',
      registers: [registry],
    }),
    redisErrors: new Counter({
      name: 'grove_relay_redis_errors_total',
      help: 'Redis commands that failed',
      registers: [registry],
    }),
    rejected: new Counter({
      name: 'grove_relay_errors_total',
      help: 'Error replies and refusals sent to clients, by code',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    closes: new Counter({
      name: 'grove_relay_closes_total',
      help: 'Connections closed by the relay, by close code',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
  };
}

export type RelayMetrics = ReturnType<typeof createRelayMetrics>;
