/**
 * Summarises V8 CPU profiles (`.cpuprofile`, from `node --cpu-prof`), e.g. the relay
 * profiles `npm run bench -- --profile` writes to bench/results/profiles/:
 *
 *   node --import tsx bench/profile-summary.ts [--window=START,END] bench/results/profiles/*.cpuprofile
 *
 * --window keeps only samples between two CLOCK_MONOTONIC microsecond stamps: each Grove
 * workload records its measured phase as `monotonicWindowUs` in bench/results/latest.json.
 *
 * Prints where the time went: by package/file (self time), the top functions by self
 * time, and the top functions by inclusive time (each function counted once per stack).
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  startTime: number;
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const args = process.argv.slice(2);
const windowArg = args.find((arg) => arg.startsWith('--window='));
const [windowStart, windowEnd] = (windowArg?.slice('--window='.length).split(',') ?? []).map(
  Number,
);
const files = args.filter((arg) => !arg.startsWith('--'));
const inWindow = (t: number) =>
  (windowStart === undefined || t >= windowStart) && (windowEnd === undefined || t <= windowEnd);
if (files.length === 0) {
  process.stderr.write('usage: profile-summary FILE.cpuprofile…\n');
  process.exit(2);
}

const selfByFunction = new Map<string, number>();
const totalByFunction = new Map<string, number>();
const selfByArea = new Map<string, number>();
let totalUs = 0;
let idleUs = 0;

function area(url: string, name: string): string {
  if (url === '') return name.startsWith('(') ? name : '(native)';
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (modules?.[1] !== undefined) return modules[1];
  if (url.startsWith('node:')) return url.split('/')[0] ?? url;
  const own = /\/((?:relay|client|crds|bin|test)\/.*)$/.exec(url);
  return own?.[1] ?? url;
}

function label(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const where = url === '' ? '' : ` ${area(url, functionName)}:${lineNumber + 1}`;
  return `${functionName === '' ? '(anonymous)' : functionName}${where}`;
}

const add = (map: Map<string, number>, key: string, us: number) =>
  map.set(key, (map.get(key) ?? 0) + us);

for (const file of files) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parent.set(child, node.id);
  const selfUs = new Map<number, number>();
  let t = profile.startTime;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    t += delta;
    if (!inWindow(t)) return;
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
  });
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (node === undefined) continue;
    totalUs += us;
    if (node.callFrame.functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    add(selfByFunction, label(node), us);
    add(selfByArea, area(node.callFrame.url, node.callFrame.functionName), us);
    // Inclusive: every distinct function on the stack gets the sample once.
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at);
      if (frame === undefined) break;
      const key = label(frame);
      if (seen.has(key)) continue;
      seen.add(key);
      add(totalByFunction, key, us);
    }
  }
}

const busyUs = totalUs - idleUs;
const pct = (us: number) => `${((us / busyUs) * 100).toFixed(1).padStart(5)}%`;
const top = (map: Map<string, number>, n: number) =>
  [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([key, us]) => `  ${pct(us)}  ${(us / 1000).toFixed(0).padStart(7)} ms  ${key}`)
    .join('\n');

process.stdout.write(
  [
    `profiles: ${files.length}; sampled ${(totalUs / 1e6).toFixed(1)} s, busy ${(busyUs / 1e6).toFixed(1)} s (percentages are of busy time)`,
    '',
    'self time by package / file:',
    top(selfByArea, 25),
    '',
    'top functions by self time:',
    top(selfByFunction, 40),
    '',
    'top functions by inclusive time:',
    top(totalByFunction, 60),
    '',
  ].join('\n'),
);
