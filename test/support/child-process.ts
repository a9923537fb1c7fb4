import type { ChildProcess } from 'node:child_process';

/** True until the process has exited or was killed by a signal. */
export function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Sends `signal` and resolves with the exit code once the process is gone (null: killed). */
export async function signalAndWait(
  child: ChildProcess,
  signal: NodeJS.Signals,
): Promise<number | null> {
  if (!isRunning(child)) return child.exitCode;
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  child.kill(signal);
  return exited;
}
