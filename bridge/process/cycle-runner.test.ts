import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { silentLogger } from '../../contracts/logger.js';
import type { CycleReport, CycleTrigger } from './archive-cycles.js';
import { CycleRunner } from './cycle-runner.js';
import { CycleSchedule } from './cycle-schedule.js';

function report(trigger: CycleTrigger, at: Date): CycleReport {
  return {
    trigger,
    startedAt: at.toISOString(),
    finishedAt: at.toISOString(),
    outcome: 'Succeeded',
    workspaces: 1,
    segmentsSealed: 1,
    messagesSealed: 3,
    bytesSealed: 100,
    segmentsPruned: 0,
    archivesRemoved: 0,
    errors: [],
  };
}

describe('CycleRunner', () => {
  beforeEach(() => {
    jest.useFakeTimers({ now: new Date('2026-06-01T10:00:30Z') });
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  function runner(
    options: { suspend: boolean; immediate: boolean },
    schedule = new CycleSchedule('* * * * *'),
  ) {
    const runs: CycleTrigger[] = [];
    const cycleRunner = new CycleRunner(
      schedule,
      options,
      (trigger) => {
        runs.push(trigger);
        return Promise.resolve(report(trigger, new Date()));
      },
      silentLogger,
    );
    return { cycleRunner, runs };
  }

  it('runs on the schedule and reports last, next and recent cycles', async () => {
    const { cycleRunner, runs } = runner({ suspend: false, immediate: false });
    cycleRunner.start();
    expect(cycleRunner.status().nextScheduleTime).toBe('2026-06-01T10:01:00.000Z');
    await jest.advanceTimersByTimeAsync(30_000);
    expect(runs).toEqual(['schedule']);
    await jest.advanceTimersByTimeAsync(60_000);
    expect(runs).toEqual(['schedule', 'schedule']);
    const status = cycleRunner.status();
    expect(status).toMatchObject({
      lastScheduleTime: '2026-06-01T10:02:00.000Z',
      lastSuccessfulTime: '2026-06-01T10:02:00.000Z',
      nextScheduleTime: '2026-06-01T10:03:00.000Z',
      suspended: false,
    });
    expect(status.recent).toHaveLength(2);
    await cycleRunner.stop();
  });

  it('skips scheduled cycles while suspended, but runs immediate and manual ones', async () => {
    const { cycleRunner, runs } = runner({ suspend: true, immediate: true });
    cycleRunner.start();
    await jest.advanceTimersByTimeAsync(5 * 60_000);
    expect(runs).toEqual(['immediate']);
    expect(cycleRunner.status().nextScheduleTime).toBeUndefined();
    await cycleRunner.trigger('manual');
    expect(runs).toEqual(['immediate', 'manual']);
    await cycleRunner.stop();
  });

  it('counts in the schedule’s time zone', () => {
    const { cycleRunner } = runner(
      { suspend: false, immediate: false },
      new CycleSchedule('0 12 * * *', 'America/New_York'),
    );
    cycleRunner.start();
    expect(cycleRunner.status().nextScheduleTime).toBe('2026-06-01T16:00:00.000Z');
    void cycleRunner.stop();
  });

  it('joins a cycle that runs instead of starting a second one', async () => {
    let release: () => void = () => undefined;
    const runs: CycleTrigger[] = [];
    const cycleRunner = new CycleRunner(
      new CycleSchedule('@yearly'),
      { suspend: false, immediate: false },
      (trigger) => {
        runs.push(trigger);
        return new Promise((resolve) => (release = () => resolve(report(trigger, new Date()))));
      },
      silentLogger,
    );
    const first = cycleRunner.trigger('manual');
    const second = cycleRunner.trigger('manual');
    release();
    expect(await second).toBe(await first);
    expect(runs).toEqual(['manual']);
  });
});
