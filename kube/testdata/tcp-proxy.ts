import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy in front of the API server for integration tests, to break connections in the
 * ways real networks do: cut them (RST), refuse new ones (server down), or freeze them
 * (a half-open connection: nothing arrives, nothing closes). TLS passes through untouched.
 */
export class TcpProxy {
  private mode: 'forward' | 'refuse' | 'freeze' = 'forward';
  private readonly pairs = new Set<{ client: Socket; upstream: Socket }>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetHost: string, targetPort: number): Promise<TcpProxy> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('proxy has no port');
    const proxy = new TcpProxy(server, address.port);
    server.on('connection', (client: Socket) => {
      if (proxy.mode !== 'forward') {
        // Server down: accept and reset at once (connection refused would need the port closed).
        client.resetAndDestroy();
        return;
      }
      proxy.pipe(client, connect(targetPort, targetHost));
    });
    return proxy;
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  get openConnections(): number {
    return this.pairs.size;
  }

  /** Forward again (new connections only: frozen or cut ones stay so). */
  forward(): void {
    this.mode = 'forward';
  }

  /** Reset every open connection and every new one, as an unreachable server would. */
  refuse(): void {
    this.mode = 'refuse';
    for (const pair of this.pairs) {
      pair.client.resetAndDestroy();
      pair.upstream.destroy();
    }
    this.pairs.clear();
  }

  /** Stop moving bytes on open connections without closing them; refuse new ones. */
  freeze(): void {
    this.mode = 'freeze';
    for (const { client, upstream } of this.pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
    }
  }

  async stop(): Promise<void> {
    for (const pair of this.pairs) {
      pair.client.destroy();
      pair.upstream.destroy();
    }
    this.pairs.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private pipe(client: Socket, upstream: Socket): void {
    const pair = { client, upstream };
    this.pairs.add(pair);
    const close = (): void => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
    upstream.on('close', close);
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
