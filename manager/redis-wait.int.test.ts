// The Manager as the Helm chart runs it by default: on the built-in Redis of a RelayPool that
// does not exist yet (--redis-relay-pool). It must start, serve and be ready for Kubernetes
// (/readyz?degraded=ok), tell every caller why it cannot work yet and what to do, read the
// Redis password from the pool's Secret once the operator made it, and follow a new password.
// A real kube-apiserver, real redis-server (with a password) and a real `grove manager`.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { KubeClient } from '../kube/kube-client.js';
import { resourceTypes as t } from '../kube/resource-types.js';
import { spawnGrove } from '../test/support/grove-cli.js';
import { createNamespace, installGroveCrds } from '../test/support/grove-crds.js';
import { KubeApiServer } from '../test/support/kube-apiserver.js';
import { freePort, waitFor } from '../test/support/ports.js';

const ns = 'grove-mgr';
const TOKEN = 'redis-wait-bootstrap-token';

let kube: KubeApiServer | undefined;
let client: KubeClient;
let manager: ChildProcess | undefined;
let redis: ChildProcess | undefined;
let redisPort: number;
/** Redis's AOF folder: the data outlives a restart, as on the pool's volume. */
let redisDir: string;
let managerUrl: string;
const logs: string[] = [];

/** A redis-server that wants `password`, on redisPort, with AOF in redisDir. */
async function startRedis(password: string): Promise<void> {
  redis = spawn(
    'redis-server',
    [
      '--port',
      String(redisPort),
      '--bind',
      '127.0.0.1',
      '--requirepass',
      password,
      '--dir',
      redisDir,
      '--save',
      '',
      '--appendonly',
      'yes',
      '--appendfsync',
      'always',
    ],
    { stdio: 'ignore' },
  );
  await waitFor(async () => {
    const probe = new Redis(redisPort, '127.0.0.1', {
      password,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    try {
      await probe.connect();
      await probe.ping();
      return true;
    } finally {
      probe.disconnect();
    }
  }, 'redis-server');
}

async function stopRedis(): Promise<void> {
  const child = redis;
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

async function get(path: string, token?: string): Promise<{ status: number; body: Json }> {
  const response = await fetch(`${managerUrl}${path}`, {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });
  return { status: response.status, body: (await response.json()) as Json };
}

type Json = Record<string, unknown>;
const messageOf = (body: Json) => String((body.error as Json | undefined)?.message);

async function secret(password: string): Promise<void> {
  const object = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'main-redis-auth', namespace: ns },
    data: { password: Buffer.from(password).toString('base64') },
  };
  const existing = await client.get(t.secrets, ns, 'main-redis-auth');
  if (existing === undefined) await client.create(t.secrets, object);
  else {
    await client.replace(t.secrets, {
      ...object,
      metadata: { ...object.metadata, resourceVersion: existing.metadata.resourceVersion },
    });
  }
}

beforeAll(async () => {
  kube = await KubeApiServer.start();
  client = await KubeClient.fromKubeConfig({ kubeconfigPath: kube.kubeconfigPath });
  await installGroveCrds(client);
  await createNamespace(client, ns);
  redisPort = await freePort();
  redisDir = mkdtempSync(join(tmpdir(), 'grove-manager-redis-'));
  const port = await freePort();
  managerUrl = `http://127.0.0.1:${port}`;
  manager = spawnGrove(
    [
      'manager',
      '--port',
      String(port),
      '--host',
      '127.0.0.1',
      '--kubeconfig',
      kube.kubeconfigPath,
      '--namespace',
      ns,
      '--redis',
      `redis://127.0.0.1:${redisPort}`,
      '--redis-relay-pool',
      `${ns}/main`,
      '--degraded-ready-after',
      '5',
      '--metrics-port',
      '0',
    ],
    { GROVE_BOOTSTRAP_TOKEN: TOKEN },
  );
  manager.stdout?.on('data', (chunk: Buffer) => logs.push(...chunk.toString().split('\n')));
  manager.stderr?.on('data', (chunk: Buffer) => logs.push(...chunk.toString().split('\n')));
}, 180_000);

afterAll(async () => {
  if (manager !== undefined && manager.exitCode === null) {
    const exited = new Promise((resolve) => manager?.once('exit', resolve));
    manager.kill('SIGTERM');
    await exited;
  }
  await stopRedis();
  rmSync(redisDir, { recursive: true, force: true });
  client.close();
  await kube?.stop();
});

describe('the Manager on a RelayPool that does not exist yet', () => {
  it('starts, is ready for Kubernetes, and says what is missing in every answer', async () => {
    // Not ready at once: a new pod of a rolling update that reaches Redis within the grace is
    // Ready only then, and the old pod serves meanwhile.
    const early = await waitFor(
      async () => {
        try {
          return await get('/readyz?degraded=ok');
        } catch {
          return undefined;
        }
      },
      'the Manager to answer',
      30_000,
    );
    const upAt = Date.now();
    expect(early.status).toBe(503);
    expect(messageOf(early.body)).toMatch(/ready without Redis in [1-5] s/);
    const degraded = await waitFor(
      async () => {
        const answer = await get('/readyz?degraded=ok');
        return answer.status === 200 && answer;
      },
      'the Manager to serve',
      30_000,
    );
    // About the 5 s of --degraded-ready-after (the first answer came some time after start).
    expect(Date.now() - upAt).toBeLessThan(6500);
    expect(degraded.body).toMatchObject({
      status: 'degraded',
      error: { code: 'STORAGE_UNAVAILABLE' },
    });
    expect(messageOf(degraded.body)).toContain(
      `RelayPool ${ns}/main, which does not exist yet: create a RelayPool named main in namespace ${ns}`,
    );
    const strict = await get('/readyz');
    expect(strict.status).toBe(503);
    const started = Date.now();
    const whoami = await get('/v1/admin/whoami', TOKEN);
    // Fast: Redis is not there, nothing to wait for.
    expect(Date.now() - started).toBeLessThan(5000);
    expect(whoami.status).toBe(503);
    expect(whoami.body).toMatchObject({ error: { code: 'STORAGE_UNAVAILABLE' } });
    expect(messageOf(whoami.body)).toContain('does not exist yet');
    // The web UI is served meanwhile.
    expect((await fetch(`${managerUrl}/`)).status).toBe(200);
  }, 60_000);

  it('follows the pool as it appears: no Secret yet, then a Redis that does not answer yet', async () => {
    await client.create(t.relayPools, {
      apiVersion: 'grove.dev/v1alpha1',
      kind: 'RelayPool',
      metadata: { name: 'main', namespace: ns },
      spec: {},
    });
    await waitFor(
      async () =>
        messageOf((await get('/readyz?degraded=ok')).body).includes(
          'no Redis password Secret main-redis-auth yet',
        ),
      'the message about the Secret',
      20_000,
    );
    await secret('first-password');
    const answer = await waitFor(
      async () => {
        const body = (await get('/readyz?degraded=ok')).body;
        return messageOf(body).includes('does not answer yet') && body;
      },
      'the message about Redis',
      20_000,
    );
    expect(messageOf(answer)).toContain(`the built-in Redis of RelayPool ${ns}/main`);
  }, 60_000);

  it('connects once Redis is there, with the password of the Secret, and stores the bootstrap token', async () => {
    await startRedis('first-password');
    await waitFor(async () => (await get('/readyz')).status === 200, 'the Manager ready', 30_000);
    const whoami = await get('/v1/admin/whoami', TOKEN);
    expect(whoami.status).toBe(200);
    expect(whoami.body).toMatchObject({ name: 'bootstrap', role: 'server-admin' });
    const messages = logs.flatMap((line) => {
      try {
        return [(JSON.parse(line) as { message: string }).message];
      } catch {
        return [];
      }
    });
    expect(messages).toEqual(
      expect.arrayContaining([
        'cannot reach Redis yet; retrying',
        'waiting for Redis to store the bootstrap admin token',
        'read the Redis password of the RelayPool',
        'connected to Redis',
      ]),
    );
    expect(
      messages.some((m) => /bootstrap admin token (was )?stored|stored the bootstrap/.test(m)),
    ).toBe(true);
  }, 60_000);

  it('follows a replaced password Secret', async () => {
    await secret('second-password');
    await stopRedis();
    await startRedis('second-password');
    await waitFor(
      async () => (await get('/v1/admin/whoami', TOKEN)).status === 200,
      'the Manager on the new password',
      30_000,
    );
  }, 60_000);
});
