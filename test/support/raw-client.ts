import { once } from 'node:events';
import WebSocket from 'ws';
import { waitFor } from './ports.js';
import type { RelayProcess } from './relay-process.js';

export interface Frame {
  t: string;
  [field: string]: unknown;
}

/** A WebSocket client speaking the protocol by hand: every frame it receives, in order. */
export class RawClient {
  readonly frames: Frame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) =>
      this.frames.push(JSON.parse(data.toString('utf8')) as Frame),
    );
    ws.on('error', () => undefined);
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });
  }

  static async open(relay: RelayProcess): Promise<RawClient> {
    const client = new RawClient(
      new WebSocket(`${relay.url}/v1/connect`, { perMessageDeflate: false }),
    );
    await once(client.ws, 'open');
    return client;
  }

  static async hello(relay: RelayProcess, token: string): Promise<RawClient> {
    const client = await RawClient.open(relay);
    client.send({ t: 'hello', token });
    await client.next('welcome');
    return client;
  }

  send(frame: object | string | Buffer): void {
    this.ws.send(
      typeof frame === 'object' && !Buffer.isBuffer(frame) ? JSON.stringify(frame) : frame,
    );
  }

  of(type: string): Frame[] {
    return this.frames.filter((frame) => frame.t === type);
  }

  async next(type: string, from = 0, timeoutMs = 5000): Promise<Frame> {
    return waitFor(() => this.of(type)[from], `a "${type}" frame`, timeoutMs, 10);
  }

  close(): void {
    this.ws.terminate();
  }
}
