/**
 * V8 flags every relay process runs with: the image's `grove relay` passes them to Node, and
 * the benchmark's relays get them too, so it measures what ships.
 *
 * An idle relay's memory is mostly V8 heap headroom, not live objects: during a burst of
 * connects the young generation grows to its default maximum (tens of MB), and the RSS stays.
 * A 4 MB semi-space bounded it: on 5,000 idle connections, 9.8-10.7 KB of RSS per connection
 * against 25-26 KB by default; 1 MB was worse (about 20 KB: short-lived garbage is promoted
 * to the old generation) and 2 MB in between (see docs/benchmarks.md).
 */
export const RELAY_V8_FLAGS: readonly string[] = ['--max-semi-space-size=4'];

/**
 * The old generation's bound for a relay container with this memory limit (bytes): 75 % of
 * it, leaving the rest to the young generation, code, and native socket buffers. Without
 * it, V8 bounds the heap by its own heuristics, which do not aim at the container's limit:
 * a relay could run out of heap with much of its container's memory unused, or be killed
 * by the kernel before V8 collects.
 */
export function relayOldSpaceFlag(memoryLimitBytes: number): string {
  const mib = Math.max(64, Math.floor((memoryLimitBytes * 0.75) / 2 ** 20));
  return `--max-old-space-size=${mib}`;
}
