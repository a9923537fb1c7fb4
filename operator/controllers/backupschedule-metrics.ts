import type { Registry } from 'prom-client';
import type { KubeObject } from '../../kube/kube-object.js';
import { getOrCreateGauge } from '../runtime/metrics.js';
import type { ObjectCache } from './context.js';

const LABELS = ['namespace', 'name', 'domain'] as const;
type Label = (typeof LABELS)[number];

/** One schedule's samples, read from what the operator wrote into its status. */
export interface BackupScheduleSamples {
  labels: Record<Label, string>;
  /** 1 while condition Ready is True. */
  ready: number;
  /** 1 when the newest recorded cycle succeeded, 0 when it failed; absent before any cycle. */
  lastCycleSucceeded?: number;
  /** Unix seconds of status.lastSuccessfulTime; absent before the first success. */
  lastSuccessSeconds?: number;
  /** Unix seconds of status.nextScheduleTime; absent while suspended. */
  nextScheduleSeconds?: number;
  suspended: number;
}

interface ScheduleShape {
  spec?: { domain?: unknown; suspend?: unknown };
  status?: {
    lastSuccessfulTime?: unknown;
    nextScheduleTime?: unknown;
    recentCycles?: { outcome?: unknown }[];
    conditions?: { type?: unknown; status?: unknown }[];
  };
}

function seconds(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms / 1000;
}

/**
 * What an alert needs about each BackupSchedule ("no successful archive for a day", "the last
 * cycle failed", "the bridge is not running"), from the objects in the informer's cache, so a
 * standby operator reports the same as the leader.
 */
export function backupScheduleSamples(schedules: readonly KubeObject[]): BackupScheduleSamples[] {
  return schedules.map((object) => {
    const { spec, status } = object as unknown as ScheduleShape;
    const newest = status?.recentCycles?.[0]?.outcome;
    const lastSuccessSeconds = seconds(status?.lastSuccessfulTime);
    const nextScheduleSeconds = seconds(status?.nextScheduleTime);
    const ready = status?.conditions?.find((condition) => condition.type === 'Ready');
    return {
      labels: {
        namespace: object.metadata.namespace ?? '',
        name: object.metadata.name,
        domain: typeof spec?.domain === 'string' ? spec.domain : '',
      },
      ready: ready?.status === 'True' ? 1 : 0,
      ...(newest === undefined ? {} : { lastCycleSucceeded: newest === 'Succeeded' ? 1 : 0 }),
      ...(lastSuccessSeconds === undefined ? {} : { lastSuccessSeconds }),
      ...(nextScheduleSeconds === undefined ? {} : { nextScheduleSeconds }),
      suspended: spec?.suspend === true ? 1 : 0,
    };
  });
}

/** Registers the BackupSchedule gauges on `registry`, computed from `schedules` at scrape time. */
export function registerBackupScheduleMetrics(registry: Registry, schedules: ObjectCache): void {
  // Registered first, so its collect (which sets the others) runs before they are read.
  getOrCreateGauge(registry, {
    name: 'grove_backupschedules',
    help: 'BackupSchedules the operator sees',
    labelNames: [],
    collect() {
      const samples = backupScheduleSamples(schedules.list());
      // reset drops the series of deleted schedules.
      for (const metric of [ready, succeeded, lastSuccess, next, suspended]) metric.reset();
      for (const sample of samples) {
        ready.set(sample.labels, sample.ready);
        suspended.set(sample.labels, sample.suspended);
        if (sample.lastCycleSucceeded !== undefined)
          succeeded.set(sample.labels, sample.lastCycleSucceeded);
        if (sample.lastSuccessSeconds !== undefined)
          lastSuccess.set(sample.labels, sample.lastSuccessSeconds);
        if (sample.nextScheduleSeconds !== undefined)
          next.set(sample.labels, sample.nextScheduleSeconds);
      }
      this.set(samples.length);
    },
  });
  const gauge = (name: string, help: string) =>
    getOrCreateGauge(registry, { name, help, labelNames: LABELS });
  const ready = gauge('grove_backupschedule_ready', '1 while the BackupSchedule is Ready');
  const succeeded = gauge(
    'grove_backupschedule_last_cycle_succeeded',
    '1 when the newest archive cycle succeeded, 0 when it failed (absent before any cycle)',
  );
  const lastSuccess = gauge(
    'grove_backupschedule_last_success_timestamp_seconds',
    'Unix time the last successful archive cycle finished (absent before the first)',
  );
  const next = gauge(
    'grove_backupschedule_next_schedule_timestamp_seconds',
    'Unix time the next scheduled archive cycle starts (absent while suspended)',
  );
  const suspended = gauge('grove_backupschedule_suspended', '1 while spec.suspend is true');
}
