import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';
import { groveCommand, ServiceProcess } from './service-process.js';

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
 * kills it if the test process dies without cleaning up.
 */
export class OperatorProcess {
  private constructor(
    private readonly process: ServiceProcess,
    readonly healthPort: number,
    readonly metricsPort: number,
  ) {}

  static async start(options: OperatorProcessOptions): Promise<OperatorProcess> {
    const healthPort = await freePort();
    const metricsPort = await freePort();
    const lease = options.leaderElect;
    const args = [
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
    const service = ServiceProcess.spawn({ name: 'operator', ...groveCommand(args), cwd: root });
    return new OperatorProcess(service, healthPort, metricsPort);
  }

  /** Its output lines. */
  get lines(): string[] {
    return this.process.lines;
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  get running(): boolean {
    return this.process.running;
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
    await this.process.waitUntil(
      async () => (await this.get('/readyz')).status === 200,
      'operator /readyz',
      timeoutMs,
    );
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
    this.process.kill(signal);
  }

  /** Waits for the process to exit; returns its exit code (null when killed by a signal). */
  async waitExit(timeoutMs = 30_000): Promise<number | null> {
    return this.process.waitExit(timeoutMs);
  }

  /** SIGTERM, SIGKILL when it has not exited after 35 s. */
  async stop(): Promise<void> {
    await this.process.stop('SIGTERM', 35_000);
  }
}
