// The Manager on a replicated Redis: behind Sentinels it keeps working through a kill -9 of
// the primary, and on a RelayPool with a replicated built-in Redis it connects through the
// pool's Sentinels rather than to pod 0 (which may no longer be the primary). Real
// redis-server, Sentinel, Manager and kube-apiserver processes.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createNamespace, installGroveCrds } from '../test/support/grove-crds.js';
import { KubeApiServer } from '../test/support/kube-apiserver.js';
import { ManagerProcess, writeManagerConfig } from '../test/support/manager-process.js';
import { waitFor } from '../test/support/ports.js';
import { RedisSentinelGroup } from '../test/support/redis-sentinel.js';
import { RedisServer } from '../test/support/redis-server.js';
import { makeDomain } from '../test/support/relay-process.js';
import { KubeClient } from '../kube/kube-client.js';
import { resourceTypes as t } from '../kube/resource-types.js';
import { loggerOf, silentLogger } from '../contracts/logger.js';
import { poolRedisTarget } from './redis-access.js';

describe('grove manager › Redis behind Sentinels', () => {
  let group: RedisSentinelGroup;
  let manager: ManagerProcess;

  beforeAll(async () => {
    group = await RedisSentinelGroup.start({ replicas: 2, sentinels: 3, downAfterMs: 1000 });
    const domain = await makeDomain('acme');
    const configFile = writeManagerConfig({
      redisPort: group.servers[0]?.port ?? 0,
      domains: [{ domain, relayUrls: ['ws://127.0.0.1:1'] }],
    });
    manager = await ManagerProcess.start({ configFile, redisUrl: group.url });
  }, 120_000);

  afterAll(async () => {
    await manager.process.stop();
    await group.stop();
  });

  it('is ready on sentinel://, and ready again after the primary is killed', async () => {
    const readyz = async () => (await fetch(`${manager.url}/readyz`)).status;
    expect(await readyz()).toBe(200);
    const primary = await group.primary();
    await primary.kill();
    await group.waitForNewPrimary(primary);
    await waitFor(async () => (await readyz()) === 200, 'the Manager ready again', 20_000, 100);
    await primary.launch();
  }, 60_000);
});

describe('grove manager › the Redis of a replicated RelayPool', () => {
  const ns = 'grove-mgr';
  let kube: KubeApiServer;
  let client: KubeClient;

  beforeAll(async () => {
    kube = await KubeApiServer.start();
    client = await KubeClient.fromKubeConfig({ kubeconfigPath: kube.kubeconfigPath });
    await installGroveCrds(client);
    await createNamespace(client, ns);
  }, 120_000);

  afterAll(async () => {
    client.close();
    await kube.stop();
  });

  const pool = (name: string, builtin: Record<string, unknown>) => ({
    apiVersion: 'grove.dev/v1alpha1',
    kind: 'RelayPool',
    metadata: { name, namespace: ns },
    spec: { redis: { builtin } },
  });
  const fallback = { url: 'redis://given:6379', cluster: false };
  const log = silentLogger;

  it('connects through the pool’s Sentinels with highAvailability, else to --redis', async () => {
    await client.create(t.relayPools, pool('ha', { highAvailability: {} }));
    await client.create(t.relayPools, pool('single', {}));
    const ha = await poolRedisTarget(client, { namespace: ns, name: 'ha' }, fallback, log);
    expect(ha.url).toBe(
      `sentinel://ha-redis-0.ha-redis.${ns}.svc:26379,ha-redis-1.ha-redis.${ns}.svc:26379,ha-redis-2.ha-redis.${ns}.svc:26379/grove`,
    );
    expect(await poolRedisTarget(client, { namespace: ns, name: 'single' }, fallback, log)).toBe(
      fallback,
    );
    // Not there (yet): as given.
    expect(await poolRedisTarget(client, { namespace: ns, name: 'none' }, fallback, log)).toBe(
      fallback,
    );
  });

  it('names the pool to use instead when given a pool that borrows another pool’s Redis', async () => {
    await client.create(t.relayPools, {
      apiVersion: 'grove.dev/v1alpha1',
      kind: 'RelayPool',
      metadata: { name: 'failover', namespace: ns },
      spec: { redis: { relayPool: { name: 'ha' } } },
    });
    const warnings: string[] = [];
    const recording = loggerOf((level, message) => {
      if (level === 'warn') warnings.push(message);
    });
    const target = await poolRedisTarget(
      client,
      { namespace: ns, name: 'failover' },
      fallback,
      recording,
    );
    expect(target).toBe(fallback);
    expect(warnings).toEqual([
      `RelayPool ${ns}/failover has no Redis of its own: it uses the built-in Redis of RelayPool ` +
        "ha. Point the Manager at ha (the chart's manager.redis.relayPool, or --redis-relay-pool)",
    ]);
  });

  it('starts again on the Sentinels when its pool, created after it started, is replicated', async () => {
    // As the chart installs it: the Manager first, on the address of a pool not there yet.
    const redis = await RedisServer.start();
    const later = await ManagerProcess.start({
      kubeconfig: kube.kubeconfigPath,
      namespace: ns,
      redisUrl: redis.url,
      args: ['--redis-relay-pool', `${ns}/later`],
    });
    try {
      const logged = (message: string) =>
        later.process.lines.filter((line) => line.includes(`"message":"${message}"`));
      // Another pool changes nothing.
      await client.create(t.relayPools, pool('unrelated', { highAvailability: {} }));
      await client.create(t.relayPools, pool('later', { highAvailability: {} }));
      // As the operator makes it: the Manager reads its Redis password there.
      await client.create(t.secrets, {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'later-redis-auth', namespace: ns },
        data: { password: Buffer.from('pw').toString('base64') },
      });
      const sentinels = `sentinel://later-redis-0.later-redis.${ns}.svc:26379`;
      // Sentinels that cannot be reached (their names do not resolve here): not ready, and
      // saying why at once rather than waiting for them.
      await waitFor(
        async () => {
          const answer = await fetch(`${later.url}/readyz`, {
            signal: AbortSignal.timeout(3000),
          }).catch(() => undefined);
          return answer?.status === 503 && (await answer.text()).includes(sentinels);
        },
        'the Manager on the pool’s Sentinels',
        30_000,
        100,
      ).catch((error: unknown) => {
        throw new Error(`${String(error)}\n${later.process.tail()}`);
      });
      const moved = logged('the RelayPool’s Redis moved: the Manager starts again on it');
      expect(moved).toHaveLength(1);
      expect(JSON.parse(moved[0] ?? '{}')).toMatchObject({
        relayPool: `${ns}/later`,
        from: redis.url,
        to: expect.stringContaining(sentinels) as unknown,
      });
      expect(logged('manager listening')).toHaveLength(2);
      expect(later.running).toBe(true);
    } finally {
      await later.terminate();
      await redis.stop();
    }
  }, 90_000);
});
