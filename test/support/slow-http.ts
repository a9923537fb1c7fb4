import { connect, type Socket } from 'node:net';
import { sleep } from './ports.js';

/**
 * Raw HTTP/1.1 clients that misbehave on purpose (slowloris and friends), and a latency probe:
 * what a test needs to show that a server closes stalled sockets within its bounds and keeps
 * answering meanwhile.
 */

/** A raw TCP connection to a local server that records what it receives and when it closes. */
export class RawHttpSocket {
  received = '';
  /** ms since open when the server closed (or reset) the socket; undefined while open. */
  closedAfterMs: number | undefined;
  readonly closed: Promise<number>;
  private readonly openedAt = Date.now();

  private constructor(readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.received += chunk;
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        this.closedAfterMs = Date.now() - this.openedAt;
        resolve(this.closedAfterMs);
      });
    });
  }

  static async open(port: number): Promise<RawHttpSocket> {
    const socket = connect({ port, host: '127.0.0.1' });
    const raw = new RawHttpSocket(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
      socket.once('close', () => resolve());
    });
    return raw;
  }

  get open(): boolean {
    return this.closedAfterMs === undefined;
  }

  /** Writes unless the server closed the socket already; false when it did. */
  write(data: string | Buffer): boolean {
    if (!this.open || this.socket.destroyed) return false;
    this.socket.write(data);
    return true;
  }

  /** The HTTP status of the answer received so far, if any. */
  get status(): number | undefined {
    const match = /^HTTP\/1\.1 (\d{3})/.exec(this.received);
    return match === null ? undefined : Number(match[1]);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/**
 * Sends complete request headers announcing `contentLength` bytes of body, then nothing:
 * the "headers and never a body" attack.
 */
export async function headersWithoutBody(
  port: number,
  path = '/v1/enroll',
  contentLength = 100,
  method = 'POST',
): Promise<RawHttpSocket> {
  const raw = await RawHttpSocket.open(port);
  raw.write(
    `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${contentLength}\r\n\r\n`,
  );
  return raw;
}

/**
 * Dribbles a request's header lines, one small piece every `intervalMs`, never ending them:
 * slowloris. Stops by itself after `maxMs` (or once the server closed the socket).
 */
export async function dribbleHeaders(
  port: number,
  intervalMs = 500,
  maxMs = 30_000,
): Promise<RawHttpSocket> {
  const raw = await RawHttpSocket.open(port);
  raw.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n');
  const started = Date.now();
  void (async () => {
    let n = 0;
    while (raw.open && Date.now() - started < maxMs) {
      await sleep(intervalMs);
      if (!raw.write(`X-Slow-${n++}: a\r\n`)) break;
    }
  })();
  return raw;
}

/** The latency of GET `url` now (ms), or Infinity when it fails. */
export async function latencyOf(url: string, timeoutMs = 10_000): Promise<number> {
  const started = performance.now();
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await response.arrayBuffer();
    return response.ok ? performance.now() - started : Number.POSITIVE_INFINITY;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

/** Probes `url` every `intervalMs` until stop() and reports the worst and median latency (ms). */
export function latencyProbe(
  url: string,
  intervalMs = 50,
): { stop: () => Promise<{ max: number; median: number; samples: number }> } {
  const samples: number[] = [];
  const state = { running: true };
  const loop = (async () => {
    while (state.running) {
      samples.push(await latencyOf(url));
      await sleep(intervalMs);
    }
  })();
  return {
    stop: async () => {
      state.running = false;
      await loop;
      const sorted = [...samples].sort((a, b) => a - b);
      return {
        max: sorted.at(-1) ?? 0,
        median: sorted[Math.floor(sorted.length / 2)] ?? 0,
        samples: sorted.length,
      };
    },
  };
}
