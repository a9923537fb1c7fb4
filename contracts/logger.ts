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

/** Structured JSON logs, one object per line on stderr (stdout belongs to CLI output). */
export function jsonLogger(
  component: string,
  write: (line: string) => void = (line) => process.stderr.write(line),
): Logger {
  return loggerOf((level, message, fields) => {
    write(
      `${JSON.stringify({ time: new Date().toISOString(), level, component, message, ...fields })}\n`,
    );
  });
}
