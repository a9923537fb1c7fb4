import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import WebSocket from 'ws';
import { ConnectionRefused, GroveClient, type Transport } from '../../client/sdk/grove-client.js';
import { generateDomainKey, issueDeviceToken } from '../../contracts/auth/device-token.js';
import { sleep, waitFor } from '../../test/support/ports.js';
import {
  makeDomain,
  tokenFor,
  type RelayProcess,
  type TestDomain,
} from '../../test/support/relay-process.js';
import { startRelayStack, type RelayStack } from '../../test/support/relay-stack.js';
import type { Frame } from '../../test/support/raw-client.js';

/** Sends hello with the token; resolves with every frame received and the close code. */
async function helloWith(
  relay: RelayProcess,
  token: string,
): Promise<{ frames: Frame[]; code: number; reason: string }> {
  const ws = new WebSocket(`${relay.url}/v1/connect`, { perMessageDeflate: false });
  const frames: Frame[] = [];
  ws.on('message', (data: Buffer) => frames.push(JSON.parse(data.toString('utf8')) as Frame));
  ws.on('error', () => undefined);
  const closed = new Promise<[number, Buffer]>((resolve) => {
    ws.on('close', (code, reason) => resolve([code, reason]));
  });
  await once(ws, 'open');
  ws.send(JSON.stringify({ t: 'hello', token }));
  const [code, reason] = await closed;
  return { frames, code, reason: reason.toString() };
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

describe('relay authentication', () => {
  let stack: RelayStack;
  let relay: RelayProcess;
  let acme: TestDomain;
  let other: TestDomain;
  let ghost: TestDomain;
  /** Refused tokens by case: close code and error code. */
  let cases: { name: string; token: string; close: number; code: string; status: number }[];

  beforeAll(async () => {
    const members = { identities: { alice: ['a1'], bob: ['b1'] } };
    stack = await startRelayStack({ seed: { acme: members, other: members } });
    [relay, acme, other] = [stack.relay(), stack.domain('acme'), stack.domain('other')];
    ghost = await makeDomain('ghost');
    const impostor = await generateDomainKey('acme-1');
    const alice = { domain: 'acme', identity: 'alice', device: 'a1' };
    cases = [
      {
        name: "signed with another domain's key",
        token: await issueDeviceToken(other.key, alice, 600),
        close: 4101,
        code: 'AUTH_BAD_SIGNATURE',
        status: 401,
      },
      {
        name: "signed with a key that reuses the domain's key id",
        token: await issueDeviceToken(impostor, alice, 600),
        close: 4101,
        code: 'AUTH_BAD_SIGNATURE',
        status: 401,
      },
      {
        name: 'for a domain the relay does not serve',
        token: await tokenFor(ghost, 'alice', 'a1'),
        close: 4102,
        code: 'AUTH_UNKNOWN_DOMAIN',
        status: 401,
      },
      {
        name: 'expired',
        token: await tokenFor(acme, 'alice', 'a1', 60, nowSeconds() - 3600),
        close: 4103,
        code: 'AUTH_EXPIRED',
        status: 401,
      },
      {
        name: 'that is not a JWT',
        token: 'not-a-jwt',
        close: 4100,
        code: 'AUTH_MALFORMED',
        status: 401,
      },
      {
        name: 'for a device not in the directory',
        token: await tokenFor(acme, 'alice', 'a9'),
        close: 4104,
        code: 'AUTH_UNKNOWN_DEVICE',
        status: 403,
      },
      {
        name: 'for a device of another identity',
        token: await tokenFor(acme, 'alice', 'b1'),
        close: 4104,
        code: 'AUTH_UNKNOWN_DEVICE',
        status: 403,
      },
    ];
  });

  afterAll(async () => {
    await stack.stop();
  });

  const caseNamed = (name: string) => {
    const found = cases.find((c) => c.name === name);
    if (found === undefined) throw new Error(`no case ${name}`);
    return found;
  };

  describe.each([
    ["signed with another domain's key"],
    ["signed with a key that reuses the domain's key id"],
    ['for a domain the relay does not serve'],
    ['expired'],
    ['that is not a JWT'],
    ['for a device not in the directory'],
    ['for a device of another identity'],
  ])('a token %s', (name) => {
    it('gets an error frame with its AUTH code, then the matching close code', async () => {
      const { token, close, code } = caseNamed(name);
      const result = await helloWith(relay, token);
      expect(result.frames).toEqual([{ t: 'error', code, message: expect.any(String) }]);
      expect(result.code).toBe(close);
      expect(result.reason).toBe(result.frames[0]?.['message']);
    });

    it('is refused by the long-poll routes with the same code', async () => {
      const { token, code, status } = caseNamed(name);
      const response = await fetch(`${relay.httpUrl}/v1/poll?wait=0`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(response.status).toBe(status);
      expect(await response.json()).toEqual({ error: { code, message: expect.any(String) } });
    });

    it.each<[Transport]>([['websocket'], ['long-poll'], ['auto']])(
      'makes the SDK (%s) fail for good, with no reconnect loop',
      async (transport) => {
        const { token, close } = caseNamed(name);
        const client = new GroveClient({
          relays: [relay.url],
          token,
          transport,
          backoff: { initialMs: 5, maxMs: 10 },
        });
        let disconnects = 0;
        const fatal: unknown[] = [];
        client.on('disconnected', () => disconnects++);
        client.on('fatal', (error: unknown) => fatal.push(error));
        const pending = client.send(['device:b1'], 'never sent');
        const started = client.start();
        await expect(started).rejects.toBeInstanceOf(ConnectionRefused);
        await expect(started).rejects.toMatchObject({ code: close });
        await expect(pending).rejects.toBeInstanceOf(ConnectionRefused);
        await sleep(150);
        expect(disconnects).toBe(1);
        expect(fatal).toHaveLength(1);
        expect(client.connected).toBe(false);
        await client.close();
      },
    );
  });

  it('refuses each bad token exactly once per attempt (counted by close code)', async () => {
    const before = await relay.metric('grove_relay_closes_total{code="4101"}');
    const client = new GroveClient({
      relays: [relay.url],
      token: caseNamed("signed with another domain's key").token,
      transport: 'websocket',
      backoff: { initialMs: 5, maxMs: 10 },
    });
    await expect(client.start()).rejects.toMatchObject({ code: 4101 });
    await sleep(150);
    expect((await relay.metric('grove_relay_closes_total{code="4101"}')) - before).toBe(1);
    await client.close();
  });

  it('renews an expired token through a token function instead of failing', async () => {
    const tokens = [
      await tokenFor(acme, 'alice', 'a1', 60, nowSeconds() - 3600),
      await tokenFor(acme, 'alice', 'a1', 600),
    ];
    let calls = 0;
    const client = new GroveClient({
      relays: [relay.url],
      token: () => Promise.resolve(tokens[Math.min(calls++, 1)] ?? ''),
      transport: 'websocket',
      backoff: { initialMs: 5, maxMs: 10 },
    });
    await client.start();
    expect(calls).toBe(2);
    expect(client.connected).toBe(true);
    await client.close();
  });

  it('still accepts a valid token of every served domain', async () => {
    for (const domain of [acme, other]) {
      const client = new GroveClient({
        relays: [relay.url],
        token: await tokenFor(domain, 'alice', 'a1'),
        transport: 'websocket',
      });
      await client.start();
      await expect(client.send(['device:b1'], 'hi')).resolves.toMatchObject({ recipients: 1 });
      await client.close();
    }
    await waitFor(async () => (await fetch(`${relay.httpUrl}/healthz`)).ok, 'healthz');
    expect(relay.running).toBe(true);
  });
});
