import { createHash } from 'node:crypto';
import type { ArchiveStore } from '../store/archive-store.js';
import { ArchiveError } from './archive-errors.js';
import { decodeArchiveFile, encodeArchiveFile, type FileIdentity } from './archive-file.js';
import type { ArchiveKeyring, KdfParams } from './archive-keys.js';
import {
  chunkKey,
  chunkPrefix,
  manifestKey,
  manifestPrefix,
  numberOfKey,
  segmentKey,
  segmentPrefix,
  workspacePrefix,
} from './archive-layout.js';
import {
  decodeRecords,
  encodeRecords,
  messageKey,
  type ArchivedMessage,
} from './archive-record.js';
import {
  decodeManifest,
  emptyManifest,
  encodeManifest,
  retentionPlan,
  withChunksDiscarded,
  withSealedSegment,
  withSegmentsPruned,
  type Manifest,
  type PrunedEntry,
  type RetentionRule,
  type SegmentEntry,
} from './manifest.js';

export interface ArchiveLimits {
  /** Content bytes at which the open segment is sealed before its cycle (default 64 MiB). */
  maxSegmentBytes: number;
  /** Chunks at which the open segment is sealed before its cycle (default 4096). */
  maxChunksPerSegment: number;
}

export const DEFAULT_ARCHIVE_LIMITS: ArchiveLimits = {
  maxSegmentBytes: 64 * 1024 * 1024,
  maxChunksPerSegment: 4096,
};

/** Largest file read back: a segment at its bound plus one message over it, and the framing. */
export function maxFileBytes(limits: ArchiveLimits): number {
  return limits.maxSegmentBytes * 2 + 300 * 1024 * 1024;
}

const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;

/** Keys of the recent messages (open segment and newest sealed one): a bounded set. */
class RecentKeys {
  private readonly keys = new Set<string>();
  constructor(private readonly capacity: number) {}
  has(key: string): boolean {
    return this.keys.has(key);
  }
  add(key: string): void {
    this.keys.add(key);
    if (this.keys.size > this.capacity) {
      const oldest = this.keys.values().next();
      if (oldest.done !== true) this.keys.delete(oldest.value);
    }
  }
}

interface OpenChunk {
  number: number;
  count: number;
  contentBytes: number;
}

export interface SealResult {
  segment?: SegmentEntry;
  /** Messages that were in the chunks but already sealed (a redelivery after a crash). */
  duplicates: number;
}

export interface PruneResult {
  pruned: PrunedEntry[];
  /** The whole workspace archive was removed (nothing left, past the age rule). */
  removedArchive: boolean;
}

/**
 * One workspace's archive as its writer (the bridge) sees it: the newest manifest, the chunks
 * of the open segment, and the keys of recent messages for de-duplication. Every step writes
 * new files before it removes old ones, so a crash anywhere leaves a state that load() turns
 * back into a consistent one:
 *
 * - append: one new chunk (create-if-absent); the caller acknowledges the messages after it.
 * - seal: the chunks' messages (de-duplicated) into segment `nextSegment`, then manifest
 *   `number + 1` listing it and `sealedThroughChunk`, then the chunks and older manifests go.
 * - prune: manifest `number + 1` without the segments, then the segment files go.
 * - load: newest manifest; chunks ≤ sealedThroughChunk and segments the manifest does not list
 *   are leftovers of an interrupted step and are removed (a segment of an interrupted seal is
 *   made again from its chunks, which are still there).
 */
export class WorkspaceArchive {
  private chunks: OpenChunk[] = [];
  private nextChunk = 1;
  private readonly recent = new RecentKeys(200_000);

  private constructor(
    private readonly store: ArchiveStore,
    private readonly keyring: ArchiveKeyring,
    private readonly kdf: KdfParams,
    readonly domain: string,
    readonly workspace: string,
    private readonly limits: ArchiveLimits,
    private current: Manifest,
  ) {}

  get manifest(): Manifest {
    return this.current;
  }

  get openChunks(): number {
    return this.chunks.length;
  }

  get openMessages(): number {
    return this.chunks.reduce((sum, chunk) => sum + chunk.count, 0);
  }

  get openBytes(): number {
    return this.chunks.reduce((sum, chunk) => sum + chunk.contentBytes, 0);
  }

  private identity(kind: FileIdentity['kind'], number: number): FileIdentity {
    return { kind, domain: this.domain, workspace: this.workspace, number };
  }

  private where(key: string): string {
    return `${this.store.description} ${key}`;
  }

  private async read(
    kind: FileIdentity['kind'],
    key: string,
    number: number,
    maxBytes: number,
  ): Promise<Buffer> {
    const file = await this.store.get(key, maxBytes);
    if (file === undefined) {
      throw new ArchiveError(
        kind === 'segment' ? 'ARCHIVE_MISSING_SEGMENT' : 'ARCHIVE_NOT_FOUND',
        `${this.where(key)} is missing`,
      );
    }
    return decodeArchiveFile(file, this.keyring, this.identity(kind, number), maxBytes).content;
  }

  /** Loads (and repairs, see the class comment) one workspace's archive. */
  static async load(
    store: ArchiveStore,
    keyring: ArchiveKeyring,
    kdf: KdfParams,
    domain: string,
    workspace: string,
    limits: ArchiveLimits,
    now: Date,
  ): Promise<WorkspaceArchive> {
    const manifest = await readNewestManifest(store, keyring, domain, workspace);
    const archive = new WorkspaceArchive(
      store,
      keyring,
      kdf,
      domain,
      workspace,
      limits,
      manifest?.manifest ?? emptyManifest(domain, workspace, now),
    );
    await archive.repair(manifest?.keys ?? []);
    return archive;
  }

  private async repair(manifestKeys: readonly string[]): Promise<void> {
    const { domain, workspace } = this;
    const stale: string[] = [];
    // Manifests older than the previous one (the previous is kept, for a reader mid-switch).
    for (const key of manifestKeys) {
      const number = numberOfKey(key, manifestPrefix(domain, workspace));
      if (number !== undefined && number < this.current.number - 1) stale.push(key);
    }
    const listed = new Set(this.current.segments.map((segment) => segment.number));
    for (const file of await this.store.list(segmentPrefix(domain, workspace))) {
      const number = numberOfKey(file.key, segmentPrefix(domain, workspace));
      if (number !== undefined && !listed.has(number)) stale.push(file.key);
    }
    const open: number[] = [];
    for (const file of await this.store.list(chunkPrefix(domain, workspace))) {
      const number = numberOfKey(file.key, chunkPrefix(domain, workspace));
      if (number === undefined) continue;
      if (number <= this.current.sealedThroughChunk) stale.push(file.key);
      else open.push(number);
    }
    if (stale.length > 0) await this.store.delete(stale);
    const maxBytes = maxFileBytes(this.limits);
    for (const number of open.sort((a, b) => a - b)) {
      const content = await this.read(
        'chunk',
        chunkKey(domain, workspace, number),
        number,
        maxBytes,
      );
      let count = 0;
      for (const message of decodeRecords(
        content,
        this.where(chunkKey(domain, workspace, number)),
      )) {
        this.recent.add(messageKey(message));
        count++;
      }
      this.chunks.push({ number, count, contentBytes: content.length });
    }
    this.nextChunk = Math.max(this.current.sealedThroughChunk, ...open) + 1;
    const newest = this.current.segments.at(-1);
    if (newest !== undefined) {
      const key = segmentKey(domain, workspace, newest.number);
      const content = await this.read('segment', key, newest.number, maxBytes);
      for (const message of decodeRecords(content, this.where(key)))
        this.recent.add(messageKey(message));
    }
  }

  /** Whether a message is already in the archive (open segment or the newest sealed one). */
  has(message: Pick<ArchivedMessage, 'id' | 'from'>): boolean {
    return this.recent.has(messageKey(message));
  }

  /**
   * Writes the messages not archived yet as one durable chunk of the open segment. Resolves
   * with how many were new. After it resolves, the messages may be acknowledged.
   */
  async append(messages: readonly ArchivedMessage[], now: Date): Promise<number> {
    const fresh: ArchivedMessage[] = [];
    const batch = new Set<string>();
    for (const message of messages) {
      const key = messageKey(message);
      if (this.recent.has(key) || batch.has(key)) continue;
      batch.add(key);
      fresh.push(message);
    }
    if (fresh.length === 0) return 0;
    const number = this.nextChunk;
    const key = chunkKey(this.domain, this.workspace, number);
    const content = encodeRecords(fresh);
    const file = encodeArchiveFile(this.identity('chunk', number), content, {
      keyring: this.keyring,
      kdf: this.kdf,
      now,
    });
    if (!(await this.store.create(key, file))) {
      throw new ArchiveError(
        'ARCHIVE_CONFLICT',
        `${this.where(key)} exists already: another bridge writes this archive`,
      );
    }
    this.nextChunk = number + 1;
    this.chunks.push({ number, count: fresh.length, contentBytes: content.length });
    for (const message of fresh) this.recent.add(messageKey(message));
    return fresh.length;
  }

  /** Whether the open segment reached its bound and should be sealed now. */
  get full(): boolean {
    return (
      this.openBytes >= this.limits.maxSegmentBytes ||
      this.chunks.length >= this.limits.maxChunksPerSegment
    );
  }

  private async writeManifest(next: Manifest): Promise<void> {
    const key = manifestKey(this.domain, this.workspace, next.number);
    const file = encodeArchiveFile(this.identity('manifest', next.number), encodeManifest(next), {
      keyring: this.keyring,
      kdf: this.kdf,
      now: new Date(next.updatedAt),
    });
    if (!(await this.store.create(key, file))) {
      throw new ArchiveError(
        'ARCHIVE_CONFLICT',
        `${this.where(key)} exists already: another bridge writes this archive`,
      );
    }
    const previous = this.current.number - 1;
    this.current = next;
    if (previous >= 1)
      await this.store.delete([manifestKey(this.domain, this.workspace, previous)]);
  }

  /** Seals the open segment (see the class comment); nothing to do without open chunks. */
  async seal(now: Date): Promise<SealResult> {
    if (this.chunks.length === 0) return { duplicates: 0 };
    const { domain, workspace } = this;
    const maxBytes = maxFileBytes(this.limits);
    const sealed = new Set<string>();
    const messages: ArchivedMessage[] = [];
    let duplicates = 0;
    for (const chunk of this.chunks) {
      const key = chunkKey(domain, workspace, chunk.number);
      const content = await this.read('chunk', key, chunk.number, maxBytes);
      for (const message of decodeRecords(content, this.where(key))) {
        const messageId = messageKey(message);
        if (sealed.has(messageId)) {
          duplicates++;
          continue;
        }
        sealed.add(messageId);
        messages.push(message);
      }
    }
    const first = this.chunks[0]?.number ?? 1;
    const last = this.chunks.at(-1)?.number ?? first;
    const chunkKeys = this.chunks.map((chunk) => chunkKey(domain, workspace, chunk.number));
    const firstMessage = messages[0];
    const lastMessage = messages.at(-1);
    if (firstMessage === undefined || lastMessage === undefined) {
      await this.writeManifest(withChunksDiscarded(this.current, last, now));
      this.chunks = [];
      await this.store.delete(chunkKeys);
      return { duplicates };
    }
    const number = this.current.nextSegment;
    const key = segmentKey(domain, workspace, number);
    const content = encodeRecords(messages);
    const file = encodeArchiveFile(this.identity('segment', number), content, {
      keyring: this.keyring,
      kdf: this.kdf,
      now,
    });
    if (!(await this.store.create(key, file))) {
      // Left by a seal that stopped before its manifest: no manifest lists it, so it is
      // replaced by the one made now from the same chunks.
      await this.store.delete([key]);
      if (!(await this.store.create(key, file))) {
        throw new ArchiveError(
          'ARCHIVE_CONFLICT',
          `${this.where(key)} is written by another bridge`,
        );
      }
    }
    const createdAt = messages.map((message) => message.createdAt);
    const entry: SegmentEntry = {
      number,
      count: messages.length,
      firstId: firstMessage.id,
      lastId: lastMessage.id,
      firstCreatedAt: firstMessage.createdAt,
      lastCreatedAt: lastMessage.createdAt,
      minCreatedAt: Math.min(...createdAt),
      maxCreatedAt: Math.max(...createdAt),
      sealedAt: now.toISOString(),
      bytes: file.length,
      contentBytes: content.length,
      sha256: createHash('sha256').update(file).digest('hex'),
      chunks: { first, last },
    };
    await this.writeManifest(withSealedSegment(this.current, entry, now));
    this.chunks = [];
    await this.store.delete(chunkKeys);
    return { segment: entry, duplicates };
  }

  /** Applies retention to the sealed segments (never the open one); see retentionPlan. */
  async prune(rule: RetentionRule, now: Date): Promise<PruneResult> {
    const plan = retentionPlan(this.current, rule, now);
    let pruned: PrunedEntry[] = [];
    if (plan.length > 0) {
      const next = withSegmentsPruned(this.current, plan, now);
      pruned = next.pruned.slice(-plan.length);
      await this.writeManifest(next);
      await this.store.delete(
        plan.map((item) => segmentKey(this.domain, this.workspace, item.number)),
      );
    }
    // A whole archive goes when it has nothing left and nothing new came within maxAge.
    // Segments are only all gone through the age rule (keepLast is at least 1).
    const lastActivity = Math.max(
      Date.parse(this.current.createdAt),
      ...this.current.pruned.map((entry) => entry.lastCreatedAt),
    );
    if (
      rule.maxAgeMs !== undefined &&
      this.current.segments.length === 0 &&
      this.chunks.length === 0 &&
      this.current.number > 0 &&
      now.getTime() - lastActivity > rule.maxAgeMs
    ) {
      const files = await this.store.list(workspacePrefix(this.domain, this.workspace));
      // The manifests last: an interrupted removal still has a manifest to explain it.
      const manifests = files.filter((f) =>
        f.key.startsWith(manifestPrefix(this.domain, this.workspace)),
      );
      const others = files.filter((f) => !manifests.includes(f));
      await this.store.delete(others.map((f) => f.key));
      await this.store.delete(manifests.map((f) => f.key));
      return { pruned, removedArchive: true };
    }
    return { pruned, removedArchive: false };
  }
}

/** The newest manifest of a workspace that reads, with the keys of all its manifest files. */
export async function readNewestManifest(
  store: ArchiveStore,
  keyring: ArchiveKeyring,
  domain: string,
  workspace: string,
): Promise<{ manifest: Manifest; keys: string[] } | undefined> {
  const prefix = manifestPrefix(domain, workspace);
  const keys = (await store.list(prefix)).map((file) => file.key);
  const numbered = keys
    .map((key) => ({ key, number: numberOfKey(key, prefix) }))
    .filter((item): item is { key: string; number: number } => item.number !== undefined)
    .sort((a, b) => b.number - a.number);
  const newest = numbered[0];
  if (newest === undefined) return undefined;
  const file = await store.get(newest.key, MAX_MANIFEST_BYTES);
  if (file === undefined) {
    throw new ArchiveError(
      'ARCHIVE_CONFLICT',
      `${store.description} ${newest.key} vanished while read`,
    );
  }
  const where = `${store.description} ${newest.key}`;
  const { content } = decodeArchiveFile(
    file,
    keyring,
    { kind: 'manifest', domain, workspace, number: newest.number },
    MAX_MANIFEST_BYTES,
  );
  const manifest = decodeManifest(content, where);
  if (
    manifest.number !== newest.number ||
    manifest.domain !== domain ||
    manifest.workspace !== workspace
  ) {
    throw new ArchiveError(
      'ARCHIVE_TAMPERED',
      `${where} names manifest ${manifest.number} of ${manifest.domain}/${manifest.workspace}`,
    );
  }
  return { manifest, keys };
}
