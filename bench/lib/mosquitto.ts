import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from '../../test/support/ports.js';

const BINARY = '/usr/sbin/mosquitto';

export interface MosquittoOptions {
  /** Per-client QoS 1/2 messages in flight to a subscriber (Grove's maxInFlight analogue). */
  maxInflightMessages: number;
}

/**
 * A mosquitto broker for the benchmark: its own config file in a temp dir, one listener on
 * a free loopback port, persistence on (in a temp dir), unbounded per-client queues, no auth.
 */
export class MosquittoBroker {
  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly child: ChildProcess,
    readonly configText: string,
    private readonly logs: string[],
  ) {}

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  static version(): string {
    const result = spawnSync(BINARY, ['-h'], { encoding: 'utf8' });
    return /mosquitto version (\S+)/.exec(`${result.stdout}${result.stderr}`)?.[1] ?? 'unknown';
  }

  static async start(options: MosquittoOptions): Promise<MosquittoBroker> {
    const dir = mkdtempSync(join(tmpdir(), 'grove-bench-mosquitto-'));
    const port = await freePort();
    const configText = [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence true',
      `persistence_location ${dir}/`,
      'persistence_file mosquitto.db',
      // Unbounded queues for persistent sessions (the backlog workload queues 100,000).
      'max_queued_messages 0',
      'max_queued_bytes 0',
      `max_inflight_messages ${options.maxInflightMessages}`,
      'max_connections -1',
      // Same as the Node.js sockets on the Grove side (ws and ioredis disable Nagle).
      'set_tcp_nodelay true',
      // $SYS every second: the idle-memory workload reads $SYS/broker/heap/current.
      'sys_interval 1',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      '',
    ].join('\n');
    const file = join(dir, 'mosquitto.conf');
    writeFileSync(file, configText);
    const child = spawn(BINARY, ['-c', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    const logs: string[] = [];
    child.stdout.on('data', (chunk: Buffer) => logs.push(chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => logs.push(chunk.toString()));
    const broker = new MosquittoBroker(port, dir, child, configText, logs);
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`mosquitto exited: ${logs.join('')}`);
        return new Promise<boolean>((resolve) => {
          const socket = connect(port, '127.0.0.1');
          socket.once('connect', () => {
            socket.destroy();
            resolve(true);
          });
          socket.once('error', () => resolve(false));
        });
      },
      `mosquitto on port ${port}`,
      10_000,
    );
    return broker;
  }

  get output(): string {
    return this.logs.join('');
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGKILL');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
