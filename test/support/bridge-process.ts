import { groveCommand, ServiceProcess } from './service-process.js';

export interface BridgeStartOptions {
  /** Arguments after `grove bridge` (device key, password file, store, schedule, …). */
  args: string[];
  env?: Record<string, string>;
  /** Wait for /readyz (default), or only for the port to answer (a bridge that cannot be ready). */
  waitReady?: boolean;
  timeoutMs?: number;
}

/** A real `grove bridge` process on a free loopback port. */
export class BridgeProcess {
  private constructor(
    readonly port: number,
    readonly process: ServiceProcess,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(options: BridgeStartOptions): Promise<BridgeProcess> {
    const { service, port } = await ServiceProcess.startOnFreePort(
      (port) => ({
        name: `bridge on port ${port}`,
        ...groveCommand(['bridge', '--port', String(port), '--host', '127.0.0.1', ...options.args]),
        ...(options.env === undefined ? {} : { env: options.env }),
        ready: async () => {
          const answer = await fetch(
            `http://127.0.0.1:${port}/${options.waitReady === false ? 'healthz' : 'readyz'}`,
          );
          return answer.ok;
        },
      }),
      options.timeoutMs ?? 30_000,
    );
    return new BridgeProcess(port, service);
  }

  get running(): boolean {
    return this.process.running;
  }

  async status<T = Record<string, unknown>>(): Promise<T> {
    return (await (await fetch(`${this.url}/v1/status`)).json()) as T;
  }

  async ready(): Promise<{ status: number; body: Record<string, unknown> }> {
    const answer = await fetch(`${this.url}/readyz`);
    return { status: answer.status, body: (await answer.json()) as Record<string, unknown> };
  }

  /** Runs an archive cycle now and answers its report. */
  async cycle<T = Record<string, unknown>>(): Promise<T> {
    const answer = await fetch(`${this.url}/v1/cycles`, { method: 'POST' });
    return (await answer.json()) as T;
  }

  async metrics(): Promise<string> {
    return (await fetch(`${this.url}/metrics`)).text();
  }

  async kill9(): Promise<void> {
    await this.process.kill9();
  }

  async terminate(): Promise<number | null> {
    return this.process.terminate();
  }
}
