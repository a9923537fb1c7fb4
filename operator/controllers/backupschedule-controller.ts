import { backupScheduleSchema, validateBackupSchedule } from '../../crds/backupschedule.js';
import type { ReconcileResult } from '../runtime/controller.js';
import { domainExists } from './cache-queries.js';
import type { ReconcileContext } from './context.js';
import { loadForReconcile, writeStatus } from './reconcile-helpers.js';

/**
 * BackupSchedule → validated, and checked against its Domain. Running the backups is the
 * Data Bridge's job, which is not part of this release: the status says so rather than
 * pretending to be Ready.
 */
export async function reconcileBackupSchedule(
  ctx: ReconcileContext,
  namespace: string | undefined,
  name: string,
): Promise<ReconcileResult> {
  const loaded = await loadForReconcile(
    ctx,
    ctx.caches.backupSchedules,
    namespace,
    name,
    backupScheduleSchema,
    validateBackupSchedule,
  );
  if (loaded === undefined) return undefined;
  const { object } = loaded;
  const domain = loaded.value.spec.domain;
  const exists = domainExists(ctx, namespace, domain);
  await writeStatus(
    ctx,
    object,
    {},
    [
      exists
        ? {
            type: 'Ready',
            status: 'False',
            reason: 'AwaitingDataBridge',
            message:
              'spec is valid; backups start once the Data Bridge is deployed (not in this release)',
          }
        : {
            type: 'Ready',
            status: 'False',
            reason: 'DomainNotFound',
            message: `Domain "${domain}" not found in namespace ${namespace ?? ''}: create it or fix spec.domain`,
          },
    ],
    ['Paused'],
  );
  return undefined;
}
