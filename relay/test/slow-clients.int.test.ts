import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { stopAll } from '../../test/support/manager-process.js';
import { RawClient } from '../../test/support/raw-client.js';
import { RedisServer } from '../../test/support/redis-server.js';
import {
  makeDomain,
  RelayProcess,
  seedDirectory,
  tokenFor,
  type TestDomain,
} from '../../test/support/relay-process.js';
import {
  dribbleHeaders,
  headersWithoutBody,
  latencyOf,
  latencyProbe,
  RawHttpSocket,
} from '../../test/support/slow-http.js';

/**
 * Slowloris against a real relay (issue 12, item 5): stalled sockets are closed within the
 * relay's connection bounds, the connection count is capped, /healthz stays fast, and the
 * long-poll wait and WebSocket connections are not cut by the idle bound.
 */

let redis: RedisServer;
let relay: RelayProcess;
let acme: TestDomain;
const sockets: RawHttpSocket[] = [];
const raws: RawClient[] = [];

const HEADERS_MS = 2000;
const REQUEST_MS = 3000;
const IDLE_MS = 3000;
const MAX_CONNECTIONS = 60;
const SLACK_MS = 2500;

beforeAll(async () => {
  redis = await RedisServer.start({ appendonly: false });
  acme = await makeDomain('acme');
  await seedDirectory(redis.target, 'acme', {
    identities: [{ id: 'alice', devices: ['a1', 'a2'] }],
    workspaces: [],
  });
  relay = await RelayProcess.start({
    redis: redis.target,
    domains: [acme],
    overrides: {
      connection: {
        headersTimeoutMs: HEADERS_MS,
        requestTimeoutMs: REQUEST_MS,
        idleTimeoutMs: IDLE_MS,
        maxConnections: MAX_CONNECTIONS,
      },
      longPoll: { maxWaitSeconds: 6 },
    },
  });
}, 60_000);

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  for (const raw of raws) raw.close();
  await stopAll(
    () => relay.terminate(),
    () => redis.stop(),
  );
});

async function track(socket: Promise<RawHttpSocket>): Promise<RawHttpSocket> {
  const raw = await socket;
  sockets.push(raw);
  return raw;
}

const worst = (list: RawHttpSocket[]) =>
  Math.max(...list.map((s) => s.closedAfterMs ?? Number.POSITIVE_INFINITY));

describe('slow clients of a relay', () => {
  it('closes headers without a body, dribbled headers and silent sockets within the bounds', async () => {
    const probe = latencyProbe(`${relay.httpUrl}/healthz`, 50);
    const noBody = await Promise.all(
      Array.from({ length: 10 }, () => track(headersWithoutBody(relay.port, '/v1/poll/send'))),
    );
    const dribbling = await Promise.all(
      Array.from({ length: 10 }, () => track(dribbleHeaders(relay.port, 300))),
    );
    const silent = await Promise.all(
      Array.from({ length: 10 }, () => track(RawHttpSocket.open(relay.port))),
    );
    await Promise.race([
      Promise.all([...noBody, ...dribbling, ...silent].map((s) => s.closed)),
      new Promise((resolve) => setTimeout(resolve, 15_000)),
    ]);
    const latency = await probe.stop();
    console.log(
      `relay closed after (ms): no body ${worst(noBody)}, dribbling ${worst(dribbling)}, ` +
        `silent ${worst(silent)}; /healthz ${JSON.stringify(latency)}`,
    );
    expect(worst(noBody)).toBeLessThan(REQUEST_MS + SLACK_MS);
    expect(worst(dribbling)).toBeLessThan(HEADERS_MS + SLACK_MS);
    expect(worst(silent)).toBeLessThan(HEADERS_MS + SLACK_MS);
    expect(latency.max).toBeLessThan(1000);
  }, 60_000);

  it('does not cut a long poll that waits longer than the idle bound', async () => {
    const token = await tokenFor(acme, 'alice', 'a1');
    const started = Date.now();
    const response = await fetch(`${relay.httpUrl}/v1/poll?wait=5`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const elapsed = Date.now() - started;
    expect(response.status).toBe(200);
    expect(elapsed).toBeGreaterThan(IDLE_MS);
    await response.arrayBuffer();
  }, 30_000);

  it('keeps an idle WebSocket connection past the idle bound', async () => {
    const client = await RawClient.hello(relay, await tokenFor(acme, 'alice', 'a2'));
    raws.push(client);
    let closed = false;
    void client.closed.then(() => {
      closed = true;
    });
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS + 2000));
    expect(closed).toBe(false);
    client.close();
  }, 30_000);

  it('caps connections: sockets past the cap are closed at once', async () => {
    const held = await Promise.all(
      Array.from({ length: MAX_CONNECTIONS + 20 }, () => track(RawHttpSocket.open(relay.port))),
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    const open = held.filter((s) => s.open).length;
    console.log(`${held.length} silent sockets opened on the relay, ${open} still open`);
    expect(open).toBeLessThanOrEqual(MAX_CONNECTIONS);
    for (const socket of held) socket.destroy();
    await Promise.all(held.map((s) => s.closed));
    expect(await latencyOf(`${relay.httpUrl}/healthz`)).toBeLessThan(1000);
  }, 30_000);
});
