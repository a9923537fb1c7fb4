import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ManagerProcess, stopAll, writeManagerConfig } from '../test/support/manager-process.js';
import { RedisServer } from '../test/support/redis-server.js';
import { makeDomain } from '../test/support/relay-process.js';
import {
  dribbleHeaders,
  headersWithoutBody,
  latencyOf,
  latencyProbe,
  RawHttpSocket,
} from '../test/support/slow-http.js';

/**
 * Slowloris against a real Manager (issue 12, item 5): sockets that dribble headers, send
 * headers and no body, or nothing at all are closed within the configured bounds, the number
 * of connections is capped, and /healthz stays fast meanwhile.
 */

let redis: RedisServer;
let manager: ManagerProcess;
const sockets: RawHttpSocket[] = [];

// Small bounds, so the test takes seconds; the defaults are documented in docs/manager-api.md.
const HEADERS_S = 2;
const REQUEST_S = 3;
const IDLE_S = 4;
const MAX_CONNECTIONS = 60;
/** Node checks headers and request timeouts once a second: the bound plus this slack. */
const SLACK_MS = 2500;

beforeAll(async () => {
  redis = await RedisServer.start({ appendonly: false });
  const configFile = writeManagerConfig({
    redisPort: redis.port,
    domains: [{ domain: await makeDomain('acme') }],
  });
  manager = await ManagerProcess.start({
    configFile,
    redisUrl: redis.url,
    args: [
      '--headers-timeout',
      String(HEADERS_S),
      '--request-timeout',
      String(REQUEST_S),
      '--idle-timeout',
      String(IDLE_S),
      '--max-connections',
      String(MAX_CONNECTIONS),
    ],
  });
}, 60_000);

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await stopAll(
    () => manager.terminate(),
    () => redis.stop(),
  );
});

async function track(socket: Promise<RawHttpSocket>): Promise<RawHttpSocket> {
  const raw = await socket;
  sockets.push(raw);
  return raw;
}

describe('slow clients of the Manager', () => {
  it('closes headers without a body, dribbled headers and silent sockets within the bounds', async () => {
    const probe = latencyProbe(`${manager.url}/healthz`, 50);
    const noBody = await Promise.all(
      Array.from({ length: 10 }, () => track(headersWithoutBody(manager.port))),
    );
    const importNoBody = await track(
      headersWithoutBody(manager.port, '/v1/admin/domains/acme/members:import', 5_000_000),
    );
    const dribbling = await Promise.all(
      Array.from({ length: 10 }, () => track(dribbleHeaders(manager.port, 300))),
    );
    const silent = await Promise.all(
      Array.from({ length: 10 }, () => track(RawHttpSocket.open(manager.port))),
    );
    const all = [...noBody, importNoBody, ...dribbling, ...silent];
    await Promise.race([
      Promise.all(all.map((s) => s.closed)),
      new Promise((resolve) => setTimeout(resolve, 15_000)),
    ]);
    const latency = await probe.stop();
    const worst = (list: RawHttpSocket[]) =>
      Math.max(...list.map((s) => s.closedAfterMs ?? Number.POSITIVE_INFINITY));
    console.log(
      `closed after (ms): no body ${worst(noBody)}, import no body ${worst([importNoBody])}, ` +
        `dribbling ${worst(dribbling)}, silent ${worst(silent)}; /healthz ${JSON.stringify(latency)}`,
    );
    expect(worst([...noBody, importNoBody])).toBeLessThan(REQUEST_S * 1000 + SLACK_MS);
    expect(worst(dribbling)).toBeLessThan(HEADERS_S * 1000 + SLACK_MS);
    expect(worst(silent)).toBeLessThan(HEADERS_S * 1000 + SLACK_MS);
    // The refusal says why, when it says anything.
    for (const socket of noBody) expect([undefined, 408]).toContain(socket.status);
    expect(latency.max).toBeLessThan(1000);
  }, 60_000);

  it('caps connections: sockets past the cap are closed at once; the others still answer', async () => {
    const held = await Promise.all(
      Array.from({ length: MAX_CONNECTIONS + 20 }, () => track(RawHttpSocket.open(manager.port))),
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    const open = held.filter((s) => s.open).length;
    console.log(`${held.length} silent sockets opened, ${open} still open`);
    expect(open).toBeLessThanOrEqual(MAX_CONNECTIONS);
    for (const socket of held) socket.destroy();
    await Promise.all(held.map((s) => s.closed));
    expect(await latencyOf(`${manager.url}/healthz`)).toBeLessThan(1000);
  }, 30_000);

  it('lets a slow upload that finishes within the request bound through', async () => {
    const body = JSON.stringify({ id: 'slow', displayName: 'Slow' });
    const raw = await track(RawHttpSocket.open(manager.port));
    raw.write(
      `POST /v1/admin/domains/acme/members HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
        `Authorization: Bearer ${manager.bootstrapToken}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${body.length}\r\n\r\n`,
    );
    // The body trickles in over about 2 s: under the request bound, over the headers bound.
    const step = Math.ceil(body.length / 5);
    for (let i = 0; i < 5; i++) {
      await new Promise((resolve) => setTimeout(resolve, 400));
      raw.write(body.slice(i * step, (i + 1) * step));
    }
    const deadline = Date.now() + 5000;
    while (raw.status === undefined && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(raw.status).toBe(201);
    raw.destroy();
  }, 30_000);
});
