import { createHash } from 'node:crypto';
import type { ArchiveStore } from '../store/archive-store.js';
import { ArchiveError, isArchiveError, type ArchiveErrorCode } from './archive-errors.js';
import { decodeArchiveFile } from './archive-file.js';
import type { ArchiveKeyring } from './archive-keys.js';
import { chunkPrefix, numberOfKey, rootKey, segmentKey } from './archive-layout.js';
import { decodeRecords, type ArchivedMessage } from './archive-record.js';
import { openArchiveRoot } from './archive-root.js';
import {
  segmentsForRestore,
  type Manifest,
  type RestorePoint,
  type SegmentEntry,
} from './manifest.js';
import { readNewestManifest } from './workspace-archive.js';

export interface ReaderLimits {
  /** Largest file read (segment or chunk), in bytes. */
  maxFileBytes: number;
}

export const DEFAULT_READER_LIMITS: ReaderLimits = { maxFileBytes: 1024 * 1024 * 1024 };

export interface Problem {
  code: ArchiveErrorCode;
  message: string;
}

export interface WorkspaceVerification {
  workspace: string;
  manifest?: number;
  segments: number;
  messages: number;
  openChunks: number;
  openMessages: number;
  bytes: number;
  problems: Problem[];
}

/**
 * Reads archives written by the bridge, with the password: what `grove archive
 * list|verify|export|restore` and the Manager's restore use. Every file is authenticated
 * before anything of it is returned, and every segment's SHA-256 is compared with its
 * manifest entry.
 */
export class ArchiveReader {
  constructor(
    private readonly store: ArchiveStore,
    private readonly keyring: ArchiveKeyring,
    private readonly limits: ReaderLimits = DEFAULT_READER_LIMITS,
  ) {}

  get description(): string {
    return this.store.description;
  }

  /** Domains with a root file in the store. */
  async domains(): Promise<string[]> {
    const found: string[] = [];
    for (const name of await this.store.folders('')) {
      if ((await this.store.list(`${name}/`)).some((file) => file.key === rootKey(name)))
        found.push(name);
    }
    return found;
  }

  /** Checks the password against the domain's root file (ARCHIVE_WRONG_PASSWORD, _NOT_FOUND). */
  async openDomain(domain: string): Promise<void> {
    await openArchiveRoot(this.store, this.keyring, domain, new Date(), false);
  }

  async workspaces(domain: string): Promise<string[]> {
    return this.store.folders(`${domain}/`);
  }

  async manifest(domain: string, workspace: string): Promise<Manifest> {
    const newest = await readNewestManifest(this.store, this.keyring, domain, workspace);
    if (newest === undefined) {
      throw new ArchiveError(
        'ARCHIVE_NOT_FOUND',
        `${this.store.description}: workspace ${workspace} of ${domain} has no archive (no manifest)`,
      );
    }
    return newest.manifest;
  }

  /** One sealed segment's messages, after its checksum and authentication. */
  async segment(
    domain: string,
    workspace: string,
    entry: SegmentEntry,
  ): Promise<ArchivedMessage[]> {
    const key = segmentKey(domain, workspace, entry.number);
    const where = `${this.store.description} ${key}`;
    const file = await this.store.get(key, this.limits.maxFileBytes);
    if (file === undefined) {
      throw new ArchiveError(
        'ARCHIVE_MISSING_SEGMENT',
        `${where} is listed in the manifest but missing`,
      );
    }
    const sha256 = createHash('sha256').update(file).digest('hex');
    if (sha256 !== entry.sha256 || file.length !== entry.bytes) {
      throw new ArchiveError(
        'ARCHIVE_TAMPERED',
        `${where}: SHA-256 ${sha256} (${file.length} bytes) differs from the manifest's ${entry.sha256} (${entry.bytes} bytes)`,
      );
    }
    const { content } = decodeArchiveFile(
      file,
      this.keyring,
      { kind: 'segment', domain, workspace, number: entry.number },
      this.limits.maxFileBytes,
    );
    const messages = [...decodeRecords(content, where)];
    const first = messages[0];
    const last = messages.at(-1);
    if (
      messages.length !== entry.count ||
      first?.id !== entry.firstId ||
      last?.id !== entry.lastId
    ) {
      throw new ArchiveError('ARCHIVE_TAMPERED', `${where} does not hold what the manifest says`);
    }
    return messages;
  }

  /**
   * The messages of a restore, oldest first: the sealed segments up to the point (a segment
   * number, or a time: createdAt ≤ until). The open segment is not part of any restore.
   */
  async *messages(
    domain: string,
    workspace: string,
    point: RestorePoint,
  ): AsyncGenerator<ArchivedMessage> {
    const manifest = await this.manifest(domain, workspace);
    for (const entry of segmentsForRestore(manifest, point)) {
      for (const message of await this.segment(domain, workspace, entry)) {
        if (typeof point === 'object' && 'until' in point && message.createdAt > point.until)
          continue;
        yield message;
      }
    }
  }

  /** Checks a workspace's archive through and through; problems are collected, not thrown. */
  async verifyWorkspace(domain: string, workspace: string): Promise<WorkspaceVerification> {
    const report: WorkspaceVerification = {
      workspace,
      segments: 0,
      messages: 0,
      openChunks: 0,
      openMessages: 0,
      bytes: 0,
      problems: [],
    };
    const note = (error: unknown): void => {
      if (isArchiveError(error)) report.problems.push({ code: error.code, message: error.message });
      else throw error;
    };
    let manifest: Manifest;
    try {
      manifest = await this.manifest(domain, workspace);
    } catch (error) {
      note(error);
      return report;
    }
    report.manifest = manifest.number;
    for (const entry of manifest.segments) {
      try {
        const messages = await this.segment(domain, workspace, entry);
        report.segments++;
        report.messages += messages.length;
        report.bytes += entry.bytes;
      } catch (error) {
        note(error);
      }
    }
    const prefix = chunkPrefix(domain, workspace);
    for (const file of await this.store.list(prefix)) {
      const number = numberOfKey(file.key, prefix);
      if (number === undefined || number <= manifest.sealedThroughChunk) continue;
      try {
        const bytes = await this.store.get(file.key, this.limits.maxFileBytes);
        if (bytes === undefined) continue;
        const { content } = decodeArchiveFile(
          bytes,
          this.keyring,
          { kind: 'chunk', domain, workspace, number },
          this.limits.maxFileBytes,
        );
        report.openChunks++;
        report.openMessages += [
          ...decodeRecords(content, `${this.store.description} ${file.key}`),
        ].length;
        report.bytes += bytes.length;
      } catch (error) {
        note(error);
      }
    }
    return report;
  }
}
