/** Structured JSON logs, one object per line on stderr (stdout belongs to CLI output). */
export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export function jsonLogger(
  component: string,
  write: (line: string) => void = (line) => process.stderr.write(line),
): Logger {
  const log = (level: string, message: string, fields?: Record<string, unknown>) => {
    write(
      `${JSON.stringify({ time: new Date().toISOString(), level, component, message, ...fields })}\n`,
    );
  };
  return {
    info: (message, fields) => log('info', message, fields),
    warn: (message, fields) => log('warn', message, fields),
    error: (message, fields) => log('error', message, fields),
  };
}
