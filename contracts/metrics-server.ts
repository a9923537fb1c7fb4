import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** Default port of the relays' and the Manager's /metrics (the operator's is 8080). */
export const DEFAULT_METRICS_PORT = 9090;

/** A running /metrics listener. */
export interface MetricsServer {
  /** The bound port (the one asked for, or the one picked for 0). */
  readonly port: number;
  /** The bound socket address, e.g. "0.0.0.0:9090". */
  readonly address: string;
  close(): Promise<void>;
}

/**
 * Serves a Prometheus registry at GET /metrics on a port of its own, apart from a server's
 * public port: the public listener answers /metrics with 404, so clients on the internet never
 * read it, and a NetworkPolicy can open this port to the monitoring namespace alone. Anything
 * else is 404; the listener is plain HTTP/1.1 with short timeouts (it serves scrapers only).
 */
export async function startMetricsServer(options: {
  host: string;
  port: number;
  registry: Registry;
}): Promise<MetricsServer> {
  const { registry } = options;
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0];
    if (path !== '/metrics' || (request.method !== 'GET' && request.method !== 'HEAD')) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    registry
      .metrics()
      .then((text) =>
        response
          .writeHead(200, { 'content-type': registry.contentType })
          .end(request.method === 'HEAD' ? undefined : text),
      )
      .catch((error: unknown) =>
        response.writeHead(500, { 'content-type': 'text/plain' }).end(String(error)),
      );
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  server.maxConnections = 64;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  const host = bound.address.includes(':') ? `[${bound.address}]` : bound.address;
  return {
    port: bound.port,
    address: `${host}:${bound.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
