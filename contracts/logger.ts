export type LogLevel = 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

/**
 * The one logger shape of every component (relay, Manager, operator and its informers,
 * controllers, event recorder, leader election). jsonLogger is what the processes use.
 */
export interface Logger {
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/** A Logger that hands every entry to one function: tests record entries with it. */
export function loggerOf(
  write: (level: LogLevel, message: string, fields?: LogFields) => void,
): Logger {
  return {
    info: (message, fields) => write('info', message, fields),
    warn: (message, fields) => write('warn', message, fields),
    error: (message, fields) => write('error', message, fields),
  };
}

/** Drops everything: the default of components whose caller passes no logger. */
export const silentLogger: Logger = loggerOf(() => undefined);

/**
 * The least severe level a process writes (GROVE_LOG_LEVEL). `debug` writes everything, as
 * `info` does today: no component logs below info yet, and the value is accepted so the chart's
 * `logLevel: debug` keeps working once one does.
 */
export type LogThreshold = 'debug' | 'info' | 'warn' | 'error';

export const LOG_THRESHOLDS: readonly LogThreshold[] = ['debug', 'info', 'warn', 'error'];

const SEVERITY: Record<LogThreshold, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** GROVE_LOG_LEVEL is not one of debug, info, warn, error (a usage error: exit 2, USAGE). */
export class LogLevelError extends Error {
  readonly code = 'USAGE';
  constructor(value: string) {
    super(
      `GROVE_LOG_LEVEL must be one of ${LOG_THRESHOLDS.join(', ')} (any case), got ${JSON.stringify(value.slice(0, 64))}`,
    );
    this.name = 'LogLevelError';
  }
}

/** The threshold GROVE_LOG_LEVEL sets: info when unset or empty; throws LogLevelError when invalid. */
export function logThresholdFromEnv(env: NodeJS.ProcessEnv): LogThreshold {
  const raw = env.GROVE_LOG_LEVEL;
  if (raw === undefined || raw.trim() === '') return 'info';
  const value = raw.trim().toLowerCase();
  const found = LOG_THRESHOLDS.find((t) => t === value);
  if (found === undefined) throw new LogLevelError(raw);
  return found;
}

/**
 * Structured JSON logs, one object per line on stderr (stdout belongs to CLI output), of
 * `threshold` and above; the threshold defaults to GROVE_LOG_LEVEL, read once, here, so a
 * process with an invalid value stops at start rather than logging at a level nobody asked for.
 */
export function jsonLogger(
  component: string,
  write: (line: string) => void = (line) => process.stderr.write(line),
  threshold: LogThreshold = logThresholdFromEnv(process.env),
): Logger {
  const least = SEVERITY[threshold];
  return loggerOf((level, message, fields) => {
    if (SEVERITY[level] < least) return;
    write(
      `${JSON.stringify({ time: new Date().toISOString(), level, component, message, ...fields })}\n`,
    );
  });
}
