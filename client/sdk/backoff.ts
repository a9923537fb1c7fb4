/**
 * Reconnect delays: exponential with "full jitter" (a uniform draw below the exponential
 * cap), so clients cut off together by a relay restart do not come back together.
 */
export function backoffDelay(
  attempt: number,
  options: { initialMs: number; maxMs: number },
  random: () => number = Math.random,
): number {
  const cap = Math.min(options.maxMs, options.initialMs * 2 ** Math.min(attempt, 20));
  return Math.floor(random() * cap);
}
