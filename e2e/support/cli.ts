import { join } from 'node:path';
import { e2eEnv } from './env.js';
import { runCommand, type CommandResult } from './kube.js';

/** Runs the real CLI, `node bin/grove.js ARGS`, as a process of its own on the host. */
export async function grove(
  args: readonly string[],
  options: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<CommandResult & { ms: number }> {
  const started = performance.now();
  const result = await runCommand(
    process.execPath,
    [join(e2eEnv().root, 'bin', 'grove.js'), ...args],
    {
      timeoutMs: options.timeoutMs ?? 60_000,
      ...(options.env === undefined ? {} : { env: options.env }),
    },
  );
  return { ...result, ms: Math.round(performance.now() - started) };
}

/** Like grove(), but throws unless it exited 0; returns its stdout's JSON lines. */
export async function groveOk(
  args: readonly string[],
  options: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<{ lines: Record<string, unknown>[]; ms: number }> {
  const result = await grove(args, options);
  if (result.code !== 0) {
    throw new Error(`grove ${args.join(' ')} exited ${String(result.code)}: ${result.stderr}`);
  }
  const lines = result.stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { lines, ms: result.ms };
}
