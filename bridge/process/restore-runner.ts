import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Logger } from '../../contracts/logger.js';
import { isArchiveError } from '../archive/archive-errors.js';
import type { ArchiveReader } from '../archive/archive-reader.js';
import type { ArchivedMessage } from '../archive/archive-record.js';
import type { RestorePoint } from '../archive/manifest.js';

/** A restore job as the Manager hands it to the bridge (manager/bridge/bridge-model.ts). */
export const restoreJobSchema = z.looseObject({
  id: z.string().regex(/^[0-9A-Z]{26}$/),
  domain: z.string(),
  sourceWorkspace: z.string(),
  newWorkspace: z.string(),
  owner: z.string(),
  segment: z.int().min(1).optional(),
  until: z.int().min(0).optional(),
  state: z.enum(['pending', 'running', 'succeeded', 'failed']),
  delivered: z.int().min(0),
});
export type RestoreJobForBridge = z.infer<typeof restoreJobSchema>;

export interface RestoreProgress {
  state: 'running' | 'succeeded' | 'failed';
  delivered: number;
  total?: number;
  senders?: string[];
  error?: { code: string; message: string };
}

/** What a restore needs: the Manager's restore routes, the archive, and a way to send. */
export interface RestoreDeps {
  domain: string;
  reader: ArchiveReader;
  pending(): Promise<RestoreJobForBridge[]>;
  report(id: string, progress: RestoreProgress): Promise<void>;
  send(to: string[], data: Buffer, id: string): Promise<unknown>;
  log: Logger;
  /** Progress is reported at most this often (and at the end). */
  reportEveryMs: number;
}

/** Senders listed to the Manager at most (they become suspended members). */
const MAX_SENDERS = 10_000;

export function restorePointOfJob(
  job: Pick<RestoreJobForBridge, 'segment' | 'until'>,
): RestorePoint {
  if (job.segment !== undefined) return { throughSegment: job.segment };
  if (job.until !== undefined) return { until: job.until };
  return 'latest';
}

/**
 * The id a restored message is sent with: the same for the same job and archived message, so
 * sending it again after a crash is a duplicate the relay drops, never a second delivery.
 */
export function restoredMessageId(
  jobId: string,
  message: Pick<ArchivedMessage, 'id' | 'from'>,
): string {
  const digest = createHash('sha256')
    .update(`${jobId}\n${message.from.device}\n${message.id}`)
    .digest('base64url');
  return `r.${digest.slice(0, 40)}`;
}

/**
 * Runs the restores the Manager assigns to this bridge, one at a time: the archived messages of
 * the source workspace up to the restore point, oldest first, each sent to the new workspace
 * (whose only other member is its owner) and awaited before the next, so they arrive in
 * order. A job found `running` (the bridge died during it) resumes after the messages it
 * reported delivered; the message in flight then is sent again with the same id.
 */
export class RestoreRunner {
  private busy: Promise<void> | undefined;

  constructor(private readonly deps: RestoreDeps) {}

  /** Takes the pending jobs now; a call while jobs run waits for those. */
  poll(): Promise<void> {
    this.busy ??= this.runPending().finally(() => (this.busy = undefined));
    return this.busy;
  }

  private async runPending(): Promise<void> {
    for (const job of await this.deps.pending()) {
      if (job.domain !== this.deps.domain) continue;
      await this.run(job);
    }
  }

  async run(job: RestoreJobForBridge): Promise<void> {
    const { log } = this.deps;
    const skip = job.state === 'running' ? job.delivered : 0;
    let delivered = skip;
    let index = 0;
    const senders = new Set<string>();
    let lastReport = Date.now();
    log.info('restore started', {
      restore: job.id,
      source: job.sourceWorkspace,
      to: job.newWorkspace,
      resumeAfter: skip,
    });
    try {
      await this.deps.report(job.id, { state: 'running', delivered });
      for await (const message of this.deps.reader.messages(
        this.deps.domain,
        job.sourceWorkspace,
        restorePointOfJob(job),
      )) {
        index++;
        if (senders.size < MAX_SENDERS) senders.add(message.from.identity);
        if (index <= skip) continue;
        await this.deps.send(
          [`workspace:${job.newWorkspace}`],
          message.data,
          restoredMessageId(job.id, message),
        );
        delivered++;
        if (Date.now() - lastReport >= this.deps.reportEveryMs) {
          lastReport = Date.now();
          await this.deps.report(job.id, { state: 'running', delivered, senders: [...senders] });
        }
      }
      await this.deps.report(job.id, {
        state: 'succeeded',
        delivered,
        total: index,
        senders: [...senders],
      });
      log.info('restore finished', { restore: job.id, delivered });
    } catch (error) {
      const code = isArchiveError(error) ? error.code : 'ARCHIVE_RESTORE_FAILED';
      const message = (error as Error).message.slice(0, 2000);
      log.error('restore failed', { restore: job.id, code, error: message, delivered });
      await this.deps
        .report(job.id, { state: 'failed', delivered, error: { code, message } })
        .catch((reportError: unknown) =>
          log.warn('could not report the failed restore', {
            restore: job.id,
            error: (reportError as Error).message,
          }),
        );
    }
  }
}
