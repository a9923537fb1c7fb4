import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  GroveClient,
  type ConnectionRefused,
  type ReceivedMessage,
} from '../client/sdk/grove-client.js';
import {
  DeviceKey,
  ManagerProcess,
  writeManagerConfig,
  stopAll,
} from '../test/support/manager-process.js';
import { waitFor } from '../test/support/ports.js';
import { RedisCluster } from '../test/support/redis-server.js';
import { makeDomain, RelayProcess } from '../test/support/relay-process.js';

interface Enrolled {
  deviceId: string;
  relays: string[];
  token: string;
}

let cluster: RedisCluster;
let relay: RelayProcess;
let manager: ManagerProcess;
const clients: GroveClient[] = [];

beforeAll(async () => {
  cluster = await RedisCluster.start(3);
  const domain = await makeDomain('orbit');
  const target = { url: cluster.url, cluster: true };
  relay = await RelayProcess.start({ redis: target, domains: [domain] });
  const configFile = writeManagerConfig({
    redisPort: cluster.nodes[0]?.port ?? 0,
    domains: [{ domain, relayUrls: [relay.url] }],
  });
  manager = await ManagerProcess.start({
    configFile,
    redisUrl: cluster.url,
    args: ['--redis-cluster'],
  });
}, 60_000);

afterAll(async () => {
  await stopAll(
    () => Promise.all(clients.map((c) => c.close())),
    () => manager.terminate(),
    () => relay.terminate(),
    () => cluster.stop(),
  );
});

async function enroll(id: string): Promise<Enrolled> {
  await manager.api('POST', '/v1/admin/domains/orbit/members', { id, displayName: id });
  const code = await manager.api<{ code: string }>(
    'POST',
    `/v1/admin/domains/orbit/members/${id}/codes`,
    {},
  );
  const answer = await manager.api<Enrolled>(
    'POST',
    '/v1/enroll',
    { code: code.body.code, publicKey: DeviceKey.generate().publicKey, deviceName: 'd' },
    null,
  );
  expect(answer.status).toBe(201);
  return answer.body;
}

describe('grove manager › on a Redis Cluster', () => {
  it('enrolls, relays through the same cluster, reports usage and revokes', async () => {
    const [ada, bo] = [await enroll('ada'), await enroll('bo')];
    const received: ReceivedMessage[] = [];
    const adaClient = new GroveClient({ relays: ada.relays, token: ada.token });
    const boClient = new GroveClient({
      relays: bo.relays,
      token: bo.token,
      onMessage: (m) => {
        received.push(m);
      },
    });
    clients.push(adaClient, boClient);
    await Promise.all([adaClient.start(), boClient.start()]);
    await adaClient.send(['identity:bo'], 'over the cluster');
    await waitFor(() => received.length === 1, 'bo receives');

    await waitFor(
      async () => {
        const usage = await manager.api<{ devicesOnline: number; members: number }>(
          'GET',
          '/v1/admin/domains/orbit/usage',
        );
        return usage.body.members === 2 && usage.body.devicesOnline === 2;
      },
      'usage to count both devices online',
      5_000,
    );

    const fatal = new Promise<ConnectionRefused>((resolve) => boClient.once('fatal', resolve));
    const revoked = await manager.api(
      'POST',
      `/v1/admin/domains/orbit/devices/${bo.deviceId}/revoke`,
    );
    expect(revoked.status).toBe(200);
    expect((await fatal).code).toBe(4105);

    const audit = await manager.api<{ items: { action: string }[] }>(
      'GET',
      '/v1/admin/audit?domain=orbit&action=device.revoke',
    );
    expect(audit.body.items).toHaveLength(1);
  });

  it('stops cleanly on SIGTERM', async () => {
    expect(await manager.terminate()).toBe(0);
  });
});
