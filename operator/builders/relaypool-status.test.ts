import { describe, expect, it } from '@jest/globals';
import { relayPoolSchema, type RelayPool } from '../../crds/relaypool.js';
import { summarizeRelayPool } from './relaypool-status.js';

function pool(spec: Record<string, unknown> = {}): RelayPool {
  return relayPoolSchema.parse({
    apiVersion: 'grove.dev/v1alpha1',
    kind: 'RelayPool',
    metadata: { name: 'main', namespace: 'grove' },
    spec,
  });
}

const byType = (summary: ReturnType<typeof summarizeRelayPool>) =>
  Object.fromEntries(summary.conditions.map((c) => [c.type, `${c.status}/${c.reason}`]));

describe('relay pool status', () => {
  it('is not ready and progressing while nothing exists yet', () => {
    const summary = summarizeRelayPool({ pool: pool(), relay: undefined, redis: undefined });
    expect(byType(summary)).toEqual({
      Ready: 'False/RedisNotReady',
      Progressing: 'True/Creating',
      Degraded: 'False/AsExpected',
    });
  });

  it('is ready when Redis and every desired relay pod are ready and the rollout is done', () => {
    const summary = summarizeRelayPool({
      pool: pool({ replicas: 2 }),
      relay: {
        generation: 3,
        observedGeneration: 3,
        specReplicas: 2,
        replicas: 2,
        readyReplicas: 2,
        updatedReplicas: 2,
      },
      redis: { replicas: 1, readyReplicas: 1 },
    });
    expect(byType(summary)).toEqual({
      Ready: 'True/AllReplicasReady',
      Progressing: 'False/RolloutComplete',
      Degraded: 'False/AsExpected',
    });
    expect(summary.readyReplicas).toBe(2);
  });

  it('makes a pool on another pool’s Redis ready with its relays: it has no Redis to wait for', () => {
    const summary = summarizeRelayPool({
      pool: pool({ replicas: 2, redis: { relayPool: { name: 'home' } } }),
      relay: {
        generation: 1,
        observedGeneration: 1,
        specReplicas: 2,
        replicas: 2,
        readyReplicas: 2,
        updatedReplicas: 2,
      },
      redis: undefined,
    });
    expect(byType(summary)).toEqual({
      Ready: 'True/AllReplicasReady',
      Progressing: 'False/RolloutComplete',
      Degraded: 'False/AsExpected',
    });
  });

  it('reports a rolling update until every pod runs the new template', () => {
    const summary = summarizeRelayPool({
      pool: pool({ replicas: 2 }),
      relay: {
        generation: 4,
        observedGeneration: 4,
        specReplicas: 2,
        replicas: 3,
        readyReplicas: 2,
        updatedReplicas: 1,
      },
      redis: { replicas: 1, readyReplicas: 1 },
    });
    expect(byType(summary).Progressing).toBe('True/RollingUpdate');
    expect(byType(summary).Ready).toBe('True/AllReplicasReady');
  });

  it('is degraded when a settled pool loses pods, and never waits on Redis when it is external', () => {
    const summary = summarizeRelayPool({
      pool: pool({ replicas: 3, redis: { external: { url: 'redis://r:6379' } } }),
      relay: {
        generation: 1,
        observedGeneration: 1,
        specReplicas: 3,
        replicas: 3,
        readyReplicas: 1,
        updatedReplicas: 3,
      },
      redis: undefined,
    });
    expect(byType(summary)).toEqual({
      Ready: 'False/ReplicasNotReady',
      Progressing: 'False/RolloutComplete',
      Degraded: 'True/ReplicasUnavailable',
    });
    expect(summary.conditions[0]?.message).toBe('1/3 relay pods ready');
  });

  it('follows the autoscaler: desired replicas come from the Deployment', () => {
    const summary = summarizeRelayPool({
      pool: pool({
        autoscaling: { minReplicas: 2, maxReplicas: 6 },
        resources: { requests: { cpu: '100m' } },
      }),
      relay: {
        generation: 1,
        observedGeneration: 1,
        specReplicas: 5,
        replicas: 5,
        readyReplicas: 5,
        updatedReplicas: 5,
      },
      redis: { replicas: 1, readyReplicas: 1 },
    });
    expect(summary.conditions[0]?.message).toBe('5/5 relay pods ready');
  });
});
