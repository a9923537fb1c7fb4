import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import type { CycleReport } from './archive-cycles.js';

export interface BridgeEndpoints {
  registry: Registry;
  /** undefined when ready, else why not. */
  notReady: () => string | undefined;
  status: () => unknown;
  runCycle: () => Promise<CycleReport>;
}

function send(
  response: ServerResponse,
  status: number,
  body: unknown,
  type = 'application/json',
): void {
  const text = type === 'application/json' ? JSON.stringify(body) : String(body);
  response.writeHead(status, {
    'content-type': type,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  response.end(text);
}

/**
 * The bridge's HTTP port: `GET /healthz`, `GET /readyz`, `GET /metrics`, `GET /v1/status`
 * (schedule, last and next cycle, recent cycles) and `POST /v1/cycles` (run a cycle now and
 * answer its report). No request body is read; requests are bounded by Node's timeouts.
 */
export function startBridgeServer(
  endpoints: BridgeEndpoints,
  port: number,
  host: string,
): Promise<Server> {
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const path = (request.url ?? '/').split('?')[0];
    const route = `${request.method ?? 'GET'} ${path ?? '/'}`;
    void (async () => {
      try {
        switch (route) {
          case 'GET /healthz':
            send(response, 200, { ok: true });
            return;
          case 'GET /readyz': {
            const reason = endpoints.notReady();
            send(
              response,
              reason === undefined ? 200 : 503,
              reason === undefined ? { ready: true } : { ready: false, reason },
            );
            return;
          }
          case 'GET /metrics':
            send(response, 200, await endpoints.registry.metrics(), endpoints.registry.contentType);
            return;
          case 'GET /v1/status':
            send(response, 200, endpoints.status());
            return;
          case 'POST /v1/cycles':
            send(response, 200, await endpoints.runCycle());
            return;
          default:
            send(response, 404, { error: { code: 'NOT_FOUND', message: `no route ${route}` } });
        }
      } catch (error) {
        send(response, 500, { error: { code: 'INTERNAL', message: (error as Error).message } });
      }
    })();
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 3_600_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
