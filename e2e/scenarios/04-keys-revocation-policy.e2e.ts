/**
 * Scenario 4, under steady traffic: the Domain's signing key rotated (the rotate annotation):
 * devices that refresh their token get one signed with the new key and are let in, tokens of
 * the old key keep working for the grace period, and nothing is lost; a device revoked
 * through the Manager is closed within a second by the relay pod that holds it (WebSocket and
 * long-poll); a Policy limit change reaches the running relays.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import {
  ConnectionRefused,
  GroveClient,
  SendRefused,
  type Transport,
} from '../../client/sdk/grove-client.js';
import type { StateSession } from '../../client/cli/state-session.js';
import { relayUrl } from '../support/access.js';
import { e2eEnv } from '../support/env.js';
import { CONFIG_HASH, relayTemplate, waitTemplateChange } from '../support/faults.js';
import { startTraffic } from '../support/fixture.js';
import {
  DOMAIN,
  POLICY,
  POOL,
  adminClient,
  deviceRoot,
  enrollDevice,
  ensureGrove,
  openSession,
  policyManifest,
  relayPods,
  tokenKid,
  waitPoolSettled,
  type Device,
} from '../support/grove.js';
import { apply, getObject, kubectl, mustGet, waitFor } from '../support/kube.js';
import { reportFigures, since } from '../support/report.js';
import type { Traffic } from '../support/traffic.js';

const env = e2eEnv();
const figures: Record<string, unknown> = {};
let devices: { dir: string; remove: () => Promise<void> };
let traffic: Traffic | undefined;
let replicas = 2;
let relay = '';
const clients: GroveClient[] = [];
let probe: { device: Device; session: StateSession } | undefined;

/** A device of its own (not part of the traffic) that sends the scenario's probes to itself. */
async function probeDevice(): Promise<{ device: Device; session: StateSession }> {
  if (probe === undefined) {
    const device = await enrollDevice(await adminClient(), 'kprobe', join(devices.dir, 'kprobe'));
    probe = { device, session: await openSession(device) };
  }
  return probe;
}

interface PublicKey {
  kid: string;
  notAfter?: string;
}

async function publicKeys(): Promise<PublicKey[]> {
  const domain = await mustGet('domain', DOMAIN);
  return (domain.status as { publicKeys?: PublicKey[] }).publicKeys ?? [];
}

/** An SDK client of `device` through the relay Service, connected. */
async function connect(
  token: string | (() => Promise<string>),
  transport: Exclude<Transport, 'auto'>,
): Promise<GroveClient> {
  const client = new GroveClient({ relays: [relay], token, transport });
  clients.push(client);
  await client.start();
  return client;
}

beforeAll(async () => {
  devices = await deviceRoot();
  await ensureGrove();
  const pool = await mustGet('relaypool', POOL);
  replicas = (pool.spec as { replicas: number }).replicas;
  await waitPoolSettled(replicas);
  relay = await relayUrl(POOL);
  traffic = await startTraffic({
    root: devices.dir,
    prefix: 'k',
    senders: 8,
    receivers: 2,
    ratePerSender: 25,
  });
  await traffic.waitFlowing();
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await traffic?.close();
  reportFigures('keys-revocation-policy', figures);
  await devices.remove();
});

describe('signing key rotation under traffic', () => {
  let oldToken = '';

  test('a rotation publishes a new key, keeps the old one for the grace period and rolls the relays', async () => {
    traffic?.beginPhase('key-rotation');
    oldToken = await (await probeDevice()).session.token();
    const [before] = await publicKeys();
    if (before === undefined) throw new Error('the Domain has no public key');
    expect(tokenKid(oldToken)).toBe(before.kid);
    const template = await relayTemplate();
    const started = performance.now();
    await kubectl([
      '-n',
      env.namespace,
      'annotate',
      'domain',
      DOMAIN,
      `grove.dev/rotate-signing-key=e2e-${Date.now()}`,
      '--overwrite',
    ]);
    // Every client asks the Manager for a new token at its next connect (the rollout's).
    for (const session of traffic?.sessions() ?? []) session.invalidate();
    const keys = await waitFor('a new current signing key', async () => {
      const now = await publicKeys();
      return now[0] !== undefined && now[0].kid !== before.kid ? now : undefined;
    });
    figures.keyPublishedMs = since(started);
    const retired = keys.find((k) => k.kid === before.kid);
    expect(retired?.notAfter).toBeDefined();
    await waitTemplateChange(template, 'configHash');
    await waitPoolSettled(replicas);
    figures.rotationRolloutMs = since(started);
    figures.keys = { old: before.kid, new: keys[0]?.kid };
    figures.flowingAgainMs = await traffic?.waitFlowing();
  });

  test('a device that refreshes its token gets one of the new key, and relays let it in', async () => {
    const { new: newKid } = figures.keys as { new: string };
    const { device, session } = await probeDevice();
    const started = performance.now();
    const token = await waitFor(
      'the Manager to sign with the new key',
      async () => {
        session.invalidate();
        const fresh = await session.token();
        return tokenKid(fresh) === newKid ? fresh : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 2000 },
    );
    figures.managerSignsWithNewKeyAfterMs = since(started);
    const client = await connect(token, 'websocket');
    const receipt = await client.send([`device:${device.deviceId}`], 'signed with the new key');
    expect(receipt.recipients).toBe(1);
  });

  test('a token of the old key still works during the grace period', async () => {
    const { device } = await probeDevice();
    const client = await connect(oldToken, 'long-poll');
    const receipt = await client.send([`device:${device.deviceId}`], 'signed with the old key');
    expect(receipt.recipients).toBe(1);
  });
});

describe('revocation through the Manager', () => {
  for (const transport of ['websocket', 'long-poll'] as const) {
    test(`closes a ${transport} device within a second`, async () => {
      traffic?.beginPhase(`revocation-${transport}`);
      const manager = await adminClient();
      const device = await enrollDevice(
        manager,
        `krevoked-${transport}`,
        join(devices.dir, `krevoked-${transport}`),
      );
      const session = await openSession(device);
      const client = await connect(session.provider(), transport);
      const closed = new Promise<{ at: number; error: Error }>((resolve) => {
        client.once('fatal', (error: Error) => resolve({ at: performance.now(), error }));
      });
      await sleep(500);
      const requested = performance.now();
      await manager.revokeDevice(DOMAIN, device.deviceId);
      const answered = performance.now();
      const outcome = await Promise.race([closed, sleep(10_000).then(() => undefined)]);
      if (outcome === undefined)
        throw new Error(`the ${transport} device was still open 10 s after its revocation`);
      const ms = Math.round(outcome.at - answered);
      figures[`revoked-${transport}`] = {
        closedAfterMs: ms,
        sinceRequestMs: Math.round(outcome.at - requested),
        error: outcome.error.message,
      };
      expect(outcome.error).toBeInstanceOf(ConnectionRefused);
      expect(outcome.error instanceof ConnectionRefused ? outcome.error.errorCode : '').toBe(
        'AUTH_REVOKED',
      );
      expect(ms).toBeLessThan(1000);
    });
  }
});

describe('a Policy limit change', () => {
  test('reaches the running relays: a message over the new limit is refused by each', async () => {
    traffic?.beginPhase('policy-limit');
    const { device, session } = await probeDevice();
    const to = [`device:${device.deviceId}`];
    const big = Buffer.alloc(4096, 1);
    const small = Buffer.alloc(1024, 1);
    const before = await connect(session.provider(), 'websocket');
    expect((await before.send(to, big)).recipients).toBe(1);
    await before.close();
    const existing = await getObject('policy', POLICY);
    const relayLimits =
      (existing?.spec as { relay?: Record<string, number> } | undefined)?.relay ?? {};
    const template = await relayTemplate();
    const started = performance.now();
    await apply(policyManifest({ ...relayLimits, maxMessageBytes: 2048 }));
    const changed = await waitTemplateChange(template, 'configHash');
    await waitPoolSettled(replicas);
    figures.policyLimitRolloutMs = since(started);
    const pods = await relayPods();
    expect(pods.map((p) => p.metadata.annotations?.[CONFIG_HASH])).toEqual(
      pods.map(() => changed.configHash),
    );
    // Fresh connections through the Service land on every relay in turn.
    const refusals: string[] = [];
    for (let i = 0; i < replicas * 3; i++) {
      const client = await connect(session.provider(), i % 2 === 0 ? 'websocket' : 'long-poll');
      const error = await client.send(to, big).then(
        () => undefined,
        (e: unknown) => e,
      );
      refusals.push(error instanceof SendRefused ? error.code : String(error));
      expect((await client.send(to, small)).recipients).toBe(1);
      await client.close();
    }
    expect(new Set(refusals)).toEqual(new Set(['MESSAGE_TOO_LARGE']));
    figures.oversizedRefused = refusals.length;
    figures.flowingAgainMs = await traffic?.waitFlowing();
  });
});

describe('the traffic through all of it', () => {
  test('delivered every acknowledged message exactly once, in order per sender', async () => {
    await traffic?.stop();
    await traffic?.drain();
    const result = traffic?.figures();
    figures.traffic = result;
    expect(traffic?.problemList()).toEqual([]);
    expect(result?.acked).toBeGreaterThan(1000);
    expect(result?.lost).toBe(0);
    expect(result?.outOfOrder).toBe(0);
    expect(result?.duplicatesToApplication).toBe(0);
    expect(result?.fatal).toBe(0);
    expect(result?.resyncs).toBe(0);
  });
});
