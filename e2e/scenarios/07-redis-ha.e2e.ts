/**
 * Scenario 7 (issue 13): the built-in Redis with highAvailability in the real cluster. A
 * RelayPool whose Redis is a primary with two replicas and a Sentinel in each pod (relays
 * acknowledge a send once a replica has it), the Manager on the same store, and a Domain. Under
 * steady SDK traffic the suite deletes the primary pod together with its volume (claim and
 * volume deleted, the pod forced without grace: a node lost with its disk), then scales the
 * Redis replicas 2→3 (lowering them is refused). Every acknowledged message must reach its application exactly once and
 * in order; status.redis must name the new primary and show the replaced pod back as a replica.
 * The Domain lists a second pool of relays only, on the same store (spec.redis.relayPool):
 * with every relay of the home pool stopped, the devices move to it and come back home.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTraffic } from '../support/fixture.js';
import { deviceRoot, waitPoolSettled } from '../support/grove.js';
import { mustGet, waitFor } from '../support/kube.js';
import {
  FAILOVER_POOL,
  HA_DOMAIN,
  HA_POOL,
  HA_RELAYS,
  deletePodAndVolume,
  ensureHaPool,
  redisStatus,
  scaleRedisReplicas,
  scaleRelays,
  servedAsPrimary,
  waitRedisPodsReady,
  waitReplicated,
} from '../support/redis-ha.js';
import { reportFigures, since } from '../support/report.js';
import type { Traffic } from '../support/traffic.js';

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
  figures.poolReadyMs = (await ensureHaPool()).readyMs;
});

afterAll(async () => {
  await traffic?.close();
  reportFigures('redis-ha', figures);
  await devices.remove();
});

describe('a RelayPool with a replicated built-in Redis under traffic', () => {
  test('is Ready; status.redis names the primary and each replica with its lag', async () => {
    const status = await waitReplicated(2);
    figures.redisAtStart = status;
    expect(status.primary).toMatch(new RegExp(`^${HA_POOL}-redis-[0-2]$`));
    const pods = new Set([status.primary, ...(status.replicas ?? []).map((r) => r.pod)]);
    expect(pods).toEqual(new Set([0, 1, 2].map((i) => `${HA_POOL}-redis-${i}`)));
    for (const replica of status.replicas ?? []) {
      expect(replica.lagBytes).toBeGreaterThanOrEqual(0);
      expect(replica.lastAckSeconds).toBeGreaterThanOrEqual(0);
    }
  });

  test('flows: 8 senders to 2 receivers, WebSocket and long-poll', async () => {
    traffic = await startTraffic({
      root: devices.dir,
      prefix: 'h',
      senders: 8,
      receivers: 2,
      ratePerSender: 25,
      pools: [HA_POOL, FAILOVER_POOL],
      domain: HA_DOMAIN,
      // Home again after 3 good probes 2 s apart (10 s by default): keeps the scenario short.
      poolFailover: { homeProbeMs: 2000 },
    });
    await recovered('steady');
    expect(traffic.clientsPerPool()).toEqual({ 0: 10 });
    await sleep(3000);
  });

  test('survives the primary pod deleted with its volume; the new pod rejoins as a replica', async () => {
    traffic?.beginPhase('primary-and-volume-lost');
    const before = await waitReplicated(2);
    const old = before.primary ?? '';
    const oldPod = await mustGet('pod', old);
    const started = performance.now();
    const { volume } = await deletePodAndVolume(old);
    figures.deletedPrimary = old;
    const named = await waitFor(
      'status.redis to name another primary',
      async () => {
        const status = await redisStatus();
        return status.primary !== undefined && status.primary !== old ? status.primary : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 250 },
    );
    figures.newPrimary = named;
    figures.newPrimaryInStatusMs = since(started);
    const rejoined = await waitReplicated(2, {
      accept: (status) =>
        status.primary === named && (status.replicas ?? []).some((r) => r.pod === old),
    });
    const replaced = await mustGet('pod', old);
    expect(replaced.metadata.uid).not.toBe(oldPod.metadata.uid);
    const claim = await mustGet('pvc', `data-${old}`);
    expect((claim.spec as { volumeName?: string }).volumeName).not.toBe(volume);
    // The replaced pod, with its empty volume, must never have served as a primary: the
    // Sentinels still named it for a few seconds, and replicas copy whatever a primary holds.
    expect(await servedAsPrimary(old)).toEqual([]);
    figures.rejoinedAsReplicaMs = since(started);
    figures.rejoinedLag = rejoined.replicas?.find((r) => r.pod === old);
    await recovered('primary-and-volume-lost');
    figures.primaryLostAckGapMs = traffic?.currentPhase().longestAckGapMs;
    figures.primaryLostDeliveryGapMs = traffic?.currentPhase().longestDeliveryGapMs;
  });

  test('scales the Redis replicas 2→3: the new replica syncs, the status follows; lowering is refused', async () => {
    traffic?.beginPhase('redis-replicas-2-3');
    const up = performance.now();
    await scaleRedisReplicas(3);
    await waitRedisPodsReady(4);
    const three = await waitReplicated(3);
    expect(
      new Set([three.primary, ...(three.replicas ?? []).map((r) => r.pod)]).has(
        `${HA_POOL}-redis-3`,
      ),
    ).toBe(true);
    await waitPoolSettled(HA_RELAYS, 180_000, HA_POOL);
    figures.scaleTo3Ms = since(up);
    figures.redisAt3 = three;
    await recovered('redis-replicas-2-3');
    figures.scaleTo3AckGapMs = traffic?.currentPhase().longestAckGapMs;
    // Removing pods could take the primary and leave the Sentinels counting its vote.
    await expect(scaleRedisReplicas(2)).rejects.toThrow(/replicas cannot be lowered/);
  });

  test('every home relay stopped: devices move to the failover pool on the same store and come back', async () => {
    if (traffic === undefined) throw new Error('no traffic');
    traffic.beginPhase('home-pool-stopped');
    const stopped = performance.now();
    await scaleRelays(HA_POOL, 0);
    await traffic.waitAllOnPool(1);
    figures.allOnFailoverPoolMs = since(stopped);
    await recovered('home-pool-stopped');
    figures.homeStoppedAckGapMs = traffic.currentPhase().longestAckGapMs;

    traffic.beginPhase('home-pool-back');
    const back = performance.now();
    await scaleRelays(HA_POOL, HA_RELAYS);
    await waitPoolSettled(HA_RELAYS, 180_000, HA_POOL);
    figures.homeRelaysReadyMs = since(back);
    await traffic.waitAllOnPool(0);
    figures.allHomeAgainMs = since(back);
    await recovered('home-pool-back');
    figures.homeBackAckGapMs = traffic.currentPhase().longestAckGapMs;
    expect(traffic.currentPhase().poolMoves).toBeGreaterThanOrEqual(10);
  });

  test('delivered every acknowledged message exactly once, in order per sender', async () => {
    const stopping = performance.now();
    await traffic?.stop();
    await traffic?.drain();
    figures.drainMs = since(stopping);
    const result = traffic?.figures();
    Object.assign(figures, result);
    expect(traffic?.problemList()).toEqual([]);
    expect(result?.acked).toBeGreaterThan(1000);
    expect(result?.lost).toBe(0);
    expect(result?.outOfOrder).toBe(0);
    expect(result?.duplicatesToApplication).toBe(0);
    expect(result?.delivered).toBe(result?.acked);
    expect(result?.resyncs).toBe(0);
    expect(result?.fatal).toBe(0);
    expect(result?.refused).toBe(0);
  });
});
