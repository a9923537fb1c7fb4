// A Jest reporter: when a scenario file has a failed test, collects a diagnostics bundle
// (e2e/cluster/diagnostics: pods, events, describe, every container's logs, and this machine's
// component logs) at once, before the next scenario changes the cluster, into
// $GROVE_E2E_ARTIFACTS/diagnostics-<scenario>/, and prints where it is.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..', '..');

export default class DiagnosticsReporter {
  onTestResult(test, result) {
    if (result.numFailingTests === 0 && result.testExecError === undefined) return;
    const artifacts = resolve(root, process.env.GROVE_E2E_ARTIFACTS ?? '.e2e-artifacts/latest');
    const scenario = basename(test.path).replace(/\.e2e\.ts$/, '');
    const dir = join(artifacts, `diagnostics-${scenario}`);
    mkdirSync(artifacts, { recursive: true });
    const command =
      process.env.GROVE_E2E_DIAGNOSTICS ?? join(root, 'e2e', 'cluster', 'diagnostics');
    const started = Date.now();
    const run = spawnSync(command, [dir], {
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 300_000,
    });
    const took = Math.round((Date.now() - started) / 1000);
    const status = run.status === 0 ? 'collected' : `incomplete (exit ${run.status ?? run.signal})`;
    process.stderr.write(
      `\ne2e: ${scenario} failed; diagnostics ${status} in ${dir} (${took} s)\n`,
    );
    if (run.status !== 0 && run.stderr) process.stderr.write(run.stderr.toString().slice(-2000));
  }
}
