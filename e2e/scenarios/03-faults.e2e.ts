/**
 * Scenario 3: zero loss under faults with steady traffic. SDK clients (WebSocket and long-poll)
 * send several hundred messages a second through the relay Service while the suite
 * force-deletes relay pods, deletes the Redis pod (AOF on its volume), rolls the relays twice
 * (a Policy change, then an image tag change) and scales the pool 3→5→2. Every acknowledged
 * message must reach its application exactly once and in order per sender.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { setTimeout as sleep } from 'node:timers/promises';
import { e2eEnv } from '../support/env.js';
import {
  forceDeleteRelays,
  relayTemplate,
  replaceRedisPod,
  scalePool,
  waitTemplateChange,
} from '../support/faults.js';
import { startTraffic } from '../support/fixture.js';
import {
  POLICY,
  POOL,
  deviceRoot,
  ensureGrove,
  policyManifest,
  relayPods,
  waitPoolSettled,
} from '../support/grove.js';
import { apply, getObject, kubectl } from '../support/kube.js';
import { reportFigures, since } from '../support/report.js';
import type { Traffic } from '../support/traffic.js';

const env = e2eEnv();
const figures: Record<string, unknown> = { flowingAgainMs: {} };
let devices: { dir: string; remove: () => Promise<void> };
let traffic: Traffic | undefined;

/** After a fault settled: traffic flows again (Traffic.recovered); records how soon. */
async function recovered(name: string): Promise<void> {
  if (traffic === undefined) throw new Error('no traffic');
  (figures.flowingAgainMs as Record<string, number>)[name] = await traffic.recovered();
}

beforeAll(async () => {
  devices = await deviceRoot();
  await ensureGrove();
  const pool = await getObject('relaypool', POOL);
  if ((pool?.spec as { replicas?: number } | undefined)?.replicas !== 3) {
    await kubectl(['-n', env.namespace, 'scale', 'relaypool', POOL, '--replicas=3']);
  }
  await waitPoolSettled(3);
});

afterAll(async () => {
  await traffic?.close();
  reportFigures('faults', figures);
  await devices.remove();
});

describe('steady traffic through the relay Service under faults', () => {
  test('flows: 16 senders to 4 receivers, WebSocket and long-poll', async () => {
    traffic = await startTraffic({
      root: devices.dir,
      prefix: 'f',
      senders: 16,
      receivers: 4,
      ratePerSender: 30,
    });
    await recovered('steady');
    await sleep(5000);
  });

  test('survives relay pods force-deleted (--grace-period=0 --force)', async () => {
    traffic?.beginPhase('relays-force-deleted');
    const started = performance.now();
    figures.forceDeleted = await forceDeleteRelays(2);
    await waitPoolSettled(3);
    figures.relaysReplacedMs = since(started);
    await recovered('relays-force-deleted');
    expect(traffic?.currentPhase().reconnects).toBeGreaterThan(0);
  });

  test('survives the Redis pod deleted (AOF on its volume)', async () => {
    traffic?.beginPhase('redis-pod-deleted');
    const replaced = await replaceRedisPod();
    figures.redisReadyAfterMs = replaced.readyAfterMs;
    await recovered('redis-pod-deleted');
    figures.redisPauseMs = traffic?.currentPhase().longestAckGapMs;
  });

  test('survives a rolling update of the relays by a Policy change', async () => {
    traffic?.beginPhase('policy-rollout');
    const before = await relayTemplate();
    const existing = await getObject('policy', POLICY);
    const inFlight = (existing?.spec as { relay?: { maxInFlight?: number } } | undefined)?.relay
      ?.maxInFlight;
    const started = performance.now();
    await apply(policyManifest({ maxInFlight: inFlight === 128 ? 129 : 128 }));
    await waitTemplateChange(before, 'configHash');
    await waitPoolSettled(3);
    figures.policyRolloutMs = since(started);
    await recovered('policy-rollout');
    expect(traffic?.currentPhase().reconnects).toBeGreaterThan(0);
  });

  test('survives a rolling update of the relays to another image tag', async () => {
    expect(env.altTag).not.toBe('');
    traffic?.beginPhase('image-rollout');
    const before = await relayTemplate();
    const image = `${env.image.repository}:${before.image.endsWith(`:${env.altTag}`) ? env.image.tag : env.altTag}`;
    const started = performance.now();
    await kubectl([
      '-n',
      env.namespace,
      'patch',
      'relaypool',
      POOL,
      '--type',
      'merge',
      '-p',
      JSON.stringify({ spec: { image } }),
    ]);
    await waitTemplateChange(before, 'image');
    await waitPoolSettled(3);
    figures.imageRolloutMs = since(started);
    const images = (await relayPods()).map(
      (p) => (p.spec as { containers: { image: string }[] }).containers[0]?.image,
    );
    expect(new Set(images)).toEqual(new Set([image]));
    await recovered('image-rollout');
    expect(traffic?.currentPhase().reconnects).toBeGreaterThan(0);
  });

  test('survives kubectl scale 3→5→2', async () => {
    traffic?.beginPhase('scale-3-5-2');
    const started = performance.now();
    await scalePool(5);
    await waitPoolSettled(5);
    figures.scaleTo5Ms = since(started);
    const down = performance.now();
    await scalePool(2);
    await waitPoolSettled(2);
    figures.scaleTo2Ms = since(down);
    await recovered('scale-3-5-2');
  });

  test('delivered every acknowledged message exactly once, in order per sender', async () => {
    const stopping = performance.now();
    await traffic?.stop();
    await traffic?.drain();
    figures.drainMs = since(stopping);
    const result = traffic?.figures();
    Object.assign(figures, result);
    expect(traffic?.problemList()).toEqual([]);
    expect(result?.acked).toBeGreaterThan(5000);
    expect(result?.lost).toBe(0);
    expect(result?.outOfOrder).toBe(0);
    expect(result?.duplicatesToApplication).toBe(0);
    expect(result?.delivered).toBe(result?.acked);
    expect(result?.resyncs).toBe(0);
    expect(result?.fatal).toBe(0);
    expect(result?.refused).toBe(0);
  });
});
