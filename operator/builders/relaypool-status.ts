import type { RelayPool } from '../../crds/relaypool.js';
import type { ConditionUpdate } from './conditions.js';

/** The parts of a Deployment's and StatefulSet's status the pool's status is computed from. */
export interface WorkloadStatus {
  /** metadata.generation of the workload and status.observedGeneration. */
  generation?: number;
  observedGeneration?: number;
  /** spec.replicas: what the Deployment (or the HPA through it) wants. */
  specReplicas?: number;
  replicas?: number;
  readyReplicas?: number;
  updatedReplicas?: number;
}

export interface RelayPoolObservation {
  pool: RelayPool;
  /** Undefined when the Deployment does not exist (yet). */
  relay: WorkloadStatus | undefined;
  /** Undefined for an external Redis, or when the StatefulSet does not exist (yet). */
  redis: WorkloadStatus | undefined;
}

export interface RelayPoolStatusSummary {
  replicas: number;
  readyReplicas: number;
  conditions: ConditionUpdate[];
}

/**
 * Ready, Progressing and Degraded from what the workloads report. Pure, so each state a
 * platform engineer can meet is unit-tested with the message they will read.
 */
export function summarizeRelayPool(observed: RelayPoolObservation): RelayPoolStatusSummary {
  const { pool, relay, redis } = observed;
  const builtin = 'builtin' in pool.spec.redis;
  const desired = relay?.specReplicas ?? pool.spec.replicas;
  const replicas = relay?.replicas ?? 0;
  const ready = relay?.readyReplicas ?? 0;
  const updated = relay?.updatedReplicas ?? 0;
  const redisReady = !builtin || (redis?.readyReplicas ?? 0) >= 1;
  const relaysReady = relay !== undefined && ready >= desired;
  const rolloutObserved =
    relay !== undefined &&
    (relay.generation === undefined || (relay.observedGeneration ?? 0) >= relay.generation);
  const rolling =
    relay === undefined || !rolloutObserved || updated < desired || replicas > desired;

  const readyCondition: ConditionUpdate = !redisReady
    ? {
        type: 'Ready',
        status: 'False',
        reason: 'RedisNotReady',
        message: `built-in Redis ${pool.metadata.name}-redis is not ready; relays cannot queue messages`,
      }
    : !relaysReady
      ? {
          type: 'Ready',
          status: 'False',
          reason: 'ReplicasNotReady',
          message: `${ready}/${desired} relay pods ready`,
        }
      : {
          type: 'Ready',
          status: 'True',
          reason: 'AllReplicasReady',
          message: `${ready}/${desired} relay pods ready`,
        };
  const progressing: ConditionUpdate = rolling
    ? {
        type: 'Progressing',
        status: 'True',
        reason: relay === undefined ? 'Creating' : 'RollingUpdate',
        message:
          relay === undefined
            ? 'creating the relay Deployment'
            : `${updated}/${desired} relay pods updated to the current configuration`,
      }
    : {
        type: 'Progressing',
        status: 'False',
        reason: 'RolloutComplete',
        message: `all ${desired} relay pods run the current configuration`,
      };
  // Degraded: it worked before (or should by now) and capacity is below what was asked.
  const degraded: ConditionUpdate =
    !redisReady && redis !== undefined && (redis.replicas ?? 0) >= 1
      ? {
          type: 'Degraded',
          status: 'True',
          reason: 'RedisUnavailable',
          message: 'the built-in Redis pod exists but is not ready',
        }
      : relay !== undefined && !rolling && ready < desired
        ? {
            type: 'Degraded',
            status: 'True',
            reason: 'ReplicasUnavailable',
            message: `${desired - ready} of ${desired} relay pods are not ready`,
          }
        : { type: 'Degraded', status: 'False', reason: 'AsExpected', message: '' };
  return { replicas, readyReplicas: ready, conditions: [readyCondition, progressing, degraded] };
}
