import { spawn, type ChildProcess } from 'node:child_process';
import { groveCommand } from './service-process.js';

/** What a finished `grove` command printed, and how it exited. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Starts `grove ARGS` on the project's Node.js, with pipes for stdout and stderr. */
export function spawnGrove(
  args: readonly string[],
  env: Record<string, string> = {},
): ChildProcess {
  const grove = groveCommand(args);
  return spawn(grove.command, grove.args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
}

/** Collects a started `grove` command's output until it ends; rejects (and kills it) after timeoutMs. */
export function collectRun(
  child: ChildProcess,
  args: readonly string[],
  timeoutMs: number,
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`grove ${args.join(' ')} did not exit within ${timeoutMs} ms: ${stderr}`));
    }, timeoutMs);
    // 'close', not 'exit': output still in the pipes arrives after 'exit' on a busy machine.
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs `grove ARGS` to completion. */
export function runGrove(
  args: readonly string[],
  options: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<CliRun> {
  return collectRun(spawnGrove(args, options.env), args, options.timeoutMs ?? 30_000);
}
