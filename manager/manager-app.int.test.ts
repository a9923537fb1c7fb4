import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { FastifyInstance } from 'fastify';
import { connectRedis, type RedisClient } from '../contracts/redis/connection.js';
import { writeManagerConfig, DeviceKey, stopAll } from '../test/support/manager-process.js';
import { RedisServer } from '../test/support/redis-server.js';
import { makeDomain } from '../test/support/relay-process.js';
import { LocalConfigSource } from './config-source/local-config-source.js';
import { createManagerApp } from './manager-app.js';
import { ManagerMetrics } from './metrics.js';
import { RedisManagerStore } from './store/redis-manager-store.js';

interface ErrorBody {
  error: { code: string };
}

let redis: RedisServer;
let client: RedisClient;
let app: FastifyInstance;
let uiDir: string;
const metrics = new ManagerMetrics();
/** The app's clock: tests move it. */
let now = new Date('2030-01-01T00:00:00Z');
const ADMIN = 'in-process-admin-token-0123456789';
const auth = { authorization: `Bearer ${ADMIN}` };

beforeAll(async () => {
  redis = await RedisServer.start({ appendonly: false });
  client = connectRedis({ url: redis.url, cluster: false }, 'commands');
  const store = new RedisManagerStore(client);
  await store.ensureBootstrapToken(ADMIN, now);
  const config = new LocalConfigSource(
    writeManagerConfig({ redisPort: redis.port, domains: [{ domain: await makeDomain('acme') }] }),
  );
  await config.start();
  uiDir = mkdtempSync(join(tmpdir(), 'grove-ui-'));
  mkdirSync(join(uiDir, 'assets'));
  writeFileSync(join(uiDir, 'index.html'), '<!doctype html><title>Grove</title>');
  writeFileSync(join(uiDir, 'assets', 'app.js'), 'console.log(1)');
  writeFileSync(join(tmpdir(), 'grove-outside-ui.txt'), 'secret');
  app = await createManagerApp({
    store,
    config,
    now: () => now,
    metrics,
    uiDir,
    ping: () => client.ping(),
    log: { info: () => undefined, warn: () => undefined, error: () => undefined },
  });
  await app.ready();
}, 30_000);

afterAll(async () => {
  await stopAll(
    () => app.close(),
    () => {
      client.disconnect();
      return Promise.resolve();
    },
    () => redis.stop(),
  );
});

describe('manager app › activation code expiry', () => {
  it('refuses a code once its ttl has passed, and accepts it just before', async () => {
    const created = await app.inject({
      method: 'POST',
      url: '/v1/admin/domains/acme/members',
      headers: auth,
      payload: { id: 'kim', displayName: 'Kim' },
    });
    expect(created.statusCode).toBe(201);
    const issue = async () => {
      const answer = await app.inject({
        method: 'POST',
        url: '/v1/admin/domains/acme/members/kim/codes',
        headers: auth,
        payload: { ttlSeconds: 60 },
      });
      expect(answer.statusCode).toBe(201);
      return answer.json<{ code: string; expiresAt: string }>();
    };
    const enroll = (code: string) =>
      app.inject({
        method: 'POST',
        url: '/v1/enroll',
        payload: { code, publicKey: DeviceKey.generate().publicKey, deviceName: 'tablet' },
      });

    const late = await issue();
    expect(late.expiresAt).toBe('2030-01-01T00:01:00.000Z');
    const early = await issue();
    now = new Date(now.getTime() + 59_000);
    expect((await enroll(early.code)).statusCode).toBe(201);
    now = new Date(now.getTime() + 2_000);
    const expired = await enroll(late.code);
    expect(expired.statusCode).toBe(410);
    expect(expired.json<ErrorBody>().error.code).toBe('CODE_EXPIRED');
  });

  it('counts enrollments by outcome in its metrics registry', async () => {
    const text = await metrics.registry.metrics();
    expect(text).toContain('grove_manager_enrollments_total{outcome="success"} 1');
    expect(text).toContain('grove_manager_enrollments_total{outcome="CODE_EXPIRED"} 1');
    expect(text).toMatch(
      /grove_manager_http_requests_total\{method="POST",route="\/v1\/enroll",status="201"\} 1/,
    );
  });
});

describe('manager app › routes', () => {
  it('takes members:import with its colon percent-encoded', async () => {
    const answer = await app.inject({
      method: 'POST',
      url: '/v1/admin/domains/acme/members%3Aimport',
      headers: auth,
      payload: [{ id: 'enc', displayName: 'Encoded' }],
    });
    expect(answer.statusCode).toBe(200);
    expect(answer.json<{ created: string[] }>().created).toEqual(['enc']);
  });
});

describe('manager app › web UI files', () => {
  it('serves the UI under / and /ui/ with a strict Content-Security-Policy', async () => {
    for (const url of ['/', '/ui/', '/ui/index.html']) {
      const page = await app.inject({ method: 'GET', url });
      expect(page.statusCode).toBe(200);
      expect(page.headers['content-type']).toMatch(/^text\/html/);
      expect(page.body).toContain('<title>Grove</title>');
      expect(page.headers['content-security-policy']).toMatch(/^default-src 'self'/);
      expect(page.headers['content-security-policy']).not.toContain('unsafe-inline');
    }
    const script = await app.inject({ method: 'GET', url: '/ui/assets/app.js' });
    expect(script.headers['content-type']).toMatch(/^text\/javascript/);
  });

  it('never serves a file outside the UI folder', async () => {
    for (const url of [
      '/ui/../grove-outside-ui.txt',
      '/ui/..%2fgrove-outside-ui.txt',
      '/..%2f..%2fetc%2fpasswd',
      '/ui/%2e%2e/grove-outside-ui.txt',
    ]) {
      const answer = await app.inject({ method: 'GET', url });
      expect(answer.statusCode).toBe(404);
      expect(answer.body).not.toContain('secret');
    }
  });

  it('answers readiness from the configuration and Redis', async () => {
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });
});
