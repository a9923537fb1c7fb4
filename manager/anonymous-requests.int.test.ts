import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { request as httpRequest } from 'node:http';
import { ManagerProcess, stopAll, writeManagerConfig } from '../test/support/manager-process.js';
import { RedisServer } from '../test/support/redis-server.js';
import { makeDomain } from '../test/support/relay-process.js';
import { latencyProbe, RawHttpSocket } from '../test/support/slow-http.js';

/**
 * Admin routes refuse a caller without a valid token before reading its body, so anonymous
 * bodies (up to 10 MiB on imports) cost the Manager nothing to parse (issue 12, item 3).
 */

let redis: RedisServer;
let manager: ManagerProcess;

beforeAll(async () => {
  redis = await RedisServer.start({ appendonly: false });
  const configFile = writeManagerConfig({
    redisPort: redis.port,
    domains: [{ domain: await makeDomain('acme') }],
  });
  // Each anonymous request is a failed login: the per-address limit (tested in
  // audit-flood.int.test.ts) is raised so every admin route is tried here.
  manager = await ManagerProcess.start({
    configFile,
    redisUrl: redis.url,
    args: ['--rate-limit-login-failures', '10000'],
  });
}, 60_000);

afterAll(async () => {
  await stopAll(
    () => manager.terminate(),
    () => redis.stop(),
  );
});

const MiB = 1024 * 1024;

/** 10 MiB of nested JSON arrays: about a second of JSON.parse each. */
function nestedJson(bytes: number): Buffer {
  const half = bytes / 2;
  return Buffer.concat([Buffer.alloc(half, '['), Buffer.alloc(half, ']')]);
}

/** POSTs `body` without a token; resolves with the status and the time of the answer. */
function postAnonymous(port: number, path: string, body: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': body.length },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('anonymous bodies on admin routes', () => {
  it('keep /healthz fast while three 10 MiB nested JSON imports without a token arrive', async () => {
    const path = '/v1/admin/domains/acme/members:import';
    const body = nestedJson(10 * MiB);
    const probe = latencyProbe(`${manager.url}/healthz`, 20);
    const statuses = await Promise.all(
      [1, 2, 3].map(() => postAnonymous(manager.port, path, body)),
    );
    // A few more samples after the attack (before the fix, each body cost a second of parsing).
    await new Promise((resolve) => setTimeout(resolve, 300));
    const latency = await probe.stop();
    console.log(`/healthz under three anonymous 10 MiB imports: ${JSON.stringify(latency)}`);
    expect(statuses).toEqual([401, 401, 401]);
    expect(latency.max).toBeLessThan(1000);
  }, 60_000);

  it('answer 401 on every admin route with a body before the body has arrived', async () => {
    const doc = await manager.api<{ paths: Record<string, Record<string, unknown>> }>(
      'GET',
      '/v1/openapi.json',
    );
    const routes: [string, string][] = [];
    for (const [path, methods] of Object.entries(doc.body.paths)) {
      if (!path.startsWith('/v1/admin/')) continue;
      for (const method of Object.keys(methods)) {
        routes.push([method.toUpperCase(), path.replace(/\{(\w+)\}/g, 'x')]);
      }
    }
    expect(routes.length).toBeGreaterThan(20);
    for (const [method, rawPath] of routes) {
      const path = rawPath.replace('/domains/x', '/domains/acme');
      const raw = await RawHttpSocket.open(manager.port);
      // Headers announce 1 MiB; only 10 bytes follow, and nothing more.
      raw.write(
        `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${MiB}\r\n\r\n[{"id":"a"`,
      );
      const deadline = Date.now() + 5000;
      while (raw.status === undefined && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      raw.destroy();
      expect([method, path, raw.status]).toEqual([method, path, 401]);
    }
  }, 120_000);
});
