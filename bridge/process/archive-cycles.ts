import type { Logger } from '../../contracts/logger.js';
import { isArchiveError } from '../archive/archive-errors.js';
import type { DomainArchive } from '../archive/domain-archive.js';
import type { RetentionRule } from '../archive/manifest.js';
import type { Archiver } from './archiver.js';
import type { BridgeMetrics } from './bridge-metrics.js';

export type CycleTrigger = 'schedule' | 'immediate' | 'manual';

/** One archive cycle, as the bridge reports it (GET /v1/status; the operator copies it). */
export interface CycleReport {
  trigger: CycleTrigger;
  startedAt: string;
  finishedAt: string;
  outcome: 'Succeeded' | 'Failed';
  workspaces: number;
  segmentsSealed: number;
  messagesSealed: number;
  bytesSealed: number;
  segmentsPruned: number;
  archivesRemoved: number;
  /** Workspaces that failed, each with its error (the first 10). */
  errors: { workspace: string; code: string; message: string }[];
}

const MAX_ERRORS = 10;

/**
 * An archive cycle: the buffered messages are written, then every workspace's open segment is
 * sealed and retention applied, one workspace after another. A workspace that fails (store
 * down, tampered file) is reported and left as it is; the others go on. Runs inside the
 * archiver's `exclusive`, so no chunk is written while segments are sealed.
 */
export async function runArchiveCycle(
  trigger: CycleTrigger,
  deps: {
    archive: DomainArchive;
    archiver: Archiver;
    retention: RetentionRule;
    metrics: BridgeMetrics;
    log: Logger;
    clock: () => Date;
  },
): Promise<CycleReport> {
  const { archive, archiver, retention, metrics, log, clock } = deps;
  return archiver.exclusive(async () => {
    const startedAt = clock();
    const report: CycleReport = {
      trigger,
      startedAt: startedAt.toISOString(),
      finishedAt: startedAt.toISOString(),
      outcome: 'Succeeded',
      workspaces: 0,
      segmentsSealed: 0,
      messagesSealed: 0,
      bytesSealed: 0,
      segmentsPruned: 0,
      archivesRemoved: 0,
      errors: [],
    };
    const fail = (workspace: string, error: unknown): void => {
      report.outcome = 'Failed';
      if (report.errors.length < MAX_ERRORS) {
        report.errors.push({
          workspace,
          code: isArchiveError(error) ? error.code : 'INTERNAL',
          message: (error as Error).message,
        });
      }
    };
    log.info('archive cycle started', { trigger });
    if (!(await archiver.flushBuffered())) {
      // The store refused the buffered messages: the same failure goes for the cycle.
      report.outcome = 'Failed';
      report.errors.push({
        workspace: '',
        code: archiver.lastError?.code ?? 'INTERNAL',
        message: `buffered messages could not be written: ${archiver.lastError?.message ?? ''}`,
      });
    }
    let workspaces: string[] = [];
    try {
      workspaces = await archive.workspaces();
    } catch (error) {
      fail('', error);
    }
    for (const workspace of workspaces) {
      try {
        const archiveOfWorkspace = await archive.workspace(workspace);
        report.workspaces++;
        const now = clock();
        const sealed = await archiveOfWorkspace.seal(now);
        if (sealed.segment !== undefined) {
          report.segmentsSealed++;
          report.messagesSealed += sealed.segment.count;
          report.bytesSealed += sealed.segment.bytes;
          metrics.segmentsSealed.inc();
        }
        const pruned = await archiveOfWorkspace.prune(retention, now);
        report.segmentsPruned += pruned.pruned.length;
        for (const entry of pruned.pruned) metrics.segmentsPruned.inc({ reason: entry.reason });
        if (pruned.removedArchive) {
          report.archivesRemoved++;
          archive.forget(workspace);
        }
      } catch (error) {
        fail(workspace, error);
      }
    }
    const finishedAt = clock();
    report.finishedAt = finishedAt.toISOString();
    metrics.cycles.inc({ trigger, outcome: report.outcome });
    metrics.cycleSeconds.observe((finishedAt.getTime() - startedAt.getTime()) / 1000);
    if (report.outcome === 'Succeeded') {
      metrics.lastSuccess.set(finishedAt.getTime() / 1000);
      log.info('archive cycle succeeded', { ...report, errors: undefined });
    } else {
      log.error('archive cycle failed', { ...report });
    }
    return report;
  });
}
