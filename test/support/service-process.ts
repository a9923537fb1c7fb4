import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitFor, WaitAborted } from './ports.js';

const root = join(fileURLToPath(import.meta.url), '..', '..', '..');

/**
 * The project's Node.js 24 (the `node` devDependency). Spawning it directly, rather than
 * through bin/grove.js's re-exec from an older node, keeps kill -9 aimed at the service.
 */
export function pinnedNode(): string {
  const pinned = join(root, 'node_modules', 'node', 'bin', 'node');
  return existsSync(pinned) ? pinned : process.execPath;
}

/** The command and arguments of `grove ARGS` on the project's Node.js. */
export function groveCommand(args: readonly string[]): { command: string; args: string[] } {
  return { command: pinnedNode(), args: [join(root, 'bin', 'grove.js'), ...args] };
}

export interface ServiceOptions {
  /** Names the process in errors: "relay on port 4242 exited (exit code 1)". */
  name: string;
  command: string;
  args: readonly string[];
  /** Added to this process's environment. */
  env?: Record<string, string>;
  cwd?: string;
  /** Appends stdout and stderr to this file; by default they are kept as `lines`. */
  logFile?: string;
}

export interface StartOptions extends ServiceOptions {
  /** Whether the service answers yet (e.g. GET /readyz is 200); errors count as "not yet". */
  ready: (service: ServiceProcess) => Promise<boolean>;
}

/**
 * Starts a watchdog that SIGKILLs `pid` once this Node process is gone, however it died
 * (SIGTERM from `timeout`, SIGKILL, a crash): Node runs no 'exit' handler then, and an
 * orphaned server would keep running. The watchdog's stdin is a pipe from this process, so
 * its `read` (a shell builtin: one process) returns exactly when this process is gone.
 */
function startWatchdog(pid: number): ChildProcess {
  const watchdog = spawn(
    'sh',
    ['-c', 'read -r _; kill -9 "$1" 2>/dev/null', 'grove-watchdog', String(pid)],
    { stdio: ['pipe', 'ignore', 'ignore'] },
  );
  // Never what keeps the test process alive.
  watchdog.unref();
  (watchdog.stdin as Socket | null)?.unref();
  return watchdog;
}

/**
 * One spawned server process of a test (relay, Manager, operator, redis-server, etcd, …):
 * its output kept for errors and assertions, a readiness wait that fails as soon as the
 * process dies, stops by signal (SIGTERM escalating to SIGKILL), and a watchdog that kills
 * it if the test process dies first.
 */
export class ServiceProcess {
  /** Output lines (stdout and stderr interleaved) when no `logFile` was given. */
  readonly lines: string[] = [];
  /** Resolves with the exit code once the process is gone (null: killed by a signal). */
  readonly exited: Promise<number | null>;
  private exitInfo: string | undefined;

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
    readonly logFile: string | undefined,
  ) {
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitInfo = signal === null ? `exit code ${code}` : `signal ${signal}`;
        resolve(code);
      });
      // Not started at all (no such command): there will be no 'exit'.
      child.once('error', (error) => {
        this.exitInfo ??= error.message;
        if (child.pid === undefined) resolve(null);
      });
    });
    for (const stream of [child.stdout, child.stderr]) {
      let partial = '';
      stream?.on('data', (chunk: Buffer) => {
        const parts = (partial + chunk.toString()).split('\n');
        partial = parts.pop() ?? '';
        this.lines.push(...parts.filter((line) => line !== ''));
      });
      stream?.on('end', () => {
        if (partial !== '') this.lines.push(partial);
      });
    }
    if (child.pid !== undefined) {
      const watchdog = startWatchdog(child.pid);
      // SIGKILL, not closing its stdin: its `kill` must not run once the pid may be reused.
      child.once('exit', () => watchdog.kill('SIGKILL'));
    }
  }

  static spawn(options: ServiceOptions): ServiceProcess {
    const env = { ...process.env, ...options.env };
    const cwd = options.cwd;
    if (options.logFile === undefined) {
      const child = spawn(options.command, options.args, {
        stdio: ['ignore', 'pipe', 'pipe'],
        env,
        ...(cwd === undefined ? {} : { cwd }),
      });
      return new ServiceProcess(options.name, child, undefined);
    }
    const fd = openSync(options.logFile, 'a');
    try {
      const child = spawn(options.command, options.args, {
        stdio: ['ignore', fd, fd],
        env,
        ...(cwd === undefined ? {} : { cwd }),
      });
      return new ServiceProcess(options.name, child, options.logFile);
    } finally {
      // The child holds its own copy of the descriptor.
      closeSync(fd);
    }
  }

  /**
   * Spawns the service and waits until `ready` says so; kills it and throws (with the last
   * lines of its output) when it exits or is not ready within `timeoutMs`.
   */
  static async start(options: StartOptions, timeoutMs = 20_000): Promise<ServiceProcess> {
    const service = ServiceProcess.spawn(options);
    await service.untilReady(options.ready, timeoutMs);
    return service;
  }

  /**
   * `start` on a free loopback port, chosen for each attempt: when another process took the
   * port between the choice and the bind, the service is started again on another one.
   */
  static async startOnFreePort(
    build: (port: number) => StartOptions,
    timeoutMs = 20_000,
    attempts = 3,
  ): Promise<{ service: ServiceProcess; port: number }> {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const options = build(port);
      const service = ServiceProcess.spawn(options);
      try {
        await service.untilReady(options.ready, timeoutMs);
        return { service, port };
      } catch (error) {
        if (attempt >= attempts || !/EADDRINUSE|Address already in use/.test(service.output())) {
          throw error;
        }
      }
    }
  }

  private async untilReady(
    ready: (service: ServiceProcess) => Promise<boolean>,
    timeoutMs: number,
  ): Promise<void> {
    try {
      await this.waitUntil(() => ready(this), `${this.name} to become ready`, timeoutMs);
    } catch (error) {
      await this.kill9();
      throw error;
    }
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** True until the process has exited or was killed by a signal. */
  get running(): boolean {
    return (
      this.child.pid !== undefined && this.child.exitCode === null && this.child.signalCode === null
    );
  }

  /** Everything it printed (its log file's content with `logFile`). */
  output(): string {
    if (this.logFile === undefined) return this.lines.join('\n');
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /** Its last output lines, for error messages. */
  tail(count = 30): string {
    const text = this.output().trimEnd();
    return text === '' ? '(no output)' : text.split('\n').slice(-count).join('\n');
  }

  private tailNote(): string {
    const where = this.logFile === undefined ? '' : ` of ${this.logFile}`;
    return `last log lines${where}:\n${this.tail()}`;
  }

  /**
   * `waitFor(check)` that ends as soon as the process exits; errors end with its output's
   * tail. `what` completes "timed out … waiting for …".
   */
  async waitUntil<T>(
    check: () => Promise<T | undefined | null | false> | T | undefined | null | false,
    what: string,
    timeoutMs = 20_000,
    intervalMs = 50,
  ): Promise<T> {
    const exited = () =>
      new WaitAborted(`${this.name} exited (${this.exitInfo ?? ''}); ${this.tailNote()}`);
    try {
      return await waitFor(
        async () => {
          if (this.exitInfo !== undefined) throw exited();
          return check();
        },
        what,
        timeoutMs,
        intervalMs,
      );
    } catch (error) {
      if (error instanceof WaitAborted) throw error;
      if (this.exitInfo !== undefined) throw exited();
      const message = error instanceof Error ? error.message : String(error);
      throw new Error(`${message}; ${this.tailNote()}`);
    }
  }

  /** Sends `signal` without waiting. */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.running) this.child.kill(signal);
  }

  /** Sends `signal` and resolves with the exit code once the process is gone (null: killed). */
  async signal(signal: NodeJS.Signals): Promise<number | null> {
    if (!this.running) return this.child.exitCode;
    this.child.kill(signal);
    return this.exited;
  }

  /** SIGKILL: no chance to drain, flush or clean up. */
  async kill9(): Promise<void> {
    await this.signal('SIGKILL');
  }

  /** SIGTERM: a graceful stop; resolves with the exit code. */
  async terminate(): Promise<number | null> {
    return this.signal('SIGTERM');
  }

  /** Sends `signal` and waits for the exit, escalating to SIGKILL after `graceMs`. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<number | null> {
    if (!this.running) return this.child.exitCode;
    const timer =
      signal === 'SIGKILL' ? undefined : setTimeout(() => this.kill('SIGKILL'), graceMs);
    try {
      return await this.signal(signal);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Waits for the process to exit; its exit code (null when killed by a signal). */
  async waitExit(timeoutMs = 30_000): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${this.name} did not exit within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * Runs every cleanup step, in order, even when an earlier one throws (e.g. beforeAll failed
 * before a process existed), so no process outlives the test file.
 */
export async function stopAll(...steps: (() => Promise<unknown>)[]): Promise<void> {
  const errors: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (error) {
      errors.push(error);
    }
  }
  if (errors.length > 0) throw new AggregateError(errors, 'cleanup failed');
}
