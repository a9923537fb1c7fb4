// What a relay says and does when its Redis goes away and comes back (a Redis pod replaced),
// where it says it listens, and that a fresh relay does not warn about being swept as dead.
// Real redis-server and `grove relay` processes.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { once } from 'node:events';
import WebSocket from 'ws';
import { STORAGE_UNAVAILABLE_MESSAGE } from '../server/relay-core.js';
import { sleep, waitFor } from '../../test/support/ports.js';
import type { RedisServer } from '../../test/support/redis-server.js';
import {
  makeDomain,
  tokenFor,
  type RelayProcess,
  type TestDomain,
} from '../../test/support/relay-process.js';
import { startRelayStack, type RelayStack } from '../../test/support/relay-stack.js';

interface Frame {
  t: string;
  [field: string]: unknown;
}

/** A device speaking the protocol by hand, so the test sees every frame (the SDK retries quietly). */
class Device {
  readonly frames: Frame[] = [];

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => this.frames.push(JSON.parse(data.toString()) as Frame));
    ws.on('error', () => undefined);
  }

  static async connect(relay: RelayProcess, token: string): Promise<Device> {
    const device = new Device(
      new WebSocket(`${relay.url}/v1/connect`, { perMessageDeflate: false }),
    );
    await once(device.ws, 'open');
    device.ws.send(JSON.stringify({ t: 'hello', token }));
    await waitFor(() => device.frames.find((f) => f.t === 'welcome'), 'welcome', 10_000);
    return device;
  }

  send(id: string, to: string): void {
    this.ws.send(
      JSON.stringify({ t: 'send', id, to: [to], data: Buffer.from(id).toString('base64') }),
    );
  }

  /** The answer (sent or error) to the send with this id. */
  answer(id: string, timeoutMs = 10_000): Promise<Frame> {
    return waitFor(
      () => this.frames.find((f) => (f.t === 'sent' || f.t === 'error') && f.id === id),
      `an answer to ${id}`,
      timeoutMs,
      10,
    );
  }

  close(): void {
    this.ws.terminate();
  }
}

let domain: TestDomain;

beforeAll(async () => {
  domain = await makeDomain('acme');
});

describe('a relay whose Redis is replaced', () => {
  let stack: RelayStack<RedisServer>;
  let redis: RedisServer;
  let relay: RelayProcess;

  beforeAll(async () => {
    stack = await startRelayStack({
      domains: [domain],
      seed: { acme: { identities: { alice: ['a1'], bob: ['b1'] } } },
    });
    [redis, relay] = [stack.redis, stack.relay()];
  });

  afterAll(async () => {
    await stack.stop();
  });

  it('logs the loss and the recovery once each, gives clients a stable message, and resumes within a second', async () => {
    const alice = await Device.connect(relay, await tokenFor(domain, 'alice', 'a1'));
    try {
      alice.send('before', 'device:b1');
      expect((await alice.answer('before')).t).toBe('sent');

      await redis.kill();
      await relay.waitForLog('lost the connection to Redis');
      alice.send('during', 'device:b1');
      const refused = await alice.answer('during');
      // The stable text, never ioredis's ("Reached the max retries per request limit…").
      expect(refused).toMatchObject({
        t: 'error',
        code: 'STORAGE_UNAVAILABLE',
        message: STORAGE_UNAVAILABLE_MESSAGE,
        retryAfterMs: 500,
      });
      expect(JSON.stringify(refused)).not.toMatch(/max retries|maxRetriesPerRequest/i);
      await waitFor(
        async () =>
          (await fetch(relay.metricsUrl)).text().then((t) => /^grove_relay_redis_up 0$/m.test(t)),
        'grove_relay_redis_up 0',
      );

      // Down a while (several reconnect attempts at the longest pause), then back.
      await sleep(1500);
      await redis.launch();
      const back = Date.now();
      // Retry the same id as the SDK does, until the relay has it queued.
      let ackedAfterMs: number | undefined;
      for (let attempt = 0; ackedAfterMs === undefined && attempt < 100; attempt++) {
        const id = `after-${attempt}`;
        alice.send(id, 'device:b1');
        if ((await alice.answer(id)).t === 'sent') ackedAfterMs = Date.now() - back;
        else await sleep(50);
      }
      const recovered = await relay.waitForLog('Redis is available again');
      expect(recovered.downMs).toEqual(expect.any(Number));
      expect(recovered.downMs as number).toBeGreaterThanOrEqual(1500);
      // Reconnect attempts are at most 0.6 s apart (500 ms ± 20 %); the rest is the machine.
      expect(ackedAfterMs).toBeLessThan(3000);

      // Once each, however many connections and reconnect attempts there were.
      await sleep(1000);
      expect(relay.all('lost the connection to Redis')).toHaveLength(1);
      expect(relay.all('Redis is available again')).toHaveLength(1);
      const lost = relay.find('lost the connection to Redis');
      expect(lost).toMatchObject({ level: 'warn', redis: redis.url });
      expect(String(lost?.error)).not.toBe('');
      expect(await (await fetch(relay.metricsUrl)).text()).toMatch(/^grove_relay_redis_up 1$/m);
    } finally {
      alice.close();
    }
  }, 60_000);
});

describe('a relay started before its Redis', () => {
  let stack: RelayStack<RedisServer>;
  let redis: RedisServer;
  let relay: RelayProcess | undefined;

  beforeAll(async () => {
    stack = await startRelayStack({ domains: [domain], seed: {}, relays: 0 });
    redis = stack.redis;
    await redis.kill();
  });

  afterAll(async () => {
    await stack.stop();
  });

  it('says it is waiting, says when it connected, and does not warn that it was swept as dead', async () => {
    relay = await stack.addRelay({ host: '0.0.0.0', waitReady: false });
    await relay.waitForLog('cannot reach Redis yet');
    await sleep(1500);
    await redis.launch();
    await relay.waitForLog('connected to Redis');
    await waitFor(
      async () => (await fetch(`${relay?.httpUrl ?? ''}/readyz`)).ok,
      'the relay to be ready',
    );
    // Several heartbeats (every 0.5 s here) after its first record.
    await sleep(2500);
    expect(relay.all("this relay's liveness record was gone")).toEqual([]);
    expect(
      relay
        .logs()
        .filter((entry) => entry.level === 'warn')
        .map((e) => e.message),
    ).toEqual(['cannot reach Redis yet; retrying']);

    // It listens on every interface and says so, with an address per interface.
    const listening = await relay.waitForLog('relay listening');
    expect(listening).toMatchObject({
      address: `0.0.0.0:${relay.port}`,
      allInterfaces: true,
      tls: false,
    });
    expect(listening.urls).toContain(`ws://127.0.0.1:${relay.port}`);
    expect(JSON.stringify(listening)).not.toContain('http://127.0.0.1');
  }, 60_000);
});
