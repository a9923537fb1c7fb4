import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isRunning } from './child-process.js';
import { freePort, waitFor } from './ports.js';
import { pinnedNode } from './relay-process.js';

const root = join(fileURLToPath(import.meta.url), '..', '..', '..');

export interface OperatorProcessOptions {
  kubeconfigPath: string;
  /** Lease timings in seconds; short ones make takeover tests fast. */
  leaderElect?: { leaseDuration: number; renewDeadline: number; retryPeriod: number };
  resyncSeconds?: number;
  extraArgs?: readonly string[];
  image?: string;
}

/**
 * A real `grove operator` process. Its JSON log lines are kept for assertions; a watchdog
 * shell kills it if the test process dies without cleaning up.
 */
export class OperatorProcess {
  private exited: Promise<number | null>;
  private watchdog: ChildProcess;

  private constructor(
    private readonly child: ChildProcess,
    readonly healthPort: number,
    readonly metricsPort: number,
    readonly lines: string[],
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    this.watchdog = spawn(
      'sh',
      ['-c', 'read -r _; kill -9 "$1" 2>/dev/null', 'grove-watchdog', String(child.pid)],
      { stdio: ['pipe', 'ignore', 'ignore'] },
    );
    this.watchdog.unref();
  }

  static async start(options: OperatorProcessOptions): Promise<OperatorProcess> {
    const healthPort = await freePort();
    const metricsPort = await freePort();
    const lease = options.leaderElect;
    const args = [
      join(root, 'bin', 'grove.js'),
      'operator',
      '--kubeconfig',
      options.kubeconfigPath,
      '--image',
      options.image ?? 'grove:test',
      '--health-port',
      String(healthPort),
      '--metrics-port',
      String(metricsPort),
      '--resync',
      String(options.resyncSeconds ?? 60),
      ...(lease === undefined
        ? []
        : [
            '--leader-elect',
            '--lease-namespace',
            'default',
            '--lease-duration',
            String(lease.leaseDuration),
            '--renew-deadline',
            String(lease.renewDeadline),
            '--retry-period',
            String(lease.retryPeriod),
          ]),
      ...(options.extraArgs ?? []),
    ];
    const child = spawn(pinnedNode(), args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: root });
    const lines: string[] = [];
    let partial = '';
    const collect = (chunk: Buffer) => {
      partial += chunk.toString();
      const parts = partial.split('\n');
      partial = parts.pop() ?? '';
      lines.push(...parts.filter((line) => line !== ''));
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const operator = new OperatorProcess(child, healthPort, metricsPort, lines);
    return operator;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return isRunning(this.child);
  }

  /** Parsed JSON log entries (non-JSON lines are skipped). */
  logs(): Record<string, unknown>[] {
    return this.lines.flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  }

  async get(path: '/healthz' | '/readyz' | '/metrics'): Promise<{ status: number; text: string }> {
    const port = path === '/metrics' ? this.metricsPort : this.healthPort;
    try {
      const response = await fetch(`http://127.0.0.1:${port}${path}`);
      return { status: response.status, text: await response.text() };
    } catch {
      return { status: 0, text: '' };
    }
  }

  async waitReady(timeoutMs = 30_000): Promise<void> {
    await waitFor(
      async () => (await this.get('/readyz')).status === 200,
      'operator /readyz',
      timeoutMs,
    ).catch((error: unknown) => {
      throw new Error(`operator not ready: ${String(error)}\n${this.lines.slice(-30).join('\n')}`);
    });
  }

  /** The value of a metric series, e.g. metric('leader_election_master_status'). */
  async metric(name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
    const { text } = await this.get('/metrics');
    for (const line of text.split('\n')) {
      if (!line.startsWith(name)) continue;
      const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$/.exec(line);
      if (match?.[1] !== name) continue;
      const series = match[2] ?? '';
      if (Object.entries(labels).every(([key, value]) => series.includes(`${key}="${value}"`))) {
        return Number(match[3]);
      }
    }
    return undefined;
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.child.kill(signal);
  }

  /** Waits for the process to exit; returns its exit code (null when killed by a signal). */
  async waitExit(timeoutMs = 30_000): Promise<number | null> {
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error('operator did not exit in time')), timeoutMs).unref(),
    );
    return Promise.race([this.exited, timeout]);
  }

  async stop(): Promise<void> {
    if (this.running) {
      this.child.kill('SIGTERM');
      await this.waitExit(35_000).catch(() => this.child.kill('SIGKILL'));
    }
    this.watchdog.stdin?.end();
    this.watchdog.kill();
  }
}
