/**
 * Prints the results of one or more benchmark runs as a Markdown table: the median of
 * the runs, with the range when there are several.
 *
 *   node --import tsx bench/table.ts bench/results/latest.json [more.json …]
 */
import { readFileSync } from 'node:fs';

type Json = Record<string, unknown>;

const files = process.argv.slice(2);
if (files.length === 0) {
  process.stderr.write('usage: table RESULTS.json…\n');
  process.exit(2);
}
const runs = files.map((file) => {
  const text = readFileSync(file, 'utf8');
  // Accept `npm run bench` output too: npm prints its own lines before the JSON.
  return JSON.parse(text.slice(text.indexOf('{'))) as Json;
});

function get(value: unknown, path: string[]): number | undefined {
  let current = value;
  for (const key of path) current = (current as Json | undefined)?.[key];
  return typeof current === 'number' && Number.isFinite(current) ? current : undefined;
}

const sum = (...values: (number | undefined)[]): number | undefined =>
  values.some((v) => v === undefined)
    ? undefined
    : values.reduce<number>((a, v) => a + (v ?? 0), 0);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? NaN)
    : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
}

function format(value: number): string {
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en-US');
  if (Math.abs(value) >= 10) return value.toFixed(1);
  if (Math.abs(value) >= 1) return value.toFixed(2);
  return value.toFixed(3);
}

function cell(pick: (run: Json) => number | undefined): string {
  const values = runs.map(pick).filter((v): v is number => v !== undefined);
  if (values.length === 0) return '—';
  if (values.length === 1) return format(values[0] ?? NaN);
  return `${format(median(values))} (${format(Math.min(...values))}–${format(Math.max(...values))})`;
}

function ratioCell(
  grove: (run: Json) => number | undefined,
  peer: (run: Json) => number | undefined,
): string {
  return cell((run) => {
    const g = grove(run);
    const p = peer(run);
    return g === undefined || p === undefined || p === 0 ? undefined : g / p;
  });
}

type Pick = (system: string) => (run: Json) => number | undefined;
const at =
  (...path: string[]): Pick =>
  (system) =>
  (run) =>
    get(run, ['results', path[0] ?? '', system, ...path.slice(1)]);

interface Row {
  label: string;
  grove: Pick;
  mosquitto?: Pick;
  ratio?: boolean;
}

const serverCpu =
  (workload: string, field: string): Pick =>
  (system) =>
  (run) => {
    const base = ['results', workload, system, field];
    if (system === 'mosquitto') return get(run, [...base, 'broker']);
    if (system === 'grove' || system === 'groveEverysec')
      return sum(get(run, [...base, 'relays']), get(run, [...base, 'redis']));
    // A peer: every server process it has (Centrifugo and its Redis; nats-server).
    let current: unknown = run;
    for (const key of base) current = (current as Json | undefined)?.[key];
    if (current === undefined) return undefined;
    return sum(
      ...Object.entries(current as Json)
        .filter(([name]) => name !== 'benchProcess')
        .map(([, ms]) => (typeof ms === 'number' ? ms : undefined)),
    );
  };

const rows: Row[] = [
  {
    label: '**1:1** messages/s (end to end)',
    grove: at('oneToOne', 'messagesPerSec'),
    ratio: true,
  },
  {
    label: '1:1 latency p50, ms (saturated)',
    grove: at('oneToOne', 'latency', 'p50Ms'),
    ratio: true,
  },
  {
    label: '1:1 latency p99, ms (saturated)',
    grove: at('oneToOne', 'latency', 'p99Ms'),
    ratio: true,
  },
  {
    label: '1:1 latency p50, ms (one send in flight)',
    grove: at('oneToOne', 'lowLoad', 'latency', 'p50Ms'),
    ratio: true,
  },
  {
    label: '1:1 latency p99, ms (one send in flight)',
    grove: at('oneToOne', 'lowLoad', 'latency', 'p99Ms'),
    ratio: true,
  },
  {
    label: '1:1 latency p50, ms (one message in flight)',
    grove: at('oneToOne', 'oneInFlight', 'latency', 'p50Ms'),
    ratio: true,
  },
  {
    label: '1:1 latency p99, ms (one message in flight)',
    grove: at('oneToOne', 'oneInFlight', 'latency', 'p99Ms'),
    ratio: true,
  },
  {
    label: '1:1 server CPU ms per message',
    grove: serverCpu('oneToOne', 'cpuMsPerMessage'),
    ratio: true,
  },
  { label: '**Fan-out** deliveries/s', grove: at('fanOut', 'deliveriesPerSec'), ratio: true },
  { label: 'Fan-out sends/s', grove: at('fanOut', 'sendsPerSec'), ratio: true },
  {
    label: 'Fan-out latency to last recipient p50, ms',
    grove: at('fanOut', 'latencyToLastRecipient', 'p50Ms'),
    ratio: true,
  },
  {
    label: 'Fan-out latency to last recipient p99, ms',
    grove: at('fanOut', 'latencyToLastRecipient', 'p99Ms'),
    ratio: true,
  },
  {
    label: 'Fan-out server CPU ms per delivery',
    grove: serverCpu('fanOut', 'cpuMsPerDelivery'),
    ratio: true,
  },
  {
    label: '**Backlog** fill (offline queueing) messages/s',
    grove: at('backlog', 'fill', 'messagesPerSec'),
    ratio: true,
  },
  { label: 'Backlog drain messages/s', grove: at('backlog', 'drainMessagesPerSec'), ratio: true },
  { label: 'Backlog drain time, ms', grove: at('backlog', 'drainMs'), ratio: true },
  {
    label: '**Idle connection** server RSS bytes each',
    grove: (system) => (run) =>
      get(run, [
        'results',
        'idle',
        system,
        system === 'mosquitto'
          ? 'brokerRssBytesPerConnection'
          : system.startsWith('grove')
            ? 'relayRssBytesPerConnection'
            : 'serverRssBytesPerConnection',
      ]),
    ratio: true,
  },
  { label: 'Idle connects/s', grove: at('idle', 'connectsPerSec'), ratio: true },
  {
    label: 'Idle connection heap bytes each (V8 heapUsed / mosquitto heap)',
    grove: (system) => (run) =>
      get(run, [
        'results',
        'idle',
        system,
        system === 'mosquitto' ? 'brokerHeapBytesPerConnection' : 'relayHeapUsedBytesPerConnection',
      ]),
  },
  { label: 'Idle connection Redis bytes each', grove: at('idle', 'redisBytesPerConnection') },
];

const peers = ['centrifugo', 'nats'].filter((peer) =>
  runs.some((run) => Object.values((run.results ?? {}) as Json).some((w) => peer in (w as Json))),
);
const peerTitle: Record<string, string> = { centrifugo: 'Centrifugo', nats: 'NATS JetStream' };
const out: string[] = [
  `| | Grove (fsync always) | Grove (fsync everysec) | Mosquitto | ${peers.map((p) => `${peerTitle[p] ?? p} | `).join('')}Grove/Mosquitto (always) |${peers.map((p) => ` Grove/${peerTitle[p] ?? p} |`).join('')}`,
  `|---|---|---|---|---|${peers.map(() => '---|---|').join('')}`,
];
for (const row of rows) {
  const mosquitto = row.mosquitto ?? row.grove;
  const ratioTo = (system: string) =>
    row.ratio === true ? ratioCell(row.grove('grove'), mosquitto(system)) : '';
  out.push(
    `| ${row.label} | ${cell(row.grove('grove'))} | ${cell(row.grove('groveEverysec'))} | ${cell(mosquitto('mosquitto'))} | ${peers
      .map((p) => `${cell(row.grove(p))} | `)
      .join('')}${ratioTo('mosquitto')} |${peers.map((p) => ` ${ratioTo(p)} |`).join('')}`,
  );
}
process.stdout.write(`${out.join('\n')}\n`);
