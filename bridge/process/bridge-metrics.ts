import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The bridge's metrics, on a registry of its own (never the global one). */
export function createBridgeMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    received: new Counter({
      name: 'grove_bridge_messages_received_total',
      help: 'Messages handed to the bridge by the relay (redeliveries the SDK removed excluded)',
      registers: [registry],
    }),
    archived: new Counter({
      name: 'grove_bridge_messages_archived_total',
      help: 'Messages written durably to the open segment of a workspace archive',
      registers: [registry],
    }),
    duplicates: new Counter({
      name: 'grove_bridge_messages_duplicate_total',
      help: 'Messages not written again because the archive had them (a redelivery after a crash)',
      registers: [registry],
    }),
    ignored: new Counter({
      name: 'grove_bridge_messages_ignored_total',
      help: 'Messages acknowledged without archiving: not sent to a workspace the bridge archives',
      registers: [registry],
    }),
    acknowledged: new Counter({
      name: 'grove_bridge_messages_acknowledged_total',
      help: 'Messages acknowledged to the relay after they were durable',
      registers: [registry],
    }),
    buffered: new Gauge({
      name: 'grove_bridge_buffered_messages',
      help: 'Messages received and not yet durable in the archive store (not acknowledged)',
      registers: [registry],
    }),
    chunkWrites: new Counter({
      name: 'grove_bridge_chunk_writes_total',
      help: 'Writes of open-segment chunks, by outcome',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    flushSeconds: new Histogram({
      name: 'grove_bridge_flush_duration_seconds',
      help: 'From the start of a flush to the relay ack (store writes of every workspace in it)',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    bytesWritten: new Counter({
      name: 'grove_bridge_archive_bytes_written_total',
      help: 'Bytes written to the archive store (chunks, segments, manifests)',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    cycles: new Counter({
      name: 'grove_bridge_cycles_total',
      help: 'Archive cycles, by trigger and outcome',
      labelNames: ['trigger', 'outcome'] as const,
      registers: [registry],
    }),
    cycleSeconds: new Histogram({
      name: 'grove_bridge_cycle_duration_seconds',
      help: 'Duration of archive cycles',
      buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600],
      registers: [registry],
    }),
    segmentsSealed: new Counter({
      name: 'grove_bridge_segments_sealed_total',
      help: 'Segments sealed',
      registers: [registry],
    }),
    segmentsPruned: new Counter({
      name: 'grove_bridge_segments_pruned_total',
      help: 'Sealed segments removed by retention, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    lastSuccess: new Gauge({
      name: 'grove_bridge_last_successful_cycle_timestamp_seconds',
      help: 'When the last successful archive cycle finished (Unix seconds)',
      registers: [registry],
    }),
    nextCycle: new Gauge({
      name: 'grove_bridge_next_cycle_timestamp_seconds',
      help: 'When the next scheduled archive cycle starts (Unix seconds)',
      registers: [registry],
    }),
    connected: new Gauge({
      name: 'grove_bridge_relay_connected',
      help: '1 while the bridge has a relay connection',
      registers: [registry],
    }),
  };
}

export type BridgeMetrics = ReturnType<typeof createBridgeMetrics>;
