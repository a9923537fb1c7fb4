import type { RedisReplicationStatus } from '../redis-replication.js';
import type { Logger } from '../../contracts/logger.js';
import type { DomainSigningKey } from '../../contracts/auth/device-token.js';
import type { RedisTarget } from '../../contracts/redis/connection.js';
import type { KubeObject, ResourceType } from '../../kube/kube-object.js';
import type { ServiceAccountRef } from '../builders/domain/signing-key-access.js';
import type { ReconcileResult } from '../runtime/controller.js';

/** The API calls reconcilers make; KubeClient implements it (tests may wrap it). */
export interface KubeApi {
  get<T extends KubeObject>(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
  ): Promise<T | undefined>;
  create<T extends KubeObject>(type: ResourceType, object: KubeObject): Promise<T>;
  replace<T extends KubeObject>(type: ResourceType, object: KubeObject): Promise<T>;
  delete(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    options?: { propagationPolicy?: 'Foreground' | 'Background' | 'Orphan'; uid?: string },
  ): Promise<boolean>;
  apply<T extends KubeObject>(
    object: KubeObject,
    options: { fieldManager: string; force?: boolean; subresource?: 'status' },
  ): Promise<T>;
  patch<T extends KubeObject>(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    options: { type: 'merge' | 'json'; subresource?: 'status' | 'scale' },
  ): Promise<T>;
}

export interface EventSink {
  record(object: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string): void;
}

/** Read access to an informer's cache. */
export interface ObjectCache<T extends KubeObject = KubeObject> {
  get(namespace: string | undefined, name: string): T | undefined;
  list(namespace?: string): T[];
}

export interface OperatorSettings {
  /** Image of relay pods whose RelayPool names none: the operator's own. */
  image: string;
  /** Image of built-in Redis pods (Grove's image ships redis-server). */
  redisImage: string;
  /**
   * ServiceAccounts granted `get` on each Domain's signing key Secret, by name (a Role and
   * RoleBinding per Domain): the Manager's. None: no such grant is made.
   */
  signingKeyReaders?: readonly ServiceAccountRef[];
  /**
   * Namespaces the operator, Manager and bridge pods run in (the operator's own, the Manager's
   * ServiceAccount's): a built-in Redis's NetworkPolicy admits them from there.
   */
  groveNamespaces?: readonly string[];
}

/** Everything a reconcile reads or writes, injected so tests can drive it. */
export interface ReconcileContext {
  api: KubeApi;
  events: EventSink;
  log: Logger;
  now: () => Date;
  settings: OperatorSettings;
  caches: {
    relayPools: ObjectCache;
    domains: ObjectCache;
    policies: ObjectCache;
    backupSchedules: ObjectCache;
    /** Owned kinds by kind name (Deployment, Service, …). */
    owned: ReadonlyMap<string, ObjectCache>;
  };
  /** Randomness lives here, out of the builders: a Redis password, a new signing key. */
  randomPassword: () => string;
  generateSigningKey: (kid: string) => Promise<DomainSigningKey>;
  /**
   * Deletes every key of `domain` from one RelayPool's Redis (the Domain finalizer's purge);
   * returns how many it removed. The operator wires the real one (operator/redis-purge.ts).
   */
  purgeDomainData: (target: RedisTarget, domain: string) => Promise<number>;
  /**
   * Addresses clients reach the cluster's nodes at (builders/relaypool/endpoints.ts
   * nodeAddresses), for NodePort pools; undefined when they cannot be read (no permission to
   * list nodes). Absent: never read.
   */
  nodeAddresses?: () => Promise<string[] | undefined>;
  /**
   * Which pod of a replicated built-in Redis is the primary, and each replica's lag (asked of
   * its Sentinels; operator/redis-replication.ts). Absent: not reported.
   */
  readRedisReplication?: (target: RedisTarget) => Promise<RedisReplicationStatus>;
}

/**
 * A controller of one Grove kind: brings the object `namespace/name` to its desired state and
 * says, in the controller runtime's one result type, when to look at it again.
 */
export type Reconciler = (
  ctx: ReconcileContext,
  namespace: string | undefined,
  name: string,
) => Promise<ReconcileResult>;
