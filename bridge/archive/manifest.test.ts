import { describe, expect, it } from '@jest/globals';
import {
  decodeManifest,
  emptyManifest,
  encodeManifest,
  retentionPlan,
  segmentsForRestore,
  withSealedSegment,
  withSegmentsPruned,
  type Manifest,
  type SegmentEntry,
} from './manifest.js';

const day = 24 * 3600 * 1000;
const t0 = Date.parse('2026-03-01T00:00:00Z');

function segment(number: number, newestAt: number): SegmentEntry {
  return {
    number,
    count: 10,
    firstId: `first-${number}`,
    lastId: `last-${number}`,
    firstCreatedAt: newestAt - 1000,
    lastCreatedAt: newestAt,
    minCreatedAt: newestAt - 1000,
    maxCreatedAt: newestAt,
    sealedAt: new Date(newestAt + 10).toISOString(),
    bytes: 1234,
    contentBytes: 1000,
    sha256: 'a'.repeat(64),
    chunks: { first: number * 2 - 1, last: number * 2 },
  };
}

function manifestWith(count: number): Manifest {
  let manifest = emptyManifest('acme', 'team', new Date(t0));
  for (let n = 1; n <= count; n++)
    manifest = withSealedSegment(manifest, segment(n, t0 + n * day), new Date(t0 + n * day));
  return manifest;
}

describe('the manifest', () => {
  it('numbers each change and records what was sealed', () => {
    const manifest = manifestWith(3);
    expect(manifest.number).toBe(3);
    expect(manifest.nextSegment).toBe(4);
    expect(manifest.sealedThroughChunk).toBe(6);
    expect(decodeManifest(encodeManifest(manifest), 'x')).toEqual(manifest);
  });

  it('refuses a segment out of turn', () => {
    expect(() => withSealedSegment(manifestWith(1), segment(3, t0), new Date(t0))).toThrow(/next/);
  });

  it('keeps the newest keepLast segments', () => {
    const plan = retentionPlan(manifestWith(5), { keepLast: 2 }, new Date(t0 + 6 * day));
    expect(plan).toEqual([
      { number: 1, reason: 'count' },
      { number: 2, reason: 'count' },
      { number: 3, reason: 'count' },
    ]);
  });

  it('prunes by age even among keepLast, judged by the newest message of a segment', () => {
    const plan = retentionPlan(
      manifestWith(5),
      { keepLast: 4, maxAgeMs: 2.5 * day },
      new Date(t0 + 5 * day),
    );
    expect(plan).toEqual([
      { number: 1, reason: 'count' },
      { number: 2, reason: 'age' },
    ]);
  });

  it('records pruned segments and drops them from the list', () => {
    const manifest = manifestWith(3);
    const next = withSegmentsPruned(
      manifest,
      [{ number: 1, reason: 'age' }],
      new Date(t0 + 9 * day),
    );
    expect(next.segments.map((s) => s.number)).toEqual([2, 3]);
    expect(next.pruned).toEqual([
      {
        number: 1,
        count: 10,
        lastCreatedAt: t0 + day,
        prunedAt: new Date(t0 + 9 * day).toISOString(),
        reason: 'age',
      },
    ]);
    expect(next.number).toBe(manifest.number + 1);
  });

  it('selects segments for a restore to a segment or a point in time', () => {
    const manifest = manifestWith(4);
    expect(segmentsForRestore(manifest, 'latest').map((s) => s.number)).toEqual([1, 2, 3, 4]);
    expect(segmentsForRestore(manifest, { throughSegment: 2 }).map((s) => s.number)).toEqual([
      1, 2,
    ]);
    expect(
      segmentsForRestore(manifest, { until: t0 + 2 * day - 500 }).map((s) => s.number),
    ).toEqual([1, 2]);
    expect(() => segmentsForRestore(manifest, { throughSegment: 9 })).toThrow(/no segment 9/);
  });
});
