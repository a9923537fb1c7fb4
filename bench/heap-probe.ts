/**
 * What an idle connection retains on a relay's JS heap: starts Redis and one relay (with
 * --heapsnapshot-signal), connects 100 devices, takes a heap snapshot (V8 collects garbage
 * first), connects N more idle devices, takes another, and prints the retained bytes per
 * connection by object type.
 *
 *   node --import tsx bench/heap-probe.ts [N=2000]
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GroveStack, deviceRef } from './lib/grove-stack.js';
import { sleep } from './lib/util.js';
import { groveSeed, PREFIX } from './workloads/grove.js';
import { FULL } from './workloads/params.js';

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

const WARMUP = 100;
const count = Number(process.argv[2] ?? 2000);
const dir = mkdtempSync(join(tmpdir(), 'grove-heap-'));

/** Bytes and objects by kind: constructor name for objects, the V8 node type otherwise. */
function aggregate(file: string) {
  const heap = JSON.parse(readFileSync(file, 'utf8')) as HeapSnapshot;
  const fields = heap.snapshot.meta.node_fields;
  const types = heap.snapshot.meta.node_types[0];
  const [typeAt, nameAt, sizeAt] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f));
  const byKind = new Map<string, { count: number; bytes: number }>();
  let total = 0;
  for (let i = 0; i < heap.nodes.length; i += fields.length) {
    const type = types[heap.nodes[i + (typeAt ?? 0)] ?? 0] ?? '?';
    const name = heap.strings[heap.nodes[i + (nameAt ?? 0)] ?? 0] ?? '';
    const bytes = heap.nodes[i + (sizeAt ?? 0)] ?? 0;
    const kind =
      type === 'object' || type === 'native' ? `${type} ${name.slice(0, 40)}` : `(${type})`;
    const entry = byKind.get(kind) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += bytes;
    byKind.set(kind, entry);
    total += bytes;
  }
  return { byKind, total };
}

async function snapshot(pid: number): Promise<string> {
  const before = new Set(readdirSync(dir));
  process.kill(pid, 'SIGUSR2');
  for (let i = 0; i < 240; i++) {
    await sleep(500);
    const file = readdirSync(dir).find((f) => !before.has(f) && f.endsWith('.heapsnapshot'));
    if (file === undefined) continue;
    // Written in chunks, with pauses: wait until the JSON is closed and the size stops changing.
    const path = join(dir, file);
    let size = -1;
    while (statSync(path).size !== size || !readFileSync(path, 'utf8').trimEnd().endsWith('}')) {
      size = statSync(path).size;
      await sleep(1000);
    }
    return path;
  }
  throw new Error('the relay wrote no heap snapshot within 2 minutes');
}

const saved = process.env.NODE_OPTIONS;
process.env.NODE_OPTIONS = `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${dir}`;
const stack = await GroveStack.start({ fsync: 'always', relays: 1, seed: groveSeed(FULL) });
if (saved === undefined) delete process.env.NODE_OPTIONS;
else process.env.NODE_OPTIONS = saved;
try {
  const [relay] = stack.relays;
  if (relay === undefined) throw new Error('no relay');
  const pid = GroveStack.relayPid(relay);
  const refs = Array.from({ length: WARMUP + Math.min(count, FULL.idle.connections) }, (_, i) =>
    deviceRef(PREFIX.idle, i),
  );
  const warm = await stack.connect(refs.slice(0, WARMUP), { relays: [relay] });
  await sleep(1000);
  const first = aggregate(await snapshot(pid));
  const idle = await stack.connect(refs.slice(WARMUP), { relays: [relay], concurrency: 100 });
  await sleep(2000);
  const second = aggregate(await snapshot(pid));
  const n = idle.length;
  const lines = [
    `retained JS heap per idle connection: ${Math.round((second.total - first.total) / n)} bytes`,
  ];
  const rows = [...second.byKind.entries()]
    .map(([kind, after]) => {
      const before = first.byKind.get(kind) ?? { count: 0, bytes: 0 };
      return {
        kind,
        bytes: (after.bytes - before.bytes) / n,
        count: (after.count - before.count) / n,
      };
    })
    .filter((row) => row.bytes >= 16)
    .sort((a, b) => b.bytes - a.bytes);
  for (const row of rows) {
    lines.push(
      `${row.bytes.toFixed(0).padStart(7)} B ${row.count.toFixed(2).padStart(6)} × ${row.kind}`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  await GroveStack.closeAll([...warm, ...idle]);
} finally {
  await stack.stop();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
