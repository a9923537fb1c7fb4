import { z } from 'zod';
import { ArchiveError } from './archive-errors.js';

/**
 * The manifest of one workspace's archive (Groove's "archive master log"): every sealed
 * segment with its message range, size and SHA-256, and what retention pruned. It is itself
 * an archive file (encrypted and authenticated), written as a new numbered version at each
 * change and never overwritten, so a crash leaves either the old or the new one.
 */

export const MANIFEST_FORMAT = 'grove-archive-manifest';
export const MANIFEST_VERSION = 1;
/** Pruned entries kept in the manifest (the newest ones): enough to explain recent gaps. */
const MAX_PRUNED_ENTRIES = 1000;

export const segmentEntrySchema = z.strictObject({
  number: z.int().min(1),
  count: z.int().min(1),
  firstId: z.string().min(1),
  lastId: z.string().min(1),
  /** createdAt of the first and last message, ms since the epoch (messages in arrival order). */
  firstCreatedAt: z.int().min(0),
  lastCreatedAt: z.int().min(0),
  /** Smallest and largest createdAt in the segment: what a point-in-time restore compares. */
  minCreatedAt: z.int().min(0),
  maxCreatedAt: z.int().min(0),
  sealedAt: z.iso.datetime({ offset: true }),
  /** Size of the segment file as stored, and of its decrypted content. */
  bytes: z.int().min(0),
  contentBytes: z.int().min(0),
  /** Hex SHA-256 of the stored file. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** The open-segment chunks it was sealed from (inclusive). */
  chunks: z.strictObject({ first: z.int().min(1), last: z.int().min(1) }),
});
export type SegmentEntry = z.infer<typeof segmentEntrySchema>;

export const prunedEntrySchema = z.strictObject({
  number: z.int().min(1),
  count: z.int().min(0),
  lastCreatedAt: z.int().min(0),
  prunedAt: z.iso.datetime({ offset: true }),
  reason: z.enum(['count', 'age']),
});
export type PrunedEntry = z.infer<typeof prunedEntrySchema>;

export const manifestSchema = z.strictObject({
  format: z.literal(MANIFEST_FORMAT),
  version: z.literal(MANIFEST_VERSION),
  domain: z.string().min(1),
  workspace: z.string().min(1),
  /** This manifest's number: one more at every change (0: none written yet). */
  number: z.int().min(0),
  createdAt: z.iso.datetime({ offset: true }),
  updatedAt: z.iso.datetime({ offset: true }),
  /** Chunks up to this number are in sealed segments; higher ones form the open segment. */
  sealedThroughChunk: z.int().min(0),
  nextSegment: z.int().min(1),
  segments: z.array(segmentEntrySchema),
  pruned: z.array(prunedEntrySchema),
});
export type Manifest = z.infer<typeof manifestSchema>;

export function emptyManifest(domain: string, workspace: string, now: Date): Manifest {
  return {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    domain,
    workspace,
    number: 0,
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
    sealedThroughChunk: 0,
    nextSegment: 1,
    segments: [],
    pruned: [],
  };
}

export function encodeManifest(manifest: Manifest): Buffer {
  return Buffer.from(JSON.stringify(manifest), 'utf8');
}

export function decodeManifest(content: Buffer, where: string): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(content.toString('utf8'));
  } catch {
    throw new ArchiveError('ARCHIVE_MALFORMED', `${where}: the manifest is not JSON`);
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ArchiveError(
      'ARCHIVE_MALFORMED',
      `${where}: invalid manifest: ${issue === undefined ? '' : `${issue.path.join('.')}: ${issue.message}`}`,
    );
  }
  return parsed.data;
}

/** The next manifest, with one more sealed segment (chunks up to `entry.chunks.last`). */
export function withSealedSegment(manifest: Manifest, entry: SegmentEntry, now: Date): Manifest {
  if (entry.number !== manifest.nextSegment) {
    throw new Error(`segment ${entry.number} sealed while ${manifest.nextSegment} was next`);
  }
  return {
    ...manifest,
    number: manifest.number + 1,
    updatedAt: now.toISOString(),
    sealedThroughChunk: Math.max(manifest.sealedThroughChunk, entry.chunks.last),
    nextSegment: entry.number + 1,
    segments: [...manifest.segments, entry],
  };
}

/** The next manifest when chunks were found empty of new messages (all duplicates). */
export function withChunksDiscarded(manifest: Manifest, throughChunk: number, now: Date): Manifest {
  return {
    ...manifest,
    number: manifest.number + 1,
    updatedAt: now.toISOString(),
    sealedThroughChunk: Math.max(manifest.sealedThroughChunk, throughChunk),
  };
}

export interface RetentionRule {
  /** Newest sealed segments kept per workspace. */
  keepLast: number;
  /** Segments whose newest message is older than this are pruned, even among keepLast. */
  maxAgeMs?: number | undefined;
}

/**
 * Which sealed segments retention removes: all but the `keepLast` newest, and those whose
 * newest message is older than `maxAgeMs`. Only sealed segments are ever considered: the
 * open segment (the chunks being written) is not in the manifest.
 */
export function retentionPlan(
  manifest: Manifest,
  rule: RetentionRule,
  now: Date,
): { number: number; reason: PrunedEntry['reason'] }[] {
  const plan: { number: number; reason: PrunedEntry['reason'] }[] = [];
  const newestFirst = [...manifest.segments].sort((a, b) => b.number - a.number);
  newestFirst.forEach((segment, index) => {
    if (index >= rule.keepLast) plan.push({ number: segment.number, reason: 'count' });
    else if (rule.maxAgeMs !== undefined && now.getTime() - segment.maxCreatedAt > rule.maxAgeMs)
      plan.push({ number: segment.number, reason: 'age' });
  });
  return plan.sort((a, b) => a.number - b.number);
}

/** The next manifest without the pruned segments, recording each in `pruned`. */
export function withSegmentsPruned(
  manifest: Manifest,
  plan: readonly { number: number; reason: PrunedEntry['reason'] }[],
  now: Date,
): Manifest {
  const reasons = new Map(plan.map((item) => [item.number, item.reason]));
  const pruned: PrunedEntry[] = manifest.segments
    .filter((segment) => reasons.has(segment.number))
    .map((segment) => ({
      number: segment.number,
      count: segment.count,
      lastCreatedAt: segment.maxCreatedAt,
      prunedAt: now.toISOString(),
      reason: reasons.get(segment.number) ?? 'count',
    }));
  return {
    ...manifest,
    number: manifest.number + 1,
    updatedAt: now.toISOString(),
    segments: manifest.segments.filter((segment) => !reasons.has(segment.number)),
    pruned: [...manifest.pruned, ...pruned].slice(-MAX_PRUNED_ENTRIES),
  };
}

/** Where a restore stops: after a segment, or at a point in time (createdAt ≤ until). */
export type RestorePoint = { throughSegment: number } | { until: number } | 'latest';

/** The segments a restore reads, oldest first; messages past `until` are filtered by the reader. */
export function segmentsForRestore(manifest: Manifest, point: RestorePoint): SegmentEntry[] {
  const segments = [...manifest.segments].sort((a, b) => a.number - b.number);
  if (point === 'latest') return segments;
  if ('throughSegment' in point) {
    if (!segments.some((segment) => segment.number === point.throughSegment)) {
      throw new ArchiveError(
        'ARCHIVE_NOT_FOUND',
        `${manifest.domain}/${manifest.workspace} has no segment ${point.throughSegment} (segments: ${
          segments.map((segment) => segment.number).join(', ') || 'none'
        })`,
      );
    }
    return segments.filter((segment) => segment.number <= point.throughSegment);
  }
  return segments.filter((segment) => segment.minCreatedAt <= point.until);
}
