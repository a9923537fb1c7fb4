import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import WebSocket from 'ws';
import {
  GroveClient,
  type ConnectionRefused,
  type ReceivedMessage,
} from '../client/sdk/grove-client.js';
import {
  DeviceKey,
  ManagerProcess,
  writeManagerConfig,
  type ApiAnswer,
  stopAll,
} from '../test/support/manager-process.js';
import { waitFor } from '../test/support/ports.js';
import { RedisServer } from '../test/support/redis-server.js';
import { makeDomain, RelayProcess, type TestDomain } from '../test/support/relay-process.js';

interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}
interface Enrolled {
  deviceId: string;
  identityId: string;
  domain: string;
  relays: string[];
  token: string;
  tokenExpiresAt: string;
  policy: { relay: { maxMessageBytes: number }; identity: { contactSearch: boolean } };
}

let redis: RedisServer;
let relay: RelayProcess;
let manager: ManagerProcess;
let acme: TestDomain;
let globex: TestDomain;
const clients: GroveClient[] = [];

beforeAll(async () => {
  redis = await RedisServer.start({ appendonly: false });
  acme = await makeDomain('acme');
  globex = await makeDomain('globex');
  relay = await RelayProcess.start({
    redis: { url: redis.url, cluster: false },
    domains: [acme, globex],
  });
  const configFile = writeManagerConfig({
    redisPort: redis.port,
    domains: [
      { domain: acme, relayUrls: [relay.url], tokenTTLSeconds: 600, labels: { tier: 'gold' } },
      { domain: globex, relayUrls: [relay.url] },
    ],
    policies: [
      {
        name: 'base',
        priority: 0,
        relay: { maxMessageBytes: 4096 },
        identity: { contactSearch: true },
      },
      {
        name: 'gold',
        priority: 10,
        domainSelector: { matchLabels: { tier: 'gold' } },
        relay: { maxMessageBytes: 8192 },
      },
      {
        name: 'quiet',
        priority: 5,
        domainSelector: { matchLabels: { tier: 'gold' } },
        identity: { contactSearch: false },
      },
    ],
  });
  // No --redis: local mode takes the LocalStack's redis port.
  manager = await ManagerProcess.start({ configFile });
}, 60_000);

afterAll(async () => {
  await stopAll(
    () => Promise.all(clients.map((c) => c.close())),
    () => manager.terminate(),
    () => relay.terminate(),
    () => redis.stop(),
  );
});

async function member(domain: string, id: string): Promise<void> {
  const created = await manager.api('POST', `/v1/admin/domains/${domain}/members`, {
    id,
    displayName: id.toUpperCase(),
    email: `${id}@example.com`,
  });
  expect(created.status).toBe(201);
}

async function issueCode(domain: string, id: string, ttlSeconds?: number): Promise<string> {
  const issued = await manager.api<{ code: string; id: string }>(
    'POST',
    `/v1/admin/domains/${domain}/members/${id}/codes`,
    ttlSeconds === undefined ? {} : { ttlSeconds },
  );
  expect(issued.status).toBe(201);
  return issued.body.code;
}

async function enroll(code: string, key: DeviceKey, name = 'laptop'): Promise<ApiAnswer<Enrolled>> {
  return manager.api<Enrolled>(
    'POST',
    '/v1/enroll',
    {
      code,
      publicKey: key.publicKey,
      deviceName: name,
    },
    null,
  );
}

async function enrolledDevice(domain: string, id: string) {
  const key = DeviceKey.generate();
  const answer = await enroll(await issueCode(domain, id), key);
  expect(answer.status).toBe(201);
  return { key, ...answer.body };
}

function connect(device: Enrolled, onMessage?: (m: ReceivedMessage) => void): GroveClient {
  const client = new GroveClient({
    relays: device.relays,
    token: device.token,
    transport: 'websocket',
    ...(onMessage === undefined ? {} : { onMessage }),
  });
  clients.push(client);
  return client;
}

describe('grove manager › enrollment', () => {
  it('enrolls two devices whose first tokens connect to a real relay and exchange a message', async () => {
    await member('acme', 'alice');
    await member('acme', 'bob');
    const alice = await enrolledDevice('acme', 'alice');
    const bob = await enrolledDevice('acme', 'bob');
    expect(alice).toMatchObject({ identityId: 'alice', domain: 'acme', relays: [relay.url] });
    expect(alice.deviceId).toMatch(/^d-[0-9a-z]{26}$/);
    // The gold Policy (priority 10) wins maxMessageBytes; quiet (5) turns contact search off.
    expect(alice.policy.relay.maxMessageBytes).toBe(8192);
    expect(alice.policy.identity.contactSearch).toBe(false);
    // The Domain's tokenTTLSeconds (600) sets the token lifetime.
    const ttl = (Date.parse(alice.tokenExpiresAt) - Date.now()) / 1000;
    expect(ttl).toBeGreaterThan(590);
    expect(ttl).toBeLessThanOrEqual(601);

    const received: ReceivedMessage[] = [];
    const bobClient = connect(bob, (m) => {
      received.push(m);
    });
    const aliceClient = connect(alice);
    await Promise.all([bobClient.start(), aliceClient.start()]);
    const receipt = await aliceClient.send(['identity:bob'], 'hello bob');
    expect(receipt.recipients).toBe(1);
    await waitFor(() => received.length === 1, 'bob receives the message');
    expect(received[0]?.from).toEqual({ identity: 'alice', device: alice.deviceId });
    expect(received[0]?.data.toString()).toBe('hello bob');

    const devices = await manager.api<{ id: string; presence: string }[]>(
      'GET',
      '/v1/admin/domains/acme/devices?member=bob',
    );
    expect(devices.body).toEqual([
      expect.objectContaining({ id: bob.deviceId, presence: 'active' }),
    ]);
    const bobRecord = await manager.api<{ id: string; devices: { id: string; name: string }[] }>(
      'GET',
      '/v1/admin/domains/acme/members/bob',
    );
    expect(bobRecord.body.devices).toEqual([
      expect.objectContaining({ id: bob.deviceId, name: 'laptop' }),
    ]);
    const enrolledEntry = await manager.api<{ items: { actor: string; target?: string }[] }>(
      'GET',
      `/v1/admin/audit?action=device.enroll&actor=${encodeURIComponent(`device:${bob.deviceId}`)}`,
    );
    expect(enrolledEntry.body.items).toEqual([
      expect.objectContaining({ target: `device:${bob.deviceId}` }),
    ]);
  });

  it('refuses a code the second time, and a revoked code', async () => {
    await member('acme', 'carol');
    const code = await issueCode('acme', 'carol');
    expect((await enroll(code, DeviceKey.generate())).status).toBe(201);
    const again = await enroll(code, DeviceKey.generate());
    expect(again.status).toBe(410);
    expect((again.body as unknown as ErrorBody).error.code).toBe('CODE_USED');

    const second = await manager.api<{ code: string; id: string }>(
      'POST',
      '/v1/admin/domains/acme/members/carol/codes',
      { ttlSeconds: 60 },
    );
    const revoked = await manager.api<{ revokedAt?: string }>(
      'DELETE',
      `/v1/admin/domains/acme/codes/${second.body.id}`,
    );
    expect(revoked.status).toBe(200);
    expect(revoked.body.revokedAt).toBeDefined();
    const refused = await enroll(second.body.code, DeviceKey.generate());
    expect(refused.status).toBe(410);
    expect((refused.body as unknown as ErrorBody).error.code).toBe('CODE_REVOKED');

    const unknown = await enroll('acme.AAAAAAAAAAAAAAAAAAAAAAAA', DeviceKey.generate());
    expect(unknown.status).toBe(400);
    expect((unknown.body as unknown as ErrorBody).error.code).toBe('CODE_INVALID');
  });
});

describe('grove manager › token refresh', () => {
  it('gives a fresh token for a signed challenge, refuses its replay, a stale one and a forged one', async () => {
    await member('acme', 'dave');
    const dave = await enrolledDevice('acme', 'dave');
    const challenge = dave.key.challenge('acme', dave.deviceId);
    const fresh = await manager.api<{ token: string; relays: string[] }>(
      'POST',
      '/v1/token',
      challenge,
      null,
    );
    expect(fresh.status).toBe(200);
    expect(fresh.body.relays).toEqual([relay.url]);
    const client = connect({ ...dave, token: fresh.body.token });
    await client.start();
    await client.close();

    const replay = await manager.api<ErrorBody>('POST', '/v1/token', challenge, null);
    expect(replay.status).toBe(409);
    expect(replay.body.error.code).toBe('REPLAYED');

    const old = new Date(Date.now() - 301_000).toISOString();
    const stale = await manager.api<ErrorBody>(
      'POST',
      '/v1/token',
      dave.key.challenge('acme', dave.deviceId, { timestamp: old }),
      null,
    );
    expect(stale.status).toBe(401);
    expect(stale.body.error.code).toBe('SIGNATURE_STALE');

    const forged = await manager.api<ErrorBody>(
      'POST',
      '/v1/token',
      DeviceKey.generate().challenge('acme', dave.deviceId),
      null,
    );
    expect(forged.status).toBe(401);
    expect(forged.body.error.code).toBe('SIGNATURE_INVALID');

    const devices = await manager.api<{ id: string; lastSeenAt?: string }[]>(
      'GET',
      '/v1/admin/domains/acme/devices?member=dave',
    );
    expect(devices.body[0]?.lastSeenAt).toBeDefined();
  });
});

describe('grove manager › revocation', () => {
  it('disconnects a live device with 4105, stops its tokens and refuses its refresh', async () => {
    await member('acme', 'erin');
    const erin = await enrolledDevice('acme', 'erin');
    const client = connect(erin);
    const fatal = new Promise<ConnectionRefused>((resolve) => client.once('fatal', resolve));
    await client.start();
    const started = Date.now();
    const revoked = await manager.api<{ revokedAt?: string }>(
      'POST',
      `/v1/admin/domains/acme/devices/${erin.deviceId}/revoke`,
    );
    expect(revoked.status).toBe(200);
    expect(revoked.body.revokedAt).toBeDefined();
    const refused = await fatal;
    expect(refused.code).toBe(4105);
    expect(Date.now() - started).toBeLessThan(1500);

    // Its still unexpired token no longer connects.
    const closeCode = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`${relay.url}/v1/connect`);
      ws.on('open', () => ws.send(JSON.stringify({ t: 'hello', token: erin.token })));
      ws.on('close', (code) => resolve(code));
      ws.on('error', () => resolve(-1));
    });
    expect([4104, 4105]).toContain(closeCode);

    const refresh = await manager.api<ErrorBody>(
      'POST',
      '/v1/token',
      erin.key.challenge('acme', erin.deviceId),
      null,
    );
    expect(refresh.status).toBe(403);
    expect(refresh.body.error.code).toBe('DEVICE_REVOKED');

    const policy = await fetch(`${manager.url}/v1/policy`, {
      headers: { authorization: `Bearer ${erin.token}` },
    });
    expect(policy.status).toBe(403);
  });
});

describe('grove manager › client endpoints', () => {
  it('answers the effective policy for a relay token, and contact search per the policy', async () => {
    await member('globex', 'gina');
    await member('globex', 'gus');
    const gina = await enrolledDevice('globex', 'gina');
    const auth = { authorization: `Bearer ${gina.token}` };
    const policy = await fetch(`${manager.url}/v1/policy`, { headers: auth });
    expect(policy.status).toBe(200);
    expect(await policy.json()).toMatchObject({ relay: { maxMessageBytes: 4096 } });
    const contacts = await fetch(`${manager.url}/v1/contacts?q=gu`, { headers: auth });
    expect(await contacts.json()).toEqual([{ id: 'gus', displayName: 'GUS' }]);

    // acme's policy turns contact search off.
    const alice = await enrolledDevice('acme', 'alice');
    const off = await fetch(`${manager.url}/v1/contacts?q=b`, {
      headers: { authorization: `Bearer ${alice.token}` },
    });
    expect(off.status).toBe(403);
    expect(((await off.json()) as ErrorBody).error.code).toBe('CONTACT_SEARCH_DISABLED');

    const anonymous = await fetch(`${manager.url}/v1/policy`);
    expect(anonymous.status).toBe(401);
  });
});
