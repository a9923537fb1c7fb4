import {
  backupScheduleSchema,
  validateBackupSchedule,
  type BackupSchedule,
  type BackupScheduleStatus,
} from '../../crds/backupschedule.js';
import { CycleSchedule } from '../../bridge/process/cycle-schedule.js';
import type { KubeObject } from '../../kube/kube-object.js';
import { resourceTypes } from '../../kube/resource-types.js';
import {
  BRIDGE_DEVICE_KEY,
  bridgeNames,
  bridgeSelection,
  buildBridgeChildren,
  buildBridgeDeviceSecret,
} from '../builders/bridge/index.js';
import type { ConditionUpdate } from '../builders/conditions.js';
import type { ReconcileResult } from '../runtime/controller.js';
import {
  bridgeServiceAccountIn,
  type BridgeCycle,
  type BridgeDeps,
  type BridgeStatus,
} from './backupschedule-bridge.js';
import { domainExists } from './cache-queries.js';
import { applyChildren, pruneChildren } from './child-objects.js';
import type { ReconcileContext, Reconciler } from './context.js';
import { describeError, isOwnedBy, loadForReconcile, writeStatus } from './reconcile-helpers.js';

/** Annotation of the device Secret: the workspace selection last registered with the Manager. */
const SELECTION_ANNOTATION = 'grove.dev/bridge-selection';
const RECENT_CYCLES = 10;
/** How often a schedule's bridge status is read again (cycles are not watched events). */
export const DEFAULT_BRIDGE_POLL_MS = 30_000;

type Cycle = NonNullable<BackupScheduleStatus['recentCycles']>[number];

/** A bridge's cycle report as a status entry: counts, and the first failure in one line. */
export function cycleEntry(report: BridgeCycle): Cycle {
  const first = report.errors[0];
  return {
    trigger: report.trigger,
    startedAt: report.startedAt,
    finishedAt: report.finishedAt,
    outcome: report.outcome,
    workspaces: report.workspaces,
    segmentsSealed: report.segmentsSealed,
    messagesSealed: report.messagesSealed,
    bytesSealed: report.bytesSealed,
    segmentsPruned: report.segmentsPruned,
    ...(first === undefined
      ? {}
      : { error: `${first.workspace}: ${first.code}: ${first.message}`.slice(0, 1024) }),
  };
}

const later = (a: string | undefined, b: string | undefined): string | undefined =>
  a === undefined ? b : b === undefined ? a : Date.parse(a) >= Date.parse(b) ? a : b;

/**
 * The schedule's status from what it said before and what its bridge says now. The bridge
 * keeps its cycles in memory: after it restarts the operator's copy is what remains, so the
 * two are merged (cycles by start time, newest first; times: the later one).
 */
export function mergeBridgeStatus(
  previous: BackupScheduleStatus | undefined,
  bridge: BridgeStatus | undefined,
): {
  lastScheduleTime?: string;
  lastSuccessfulTime?: string;
  recentCycles: Cycle[];
  newCycles: Cycle[];
} {
  const old = previous?.recentCycles ?? [];
  const known = new Set(old.map((cycle) => cycle.startedAt));
  const fresh = (bridge?.recent ?? []).map(cycleEntry).filter((c) => !known.has(c.startedAt));
  const recentCycles = [...fresh, ...old]
    .sort((a, b) => Date.parse(b.startedAt) - Date.parse(a.startedAt))
    .slice(0, RECENT_CYCLES);
  const lastScheduleTime = later(previous?.lastScheduleTime, bridge?.lastScheduleTime);
  const lastSuccessfulTime = later(previous?.lastSuccessfulTime, bridge?.lastSuccessfulTime);
  return {
    ...(lastScheduleTime === undefined ? {} : { lastScheduleTime }),
    ...(lastSuccessfulTime === undefined ? {} : { lastSuccessfulTime }),
    recentCycles,
    newCycles: fresh,
  };
}

function lastCycleCondition(cycles: readonly Cycle[]): ConditionUpdate {
  const newest = cycles[0];
  if (newest === undefined) {
    return {
      type: 'LastCycleSucceeded',
      status: 'Unknown',
      reason: 'NoCycleYet',
      message: 'no archive cycle has run yet',
    };
  }
  const counts = `${String(newest.messagesSealed)} messages in ${String(newest.segmentsSealed)} segments`;
  return newest.outcome === 'Succeeded'
    ? {
        type: 'LastCycleSucceeded',
        status: 'True',
        reason: 'CycleSucceeded',
        message: `the ${newest.trigger} cycle of ${newest.startedAt} sealed ${counts}`,
      }
    : {
        type: 'LastCycleSucceeded',
        status: 'False',
        reason: 'CycleFailed',
        message: `the ${newest.trigger} cycle of ${newest.startedAt} failed: ${newest.error ?? 'unknown error'}`,
      };
}

/** The schedule that runs a Domain's bridge: the oldest one naming it (then by name). */
function owningSchedule(ctx: ReconcileContext, namespace: string | undefined, domain: string) {
  return ctx.caches.backupSchedules
    .list(namespace)
    .filter(
      (object) =>
        object.metadata.deletionTimestamp === undefined &&
        (object.spec as { domain?: unknown } | undefined)?.domain === domain,
    )
    .sort(
      (a, b) =>
        (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '') ||
        a.metadata.name.localeCompare(b.metadata.name),
    )[0];
}

/**
 * The device Secret of the Domain's bridge: read by name; when missing (or left by another
 * schedule), a device of the bridge identity is enrolled through the Manager and its key
 * written here, and nowhere else. The Manager is told the workspace selection again whenever
 * it changed. Returns the device id.
 */
async function ensureBridgeDevice(
  ctx: ReconcileContext,
  deps: BridgeDeps,
  object: KubeObject,
  schedule: BackupSchedule,
): Promise<string> {
  const { domain } = schedule.spec;
  const name = bridgeNames(domain).deviceSecret;
  const namespace = object.metadata.namespace;
  const selection = bridgeSelection(schedule);
  const selectionText = JSON.stringify(selection);
  const existing = await ctx.api.get(resourceTypes.secrets, namespace, name);
  const stored = (existing as { data?: Record<string, string> } | undefined)?.data?.[
    BRIDGE_DEVICE_KEY
  ];
  if (existing !== undefined && stored !== undefined && isOwnedBy(existing, object)) {
    const key = JSON.parse(Buffer.from(stored, 'base64').toString('utf8')) as { deviceId: string };
    if (existing.metadata.annotations?.[SELECTION_ANNOTATION] !== selectionText) {
      await deps.register(domain, selection);
      // Secrets are only read and written by name (no patch, list or watch in the chart's RBAC).
      await ctx.api.replace(resourceTypes.secrets, {
        ...existing,
        metadata: {
          ...existing.metadata,
          annotations: { ...existing.metadata.annotations, [SELECTION_ANNOTATION]: selectionText },
        },
      });
      ctx.events.record(
        object,
        'Normal',
        'BridgeWorkspacesChanged',
        `told the Manager the workspaces of ${domain} to archive: ${selectionText}`,
      );
    }
    return key.deviceId;
  }
  await deps.register(domain, selection);
  const key = await deps.enroll(domain, `bridge-${object.metadata.name}`);
  const secret = buildBridgeDeviceSecret(schedule, key);
  secret.metadata.annotations = { [SELECTION_ANNOTATION]: selectionText };
  if (existing === undefined) {
    await ctx.api.create(resourceTypes.secrets, secret);
  } else {
    // A conflict (409) throws: the retry reads the Secret again.
    secret.metadata.resourceVersion = existing.metadata.resourceVersion;
    await ctx.api.replace(resourceTypes.secrets, secret);
  }
  ctx.events.record(
    object,
    'Normal',
    'BridgeEnrolled',
    `enrolled bridge device ${key.deviceId} of ${domain} through the Manager; its key is in Secret ${name}`,
  );
  return key.deviceId;
}

async function notRunning(
  ctx: ReconcileContext,
  object: KubeObject,
  reason: string,
  message: string,
): Promise<ReconcileResult> {
  const status = object.status as BackupScheduleStatus | undefined;
  await writeStatus(
    ctx,
    object,
    {
      ...(status?.lastScheduleTime === undefined
        ? {}
        : { lastScheduleTime: status.lastScheduleTime }),
      ...(status?.lastSuccessfulTime === undefined
        ? {}
        : { lastSuccessfulTime: status.lastSuccessfulTime }),
      ...(status?.recentCycles === undefined ? {} : { recentCycles: status.recentCycles }),
    },
    [{ type: 'Ready', status: 'False', reason, message }],
    ['Paused'],
  );
  return undefined;
}

/**
 * BackupSchedule → the Data Bridge of its Domain (one per Domain, so one device and one
 * archive per Domain): device Secret enrolled through the Manager, Deployment and Service;
 * status copied from the bridge's /v1/status (cycles, times), conditions Ready and
 * LastCycleSucceeded, an Event per finished cycle.
 */
export function backupScheduleReconciler(
  deps: BridgeDeps | undefined,
  pollMs = DEFAULT_BRIDGE_POLL_MS,
): Reconciler {
  return async (ctx, namespace, name) => {
    const loaded = await loadForReconcile(
      ctx,
      ctx.caches.backupSchedules,
      namespace,
      name,
      backupScheduleSchema,
      validateBackupSchedule,
    );
    if (loaded === undefined) return undefined;
    const { object, value: schedule } = loaded;
    const domain = schedule.spec.domain;
    if (!domainExists(ctx, namespace, domain)) {
      return notRunning(
        ctx,
        object,
        'DomainNotFound',
        `Domain "${domain}" not found in namespace ${namespace ?? ''}: create it or fix spec.domain`,
      );
    }
    const owner = owningSchedule(ctx, namespace, domain);
    if (owner !== undefined && owner.metadata.uid !== object.metadata.uid) {
      return notRunning(
        ctx,
        object,
        'DomainAlreadyScheduled',
        `BackupSchedule "${owner.metadata.name}" already archives Domain "${domain}" (one bridge and one archive per Domain): delete one of them`,
      );
    }
    if (deps === undefined) {
      return notRunning(
        ctx,
        object,
        'ManagerNotConfigured',
        'the operator was started without --manager-url and a Manager admin token: it cannot enroll the bridge device',
      );
    }
    let deviceId: string;
    try {
      deviceId = await ensureBridgeDevice(ctx, deps, object, schedule);
    } catch (error) {
      ctx.log.warn('could not enroll the Data Bridge device', {
        schedule: `${namespace ?? ''}/${name}`,
        error: describeError(error),
      });
      await notRunning(
        ctx,
        object,
        'EnrollmentFailed',
        `enrolling the bridge device through the Manager failed: ${describeError(error)}`,
      );
      return { requeueAfterMs: Math.min(pollMs, 10_000) };
    }
    const serviceAccountName = bridgeServiceAccountIn(deps, namespace ?? '');
    const desired = buildBridgeChildren({
      schedule,
      image: ctx.settings.image,
      deviceId,
      ...(ctx.settings.groveNamespaces === undefined
        ? {}
        : { groveNamespaces: ctx.settings.groveNamespaces }),
      ...(serviceAccountName === undefined ? {} : { serviceAccountName }),
    });
    const applied = await applyChildren(ctx, object, desired);
    await pruneChildren(ctx, object, desired, [`Secret/${bridgeNames(domain).deviceSecret}`]);
    const names = bridgeNames(domain);
    const deployment = applied.get(`Deployment/${names.deployment}`);
    const ready =
      ((deployment?.status as { readyReplicas?: number } | undefined)?.readyReplicas ?? 0) >= 1;

    let bridge: BridgeStatus | undefined;
    let unreachable: string | undefined;
    try {
      bridge = await deps.status(namespace ?? '', names.service);
    } catch (error) {
      unreachable = describeError(error);
    }
    const previous = object.status as BackupScheduleStatus | undefined;
    const merged = mergeBridgeStatus(previous, bridge);
    for (const cycle of [...merged.newCycles].reverse()) {
      const counts = `${String(cycle.messagesSealed)} messages in ${String(cycle.segmentsSealed)} segments of ${String(cycle.workspaces)} workspaces`;
      if (cycle.outcome === 'Succeeded') {
        ctx.events.record(
          object,
          'Normal',
          'CycleSucceeded',
          `${cycle.trigger} archive cycle sealed ${counts}`,
        );
      } else {
        ctx.events.record(
          object,
          'Warning',
          'CycleFailed',
          `${cycle.trigger} archive cycle failed: ${cycle.error ?? 'unknown error'}`,
        );
      }
    }
    let nextScheduleTime = bridge?.nextScheduleTime;
    if (nextScheduleTime === undefined && !schedule.spec.suspend) {
      nextScheduleTime = new CycleSchedule(schedule.spec.schedule, schedule.spec.timeZone ?? 'UTC')
        .next(ctx.now())
        ?.toISOString();
    }
    if (schedule.spec.suspend) nextScheduleTime = undefined;
    const readyCondition: ConditionUpdate =
      ready && bridge !== undefined
        ? {
            type: 'Ready',
            status: 'True',
            reason: 'BridgeReady',
            message: `Data Bridge ${names.deployment} is running${bridge.connected ? '' : ' (no relay connection)'}`,
          }
        : {
            type: 'Ready',
            status: 'False',
            reason: ready ? 'BridgeUnreachable' : 'BridgeStarting',
            message: ready
              ? `the status of Data Bridge ${names.deployment} cannot be read: ${unreachable ?? ''}`
              : `Data Bridge ${names.deployment} has no ready pod yet`,
          };
    const fields = {
      bridge: names.deployment,
      ...(merged.lastScheduleTime === undefined
        ? {}
        : { lastScheduleTime: merged.lastScheduleTime }),
      ...(merged.lastSuccessfulTime === undefined
        ? {}
        : { lastSuccessfulTime: merged.lastSuccessfulTime }),
      ...(nextScheduleTime === undefined ? {} : { nextScheduleTime }),
      ...(merged.recentCycles.length === 0 ? {} : { recentCycles: merged.recentCycles }),
    };
    await writeStatus(
      ctx,
      object,
      fields,
      [readyCondition, lastCycleCondition(merged.recentCycles)],
      ['Paused'],
    );
    return { requeueAfterMs: pollMs };
  };
}
