/**
 * A load-generator process of the scale workloads (forked by `ClientFleet`): one process
 * cannot hold 20,000 sockets under a hard open-file limit of 20,000, so the devices are
 * spread over several. Told over IPC which devices to connect (token and relay URLs), it
 * connects them with bounded concurrency, reports, keeps them idle, and closes them when told.
 */
import { GroveClient } from '../../client/sdk/grove-client.js';
import { runPool, withTimeout } from './util.js';

export interface FleetConnect {
  kind: 'connect';
  devices: { token: string; relays: string[] }[];
  concurrency: number;
  timeoutMs: number;
}
export type FleetOrder = FleetConnect | { kind: 'close' };
export type FleetReport =
  { kind: 'connected'; count: number; ms: number } | { kind: 'failed'; message: string };

const clients: GroveClient[] = [];

function report(message: FleetReport): void {
  process.send?.(message);
}

async function connect(order: FleetConnect): Promise<void> {
  for (const device of order.devices) {
    clients.push(new GroveClient({ relays: device.relays, token: device.token }));
  }
  const started = performance.now();
  try {
    await withTimeout(
      runPool(clients.length, order.concurrency, async (i) => {
        await clients[i]?.start();
      }),
      order.timeoutMs,
      `${clients.length} devices connect`,
    );
    report({ kind: 'connected', count: clients.length, ms: performance.now() - started });
  } catch (error) {
    report({ kind: 'failed', message: error instanceof Error ? error.message : String(error) });
  }
}

async function close(): Promise<void> {
  await withTimeout(
    runPool(clients.length, 200, async (i) => {
      await clients[i]?.close();
    }),
    30_000,
    'clients close',
  ).catch(() => undefined);
  process.exit(0);
}

process.on('message', (order: FleetOrder) => {
  if (order.kind === 'connect') void connect(order);
  else void close();
});
// The parent gone (killed): nothing to keep the sockets for.
process.on('disconnect', () => process.exit(0));
