// The Manager serves /metrics on a port of its own (--metrics-port), never on its public port:
// the admin API and web UI answer /metrics with 404, the metrics port serves the registry.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ManagerProcess, stopAll, writeManagerConfig } from '../test/support/manager-process.js';
import { freePort } from '../test/support/ports.js';
import { RedisServer } from '../test/support/redis-server.js';
import { makeDomain } from '../test/support/relay-process.js';

let redis: RedisServer;
let manager: ManagerProcess;
let metricsPort: number;

beforeAll(async () => {
  redis = await RedisServer.start({ appendonly: false });
  const configFile = writeManagerConfig({
    redisPort: redis.port,
    domains: [{ domain: await makeDomain('acme') }],
  });
  metricsPort = await freePort();
  manager = await ManagerProcess.start({
    configFile,
    redisUrl: redis.url,
    args: ['--metrics-port', String(metricsPort)],
  });
}, 60_000);

afterAll(async () => {
  await stopAll(
    () => manager.terminate(),
    () => redis.stop(),
  );
});

describe('Manager /metrics port', () => {
  it('answers 404 for /metrics on the public port', async () => {
    const response = await fetch(`${manager.url}/metrics`);
    expect(response.status).toBe(404);
    expect(await response.text()).not.toContain('grove_manager_');
  });

  it('serves /metrics on the metrics port, counting the public requests, and nothing else there', async () => {
    await fetch(`${manager.url}/healthz`);
    const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).toMatch(/grove_manager_http_requests_total\{[^}]*route="\/healthz"/);
    expect((await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${metricsPort}/v1/admin/members`)).status).toBe(404);
  });
});
