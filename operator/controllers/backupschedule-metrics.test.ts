import { describe, expect, it } from '@jest/globals';
import { Registry } from 'prom-client';
import type { KubeObject } from '../../kube/kube-object.js';
import { backupScheduleSamples, registerBackupScheduleMetrics } from './backupschedule-metrics.js';

function schedule(name: string, extra: { spec?: object; status?: object }): KubeObject {
  return {
    apiVersion: 'grove.dev/v1alpha1',
    kind: 'BackupSchedule',
    metadata: { name, namespace: 'grove' },
    spec: { domain: `${name}-domain`, ...extra.spec },
    ...(extra.status === undefined ? {} : { status: extra.status }),
  };
}

const failing = schedule('nightly', {
  status: {
    lastSuccessfulTime: '2026-12-01T02:30:05Z',
    nextScheduleTime: '2026-12-05T02:30:00Z',
    recentCycles: [{ outcome: 'Failed' }, { outcome: 'Succeeded' }],
    conditions: [{ type: 'Ready', status: 'True' }],
  },
});
const fresh = schedule('new', { spec: { suspend: true } });

describe('BackupSchedule metrics', () => {
  it('reads readiness, the newest cycle, the last success and the next run from the status', () => {
    expect(backupScheduleSamples([failing, fresh])).toEqual([
      {
        labels: { namespace: 'grove', name: 'nightly', domain: 'nightly-domain' },
        ready: 1,
        lastCycleSucceeded: 0,
        lastSuccessSeconds: Date.parse('2026-12-01T02:30:05Z') / 1000,
        nextScheduleSeconds: Date.parse('2026-12-05T02:30:00Z') / 1000,
        suspended: 0,
      },
      // Before any cycle there is no outcome or success to report, rather than a false 0.
      { labels: { namespace: 'grove', name: 'new', domain: 'new-domain' }, ready: 0, suspended: 1 },
    ]);
  });

  it('serves the current schedules at each scrape and forgets deleted ones', async () => {
    const registry = new Registry();
    let objects = [failing, fresh];
    registerBackupScheduleMetrics(registry, { get: () => undefined, list: () => objects });
    const first = await registry.metrics();
    expect(first).toContain('grove_backupschedules 2');
    expect(first).toContain(
      'grove_backupschedule_last_cycle_succeeded{namespace="grove",name="nightly",domain="nightly-domain"} 0',
    );
    expect(first).toContain(
      'grove_backupschedule_suspended{namespace="grove",name="new",domain="new-domain"} 1',
    );
    objects = [fresh];
    const second = await registry.metrics();
    expect(second).toContain('grove_backupschedules 1');
    expect(second).not.toContain('name="nightly"');
  });
});
