import type { Logger } from '../../contracts/logger.js';
import type { CycleReport, CycleTrigger } from './archive-cycles.js';
import type { CycleSchedule } from './cycle-schedule.js';

const RECENT_CYCLES = 10;
// setTimeout takes at most 2^31-1 ms (24.8 days); a later cycle is waited for in steps.
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface CycleStatus {
  schedule: string;
  timeZone: string;
  suspended: boolean;
  running: boolean;
  lastScheduleTime?: string;
  lastSuccessfulTime?: string;
  nextScheduleTime?: string;
  /** Newest first. */
  recent: CycleReport[];
}

/**
 * Runs archive cycles on the schedule (skipped while suspended), once at start with
 * `immediate`, and on demand. One cycle at a time: a trigger while one runs gets that one's
 * report. A cycle that outlasts its slot does not make the next one run twice; the next time
 * is counted from its end.
 */
export class CycleRunner {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<CycleReport> | undefined;
  private next: Date | undefined;
  private lastScheduleTime: Date | undefined;
  private lastSuccessfulTime: Date | undefined;
  private readonly recent: CycleReport[] = [];
  private stopped = false;

  constructor(
    private readonly schedule: CycleSchedule,
    private readonly options: { suspend: boolean; immediate: boolean },
    private readonly run: (trigger: CycleTrigger) => Promise<CycleReport>,
    private readonly log: Logger,
    private readonly clock: () => Date = () => new Date(),
    private readonly onNext: (next: Date | undefined) => void = () => undefined,
  ) {}

  start(): void {
    if (this.options.immediate) void this.trigger('immediate');
    this.arm();
  }

  private arm(): void {
    if (this.stopped) return;
    this.next = this.schedule.next(this.clock());
    this.onNext(this.next);
    if (this.next === undefined) return;
    this.wait(this.next);
  }

  private wait(at: Date): void {
    const delay = Math.max(0, at.getTime() - this.clock().getTime());
    this.timer = setTimeout(
      () => {
        if (this.clock().getTime() < at.getTime()) {
          this.wait(at);
          return;
        }
        if (this.options.suspend) {
          this.log.info('scheduled archive cycle skipped: the schedule is suspended', {
            at: at.toISOString(),
          });
          this.arm();
          return;
        }
        void this.trigger('schedule').finally(() => this.arm());
      },
      Math.min(delay, MAX_TIMER_MS),
    );
  }

  /** Runs a cycle now (or joins the running one) and resolves with its report. */
  trigger(trigger: CycleTrigger): Promise<CycleReport> {
    if (this.running !== undefined) return this.running;
    this.lastScheduleTime = this.clock();
    const running = this.run(trigger).then((report) => {
      this.recent.unshift(report);
      this.recent.splice(RECENT_CYCLES);
      if (report.outcome === 'Succeeded') this.lastSuccessfulTime = new Date(report.finishedAt);
      return report;
    });
    this.running = running;
    void running.finally(() => {
      if (this.running === running) this.running = undefined;
    });
    return running;
  }

  status(): CycleStatus {
    return {
      schedule: this.schedule.expression,
      timeZone: this.schedule.timeZone,
      suspended: this.options.suspend,
      running: this.running !== undefined,
      ...(this.lastScheduleTime === undefined
        ? {}
        : { lastScheduleTime: this.lastScheduleTime.toISOString() }),
      ...(this.lastSuccessfulTime === undefined
        ? {}
        : { lastSuccessfulTime: this.lastSuccessfulTime.toISOString() }),
      ...(this.next === undefined || this.options.suspend
        ? {}
        : { nextScheduleTime: this.next.toISOString() }),
      recent: this.recent.map((report) => ({ ...report })),
    };
  }

  /** Stops scheduling; resolves once a running cycle ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
  }
}
