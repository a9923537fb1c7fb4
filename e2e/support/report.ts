import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { e2eEnv } from './env.js';

/**
 * Prints one scenario's figures as one JSON line on stdout (`{"e2e":"<scenario>",…}`), and
 * appends it to figures.jsonl in the run's artifacts directory.
 */
export function reportFigures(scenario: string, figures: Record<string, unknown>): void {
  const line = JSON.stringify({ e2e: scenario, ...figures });
  process.stdout.write(`${line}\n`);
  const { artifacts } = e2eEnv();
  mkdirSync(artifacts, { recursive: true });
  appendFileSync(join(artifacts, 'figures.jsonl'), `${line}\n`);
}

/** Milliseconds since `start`, rounded. */
export function since(start: number): number {
  return Math.round(performance.now() - start);
}
