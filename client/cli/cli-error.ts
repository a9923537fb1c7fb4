/** A CLI failure: printed as `{"error":{"code","message"}}` on stderr, with an exit code. */
export class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode: number = 1,
    /** More fields of the printed error object, e.g. the `id` a send used. */
    readonly fields: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const ExitCode = { failure: 1, usage: 2, timeout: 3 } as const;

export function usage(message: string): CliError {
  return new CliError('USAGE', message, ExitCode.usage);
}

export function required(values: Record<string, unknown>, names: string[]): void {
  const missing = names.filter((name) => values[name] === undefined || values[name] === '');
  if (missing.length > 0) throw usage(`missing ${missing.map((name) => `--${name}`).join(', ')}`);
}

export function positiveSeconds(value: string | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0)
    throw usage(`--${option} must be a positive number of seconds`);
  return seconds;
}
