import { describe, expect, it } from '@jest/globals';
import { CycleSchedule, ScheduleError } from './cycle-schedule.js';

describe('CycleSchedule', () => {
  it('counts in its time zone', () => {
    const tokyo = new CycleSchedule('30 2 * * *', 'Asia/Tokyo');
    expect(tokyo.next(new Date('2026-01-01T00:00:00Z'))?.toISOString()).toBe(
      '2026-01-01T17:30:00.000Z',
    );
    const utc = new CycleSchedule('30 2 * * *');
    expect(utc.next(new Date('2026-01-01T00:00:00Z'))?.toISOString()).toBe(
      '2026-01-01T02:30:00.000Z',
    );
  });

  it('follows daylight saving time (Europe/Paris: 02:30 does not exist on 29 March 2026)', () => {
    const paris = new CycleSchedule('0 3 * * *', 'Europe/Paris');
    expect(paris.next(new Date('2026-03-28T12:00:00Z'))?.toISOString()).toBe(
      '2026-03-29T01:00:00.000Z',
    );
    expect(paris.next(new Date('2026-01-10T12:00:00Z'))?.toISOString()).toBe(
      '2026-01-11T02:00:00.000Z',
    );
  });

  it('takes macros and day names', () => {
    expect(new CycleSchedule('@hourly').next(new Date('2026-01-01T00:10:00Z'))?.toISOString()).toBe(
      '2026-01-01T01:00:00.000Z',
    );
    expect(
      new CycleSchedule('0 0 * * SUN').next(new Date('2026-01-01T00:00:00Z'))?.toISOString(),
    ).toBe('2026-01-04T00:00:00.000Z');
  });

  it('is strictly after the given time', () => {
    const minutely = new CycleSchedule('* * * * *');
    expect(minutely.next(new Date('2026-01-01T00:01:00Z'))?.toISOString()).toBe(
      '2026-01-01T00:02:00.000Z',
    );
  });

  it.each([
    ['61 * * * *', 'UTC', /minute/],
    ['* * * *', 'UTC', /5 fields/],
    ['0 0 * * * *', 'UTC', /5 fields/],
    ['every day', 'UTC', /5 fields|invalid/],
    ['0 3 * * *', 'Mars/Olympus_Mons', /IANA/],
  ])('refuses %s in %s with SCHEDULE_INVALID', (expression, zone, message) => {
    let error: unknown;
    try {
      new CycleSchedule(expression, zone);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ScheduleError);
    expect(error).toMatchObject({ code: 'SCHEDULE_INVALID' });
    expect((error as Error).message).toMatch(message);
  });
});
