/**
 * V8 flags every relay process runs with: the image's `grove relay` passes them to Node, and
 * the benchmark's relays get them too, so it measures what ships.
 *
 * An idle relay's memory is mostly V8 heap headroom, not live objects: during a burst of
 * connects the young generation grows to its default maximum (tens of MB), and the RSS stays.
 * A bounded semi-space keeps it down: on 5,000 idle connections, 22.5 KB of RSS per connection
 * with V8's default, 9.8-10.1 KB with 4 MB, 8.5-9.0 KB with 8 MB, 10.3-10.7 KB with 10 or 12 MB.
 * 1 and 2 MB were worse (short-lived garbage is promoted to the old generation). 8 MB also
 * costs less CPU than 4 MB: relay CPU per 1:1 message 0.128-0.134 against 0.150-0.152 ms
 * (docs/benchmarks.md, "Semi-space size").
 */
export const RELAY_V8_FLAGS: readonly string[] = ['--max-semi-space-size=8'];

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
