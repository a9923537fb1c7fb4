import type { Logger } from './logger.js';

/**
 * SIGTERM/SIGINT handling shared by the server processes (relay, Manager, operator): stop once,
 * exit with `exitCode` when `stop` resolves, 1 when it fails or outlasts `graceMs` (the pod's
 * grace period: better a clear exit than a SIGKILL mid-write). Returns the trigger, for other
 * reasons to stop (an operator that lost its Lease).
 */
export function stopOnSignals(
  log: Logger,
  options: { stop: () => Promise<void>; graceMs: number },
): (reason: string, exitCode?: number) => void {
  let stopping = false;
  const shutdown = (reason: string, exitCode = 0) => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { reason });
    const hardStop = setTimeout(() => {
      log.error('shutdown did not finish within the grace period; exiting', {
        graceMs: options.graceMs,
      });
      process.exit(1);
    }, options.graceMs);
    hardStop.unref();
    options
      .stop()
      .then(() => {
        log.info('stopped');
        process.exit(exitCode);
      })
      .catch((error: unknown) => {
        log.error('shutdown failed', { error: String(error) });
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  return shutdown;
}
