import { Cron } from 'croner';

/** A schedule the bridge cannot use: the message says what is wrong with which value. */
export class ScheduleError extends Error {
  readonly code = 'SCHEDULE_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'ScheduleError';
  }
}

const MACROS = new Set([
  '@yearly',
  '@annually',
  '@monthly',
  '@weekly',
  '@daily',
  '@midnight',
  '@hourly',
]);

/**
 * When archive cycles run: a 5-field cron expression ("minute hour day-of-month month
 * day-of-week") or a macro such as @daily, read in an IANA time zone (UTC by default), parsed
 * by croner. Pure: `next` takes the time to count from, so tests give it any clock.
 */
export class CycleSchedule {
  private readonly cron: Cron;

  constructor(
    readonly expression: string,
    readonly timeZone = 'UTC',
  ) {
    const trimmed = expression.trim();
    if (!MACROS.has(trimmed) && trimmed.split(/\s+/).length !== 5) {
      throw new ScheduleError(
        `schedule "${expression}" must have 5 fields (minute hour day-of-month month day-of-week) or be a macro such as @daily`,
      );
    }
    try {
      new Intl.DateTimeFormat('en', { timeZone });
    } catch {
      throw new ScheduleError(
        `time zone "${timeZone}" is not an IANA time zone name (e.g. Europe/Paris)`,
      );
    }
    try {
      this.cron = new Cron(trimmed, { timezone: timeZone, paused: true });
    } catch (error) {
      throw new ScheduleError(`schedule "${expression}" is invalid: ${(error as Error).message}`);
    }
  }

  /** The first cycle time strictly after `after`; undefined when the expression never fires. */
  next(after: Date): Date | undefined {
    return this.cron.nextRun(after) ?? undefined;
  }
}
