import type { ReceivedMessage } from '../../client/sdk/grove-client.js';
import type { Logger } from '../../contracts/logger.js';
import { isArchiveError } from '../archive/archive-errors.js';
import type { ArchivedMessage } from '../archive/archive-record.js';
import type { DomainArchive } from '../archive/domain-archive.js';
import type { BridgeMetrics } from './bridge-metrics.js';

export interface ArchiverOptions {
  /** A flush starts once this many messages wait (default 128: half the relay's in-flight window). */
  flushMessages: number;
  /** …or this long after the first one arrived (default 50 ms). */
  flushDelayMs: number;
  /** receive() waits (the relay stops sending) while this many bytes wait (default 64 MiB). */
  maxBufferedBytes: number;
  /** Workspaces archived; undefined: every workspace a message is addressed to. */
  workspaces?: ReadonlySet<string> | undefined;
  /** Backoff of a failed flush: first and largest delay (default 500 ms … 30 s). */
  retry: { initialMs: number; maxMs: number };
}

export const DEFAULT_ARCHIVER_OPTIONS: ArchiverOptions = {
  flushMessages: 128,
  flushDelayMs: 50,
  maxBufferedBytes: 64 * 1024 * 1024,
  retry: { initialMs: 500, maxMs: 30_000 },
};

interface Entry {
  message: ReceivedMessage;
  workspaces: string[];
  bytes: number;
}

/**
 * Takes messages from the SDK (ackMode 'explicit'), writes them in batches as chunks of their
 * workspaces' open segments, and acknowledges a batch to the relay only once every chunk of it
 * is durable. A failed write keeps the batch and tries it again with backoff, acknowledging
 * nothing meanwhile (the relay keeps the messages); a crash loses only unacknowledged
 * messages, which the relay delivers again and the archive skips if it has them.
 *
 * Flushes and archive cycles run one at a time (`exclusive`), so a cycle seals exactly what was
 * acknowledged before it.
 */
export class Archiver {
  private buffer: Entry[] = [];
  private bufferedBytes = 0;
  private flushTimer: NodeJS.Timeout | undefined;
  private flushQueued = false;
  private failures = 0;
  private lock: Promise<unknown> = Promise.resolve();
  private spaceWaiters: (() => void)[] = [];
  private stopped = false;
  /** The last store failure, until a flush succeeds: readiness and status show it. */
  lastError: { code: string; message: string } | undefined;

  constructor(
    private readonly archive: DomainArchive,
    private readonly acknowledge: (message: ReceivedMessage) => void,
    private readonly metrics: BridgeMetrics,
    private readonly log: Logger,
    private readonly clock: () => Date = () => new Date(),
    private readonly options: ArchiverOptions = DEFAULT_ARCHIVER_OPTIONS,
  ) {}

  get bufferedMessages(): number {
    return this.buffer.length;
  }

  /** The SDK's onMessage: buffers the message; waits while the buffer is over its bound. */
  async receive(message: ReceivedMessage): Promise<void> {
    this.metrics.received.inc();
    const workspaces = [
      ...new Set(
        message.to
          .filter((address) => address.startsWith('workspace:'))
          .map((address) => address.slice('workspace:'.length))
          .filter((workspace) => this.options.workspaces?.has(workspace) ?? true),
      ),
    ];
    const bytes = message.data.length + 512;
    this.buffer.push({ message, workspaces, bytes });
    this.bufferedBytes += bytes;
    this.metrics.buffered.set(this.buffer.length);
    this.scheduleFlush();
    while (this.bufferedBytes >= this.options.maxBufferedBytes && !this.stopped) {
      await new Promise<void>((resolve) => this.spaceWaiters.push(resolve));
    }
  }

  private scheduleFlush(delayMs?: number): void {
    if (this.flushQueued || this.stopped) return;
    const delay =
      delayMs ?? (this.buffer.length >= this.options.flushMessages ? 0 : this.options.flushDelayMs);
    this.flushQueued = true;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      void this.exclusive(async () => {
        this.flushQueued = false;
        await this.flushBuffered();
      });
    }, delay);
  }

  /** Runs `task` when no flush or cycle runs; later flushes wait for it. */
  exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.lock.then(task, task);
    this.lock = run.catch(() => undefined);
    return run;
  }

  /**
   * Writes every buffered message (inside `exclusive`). Never throws: a failure is logged,
   * kept in `lastError` and retried with backoff; resolves false then.
   */
  async flushBuffered(): Promise<boolean> {
    while (this.buffer.length > 0) {
      const batch = this.buffer.slice();
      const started = process.hrtime.bigint();
      try {
        await this.write(batch);
      } catch (error) {
        this.failures++;
        this.metrics.chunkWrites.inc({ outcome: 'failed' });
        const delay = Math.min(
          this.options.retry.maxMs,
          this.options.retry.initialMs * 2 ** Math.min(this.failures - 1, 16),
        );
        const code = isArchiveError(error) ? error.code : 'INTERNAL';
        this.lastError = { code, message: (error as Error).message };
        this.log.error('archive write failed; nothing acknowledged, retrying', {
          code,
          error: (error as Error).message,
          messages: batch.length,
          retryInMs: delay,
        });
        this.scheduleFlush(delay);
        return false;
      }
      if (this.failures > 0) this.log.info('archive writes work again', { after: this.failures });
      this.failures = 0;
      this.lastError = undefined;
      this.buffer.splice(0, batch.length);
      this.bufferedBytes -= batch.reduce((sum, entry) => sum + entry.bytes, 0);
      const last = batch.at(-1);
      if (last !== undefined) this.acknowledge(last.message);
      this.metrics.acknowledged.inc(batch.length);
      this.metrics.buffered.set(this.buffer.length);
      this.metrics.flushSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
      for (const wake of this.spaceWaiters.splice(0)) wake();
    }
    return true;
  }

  private async write(batch: readonly Entry[]): Promise<void> {
    const now = this.clock();
    const byWorkspace = new Map<string, ArchivedMessage[]>();
    for (const { message, workspaces } of batch) {
      if (workspaces.length === 0) continue;
      const archived: ArchivedMessage = {
        id: message.id,
        from: { identity: message.from.identity, device: message.from.device },
        to: [...message.to],
        createdAt: message.createdAt,
        archivedAt: now.getTime(),
        data: message.data,
      };
      for (const workspace of workspaces) {
        const list = byWorkspace.get(workspace) ?? [];
        list.push(archived);
        byWorkspace.set(workspace, list);
      }
    }
    const ignored = batch.filter((entry) => entry.workspaces.length === 0).length;
    // Workspaces side by side, a few at a time: one slow object store call does not stall all.
    const pending = [...byWorkspace.entries()];
    const worker = async (): Promise<void> => {
      for (let item = pending.shift(); item !== undefined; item = pending.shift()) {
        const [workspace, messages] = item;
        const archive = await this.archive.workspace(workspace);
        const fresh = await archive.append(messages, now);
        this.metrics.archived.inc(fresh);
        this.metrics.duplicates.inc(messages.length - fresh);
        if (fresh > 0) this.metrics.chunkWrites.inc({ outcome: 'written' });
        if (archive.full) {
          // The open segment reached its bound: sealed now rather than at the cycle.
          const sealed = await archive.seal(now);
          if (sealed.segment !== undefined) {
            this.metrics.segmentsSealed.inc();
            this.log.info('segment sealed at its size bound', {
              workspace,
              segment: sealed.segment.number,
            });
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(8, pending.length) }, worker));
    // Counted once the whole batch is durable: a retried batch is not counted twice.
    this.metrics.ignored.inc(ignored);
  }

  /** Stops taking messages; a last flush is the caller's (exclusive(flushBuffered)). */
  stop(): void {
    this.stopped = true;
    if (this.flushTimer !== undefined) clearTimeout(this.flushTimer);
    for (const wake of this.spaceWaiters.splice(0)) wake();
  }
}
