import { readRedisReplication, repointChainedReplicas } from './redis-replication.js';
import { randomBytes } from 'node:crypto';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { generateDomainKey } from '../contracts/auth/device-token.js';
import type { Logger } from '../contracts/logger.js';
import { redisTopology, type RedisTarget } from '../contracts/redis/connection.js';
import { REDIS_PORT } from './builders/relaypool/relay-config.js';
import { managedBySelector } from './builders/labels.js';
import type { BridgeDeps } from './controllers/backupschedule-bridge.js';
import { backupScheduleReconciler } from './controllers/backupschedule-controller.js';
import type {
  ObjectCache,
  OperatorSettings,
  ReconcileContext,
  Reconciler,
} from './controllers/context.js';
import { reconcileDomain } from './controllers/domain-controller.js';
import { reconcilePolicy } from './controllers/policy-controller.js';
import { reconcileRelayPool } from './controllers/relaypool-controller.js';
import { borrowedPoolName, borrowersOf } from './controllers/store-pool.js';
import { EventRecorder } from '../kube/event-recorder.js';
import { Informer } from '../kube/informer.js';
import type { KubeClient } from '../kube/kube-client.js';
import {
  objectKey,
  splitObjectKey,
  type KubeObject,
  type ResourceType,
} from '../kube/kube-object.js';
import { LeaderElector, type LeaderElectionOptions } from '../kube/leader-election.js';
import { ownedResourceTypes, resourceTypes } from '../kube/resource-types.js';
import { purgeDomainFromRedis } from './redis-purge.js';
import { nodeAddresses, relayPoolNames } from './builders/relaypool/index.js';
import { signingKeySecretName } from './builders/domain/signing-keys.js';
import { Controller } from './runtime/controller.js';
import { registerBackupScheduleMetrics } from './controllers/backupschedule-metrics.js';

export interface OperatorOptions {
  client: KubeClient;
  log: Logger;
  settings: OperatorSettings;
  /** Watch one namespace; all when undefined. */
  namespace?: string;
  /** Periodic relist of every informer (each object is reconciled again). */
  resyncMs?: number;
  maxConcurrentReconciles?: number;
  /** List nodes for the addresses of NodePort pools (default true; needs `list nodes`). */
  readNodeAddresses?: boolean;
  /**
   * How often the leader reads its own Secrets (each built-in Redis password, each signing
   * key) by name, to repair one deleted or replaced at once (default 10 s). Secrets are never
   * watched: that would need `list` and `watch` on every Secret in scope.
   */
  secretPollMs?: number;
  leaderElection?: Pick<
    LeaderElectionOptions,
    'namespace' | 'name' | 'identity' | 'leaseDurationMs' | 'renewDeadlineMs' | 'retryPeriodMs'
  >;
  now?: () => Date;
  /**
   * The Manager and bridge status access the BackupSchedule controller needs to run Data
   * Bridges (without it, schedules say ManagerNotConfigured); pollMs: how often each
   * schedule's bridge status is read (default 30 s).
   */
  bridge?: { deps: BridgeDeps; pollMs?: number };
}

/**
 * The operator: informers on the four Grove kinds and on every owned kind (every replica
 * keeps warm caches), and, on the leader only, one controller per Grove kind fed by them.
 */
export class Operator {
  readonly registry = new Registry();
  private readonly informers = new Map<string, Informer<KubeObject>>();
  private readonly controllers = new Map<string, Controller>();
  private readonly events: EventRecorder;
  private readonly elector: LeaderElector | undefined;
  private readonly leaderGauge: Gauge;
  private electionDone: Promise<void> | undefined;
  private secretPoll: NodeJS.Timeout | undefined;
  /** resourceVersion of each owned Secret when last read ('' while missing), by namespace/name. */
  private readonly seenSecrets = new Map<string, string>();
  private leading = false;
  private stopping = false;

  constructor(private readonly options: OperatorOptions) {
    collectDefaultMetrics({ register: this.registry });
    const log = options.log;
    const restarts = new Counter({
      name: 'grove_operator_informer_restarts_total',
      help: 'Informer restarts after a watch error, by resource',
      labelNames: ['resource'] as const,
      registers: [this.registry],
    });
    this.leaderGauge = new Gauge({
      name: 'leader_election_master_status',
      help: 'Whether this replica is the leader (1) or a standby (0)',
      labelNames: ['name'] as const,
      registers: [this.registry],
    });
    const informer = (type: ResourceType, labelSelector?: string) => {
      const created = new Informer<KubeObject>(options.client, type, {
        ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
        ...(labelSelector === undefined ? {} : { labelSelector }),
        ...(options.resyncMs === undefined ? {} : { resyncMs: options.resyncMs }),
        log,
        onRestart: () => restarts.inc({ resource: type.plural }),
      });
      this.informers.set(type.kind, created);
      return created;
    };
    const pools = informer(resourceTypes.relayPools);
    const domains = informer(resourceTypes.domains);
    const policies = informer(resourceTypes.policies);
    const schedules = informer(resourceTypes.backupSchedules);
    registerBackupScheduleMetrics(this.registry, schedules);
    const ownedInformers = ownedResourceTypes.map(
      (type) => [type.kind, informer(type, managedBySelector)] as const,
    );
    const owned = new Map<string, ObjectCache>(ownedInformers);
    this.events = new EventRecorder(options.client, {
      component: 'grove-operator',
      ...(options.leaderElection === undefined ? {} : { host: options.leaderElection.identity }),
      log,
    });
    const now = options.now ?? (() => new Date());
    const ctx: ReconcileContext = {
      api: options.client,
      events: this.events,
      log,
      now,
      settings: options.settings,
      caches: { relayPools: pools, domains, policies, backupSchedules: schedules, owned },
      randomPassword: () => randomBytes(24).toString('base64url'),
      generateSigningKey: generateDomainKey,
      purgeDomainData: purgeDomainFromRedis,
      readRedisReplication: async (target) => {
        await repairReplicaChains(target, log);
        return readRedisReplication(target, REPLICATION_READ_TIMEOUT_MS);
      },
      ...(options.readNodeAddresses === false
        ? {}
        : { nodeAddresses: nodeAddressReader(options.client, log) }),
    };
    const controller = (name: string, reconcile: Reconciler) => {
      const created = new Controller({
        name,
        registry: this.registry,
        maxConcurrentReconciles: options.maxConcurrentReconciles ?? 2,
        reconcile: async (key) => {
          const { namespace, name: objectName } = splitObjectKey(key);
          return reconcile(ctx, namespace, objectName);
        },
        log,
      });
      this.controllers.set(name, created);
      return created;
    };
    const poolController = controller('relaypool', reconcileRelayPool);
    const domainController = controller('domain', reconcileDomain);
    const policyController = controller('policy', reconcilePolicy);
    const scheduleController = controller(
      'backupschedule',
      backupScheduleReconciler(options.bridge?.deps, options.bridge?.pollMs),
    );

    const keyOf = (object: KubeObject) => objectKey(object.metadata);
    const inNamespace = (cache: ObjectCache, namespace: string | undefined) =>
      cache.list(namespace);
    const poolsOf = (domain: KubeObject): string[] => {
      const names = (domain.spec as { relayPools?: unknown } | undefined)?.relayPools;
      return Array.isArray(names) ? names.filter((n): n is string => typeof n === 'string') : [];
    };
    // What each change can affect, beyond the object itself (level-triggered: over-enqueueing
    // is harmless, missing a dependency is not).
    // Pools tied through spec.redis.relayPool: the named pool's Redis NetworkPolicy admits its
    // borrowers, and a borrower follows the named pool (missing, password, highAvailability).
    const enqueueBorrowers = (pool: KubeObject) => {
      for (const name of borrowersOf(pools, pool.metadata.namespace, pool.metadata.name))
        poolController.enqueue(objectKey({ namespace: pool.metadata.namespace, name }));
    };
    const onPool = (pool: KubeObject, old?: KubeObject) => {
      poolController.enqueue(keyOf(pool));
      enqueueBorrowers(pool);
      for (const named of new Set([borrowedPoolName(pool.spec), borrowedPoolName(old?.spec)])) {
        if (named !== undefined)
          poolController.enqueue(objectKey({ namespace: pool.metadata.namespace, name: named }));
      }
      for (const domain of inNamespace(domains, pool.metadata.namespace)) {
        if (poolsOf(domain).includes(pool.metadata.name)) domainController.enqueue(keyOf(domain));
      }
    };
    const onDomain = (domain: KubeObject, old?: KubeObject) => {
      domainController.enqueue(keyOf(domain));
      const named = new Set([...poolsOf(domain), ...(old === undefined ? [] : poolsOf(old))]);
      for (const pool of named)
        poolController.enqueue(objectKey({ namespace: domain.metadata.namespace, name: pool }));
      for (const policy of inNamespace(policies, domain.metadata.namespace))
        policyController.enqueue(keyOf(policy));
      for (const schedule of inNamespace(schedules, domain.metadata.namespace))
        scheduleController.enqueue(keyOf(schedule));
    };
    const onPolicy = (policy: KubeObject) => {
      policyController.enqueue(keyOf(policy));
      for (const domain of inNamespace(domains, policy.metadata.namespace))
        domainController.enqueue(keyOf(domain));
      for (const pool of inNamespace(pools, policy.metadata.namespace))
        poolController.enqueue(keyOf(pool));
    };
    const onSchedule = (schedule: KubeObject) => scheduleController.enqueue(keyOf(schedule));
    const onOwned = (child: KubeObject) => {
      for (const reference of child.metadata.ownerReferences ?? []) {
        if (reference.controller !== true || !reference.apiVersion.startsWith('grove.dev/'))
          continue;
        const key = objectKey({ namespace: child.metadata.namespace, name: reference.name });
        if (reference.kind === 'RelayPool') poolController.enqueue(key);
        if (reference.kind === 'Domain') domainController.enqueue(key);
        if (reference.kind === 'BackupSchedule') scheduleController.enqueue(key);
      }
    };
    const wire = (
      target: Informer<KubeObject>,
      handler: (object: KubeObject, old?: KubeObject) => void,
    ) => {
      target.onAdd((object) => handler(object));
      target.onUpdate((object, old) => handler(object, old));
      target.onDelete((object) => handler(object));
    };
    wire(pools, onPool);
    wire(domains, onDomain);
    wire(policies, onPolicy);
    wire(schedules, onSchedule);
    for (const [, ownedInformer] of ownedInformers) wire(ownedInformer, onOwned);

    this.elector =
      options.leaderElection === undefined
        ? undefined
        : new LeaderElector(options.client, {
            ...options.leaderElection,
            log,
          });
  }

  /** True once every informer has listed its kind: what /readyz reports. */
  get synced(): boolean {
    return [...this.informers.values()].every((informer) => informer.hasSynced());
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /**
   * Starts the informers, then — at once, or after winning the Lease — the controllers.
   * `onLostLeadership` is called when a leader fails to renew: the process should exit so
   * that it never reconciles beside the new leader.
   */
  async start(onLostLeadership: () => void): Promise<void> {
    for (const informer of this.informers.values()) informer.start();
    await Promise.all([...this.informers.values()].map((informer) => informer.waitForSync()));
    this.options.log.info('caches synced', { informers: this.informers.size });
    const leaderName = this.options.leaderElection?.name ?? 'grove-operator';
    if (this.elector === undefined) {
      this.startControllers();
      return;
    }
    this.leaderGauge.set({ name: leaderName }, 0);
    this.electionDone = this.elector.run({
      onStartedLeading: () => {
        this.options.log.info('became the leader', {
          identity: this.options.leaderElection?.identity,
        });
        this.leaderGauge.set({ name: leaderName }, 1);
        this.startControllers();
      },
      onStoppedLeading: () => {
        this.leaderGauge.set({ name: leaderName }, 0);
        const wasLeading = this.leading;
        this.leading = false;
        if (wasLeading && !this.stopping) {
          this.options.log.error(
            'lost the leader lease; stopping so that only the new leader reconciles',
          );
          onLostLeadership();
        }
      },
      onNewLeader: (identity) => this.options.log.info('leader is', { identity }),
    });
  }

  private startControllers(): void {
    this.leading = true;
    for (const controller of this.controllers.values()) controller.start();
    // Everything known gets one reconcile, as controller-runtime does on start.
    const seed = (kind: string, controller: string) => {
      for (const object of this.informers.get(kind)?.list() ?? []) {
        this.controllers.get(controller)?.enqueue(objectKey(object.metadata));
      }
    };
    seed('RelayPool', 'relaypool');
    seed('Domain', 'domain');
    seed('Policy', 'policy');
    seed('BackupSchedule', 'backupschedule');
    let polling = false;
    const poll = () => {
      if (polling || this.stopping) return;
      polling = true;
      void this.pollOwnedSecrets().finally(() => (polling = false));
    };
    poll(); // the first look only notes what exists
    this.secretPoll = setInterval(poll, this.options.secretPollMs ?? 10_000);
    this.secretPoll.unref();
  }

  /**
   * What a Secret informer would do, with `get` by name only: reads each Secret the operator
   * made (a built-in Redis password per RelayPool, a signing key per Domain) and reconciles its
   * owner when it was deleted or replaced since the last look (a new password rolls Redis and
   * the relays together; a missing one is made again).
   */
  private async pollOwnedSecrets(): Promise<void> {
    const wanted: {
      namespace: string | undefined;
      name: string;
      owner: KubeObject;
      controller: string;
    }[] = [];
    for (const pool of this.informers.get('RelayPool')?.list() ?? []) {
      const redis = (pool.spec as { redis?: Record<string, unknown> } | undefined)?.redis;
      if (redis !== undefined && !('builtin' in redis)) continue;
      wanted.push({
        namespace: pool.metadata.namespace,
        name: relayPoolNames(pool.metadata.name).redisAuth,
        owner: pool,
        controller: 'relaypool',
      });
    }
    for (const domain of this.informers.get('Domain')?.list() ?? []) {
      wanted.push({
        namespace: domain.metadata.namespace,
        name: signingKeySecretName(domain.metadata.name),
        owner: domain,
        controller: 'domain',
      });
    }
    const current = new Set<string>();
    for (const { namespace, name, owner, controller } of wanted) {
      if (this.stopping) return;
      const key = objectKey({ namespace, name });
      current.add(key);
      let version: string;
      try {
        const secret = await this.options.client.get(resourceTypes.secrets, namespace, name);
        version = secret?.metadata.resourceVersion ?? '';
      } catch {
        continue; // the API server is away: the next round looks again
      }
      const previous = this.seenSecrets.get(key);
      this.seenSecrets.set(key, version);
      // Replaced since the last look, or missing (deleted, or not made yet: either way its
      // owner's reconcile makes it).
      if ((previous !== undefined && previous !== version) || version === '') {
        this.controllers.get(controller)?.enqueue(objectKey(owner.metadata));
        // Pools that borrow this pool's Redis roll onto its new password too.
        if (controller === 'relaypool') {
          const pools = this.informers.get('RelayPool');
          for (const name of pools === undefined
            ? []
            : borrowersOf(pools, owner.metadata.namespace, owner.metadata.name)) {
            this.controllers.get(controller)?.enqueue(objectKey({ namespace, name }));
          }
        }
      }
    }
    for (const key of this.seenSecrets.keys()) if (!current.has(key)) this.seenSecrets.delete(key);
  }

  /** Graceful stop: finish running reconciles, release the Lease, stop watching. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.secretPoll !== undefined) clearInterval(this.secretPoll);
    await Promise.all([...this.controllers.values()].map((controller) => controller.stop()));
    await this.events.flush();
    if (this.elector !== undefined) {
      await this.elector.release();
      await this.electionDone;
    }
    await Promise.all([...this.informers.values()].map((informer) => informer.stop()));
  }
}

/** Per step of reading a replicated Redis's status: a reconcile waits at most a few of these. */
const REPLICATION_READ_TIMEOUT_MS = 1000;

/**
 * Points replicas of a replicated built-in Redis that follow another replica back at the
 * primary (redis-replication.ts says why they exist). Each pod runs a Redis next to its
 * Sentinel, so the Redis servers are the Sentinels' hosts on the Redis port. Failures are left
 * to the status read that follows, which reports them.
 */
async function repairReplicaChains(target: RedisTarget, log: Logger): Promise<void> {
  const topology = redisTopology(target);
  if (topology.kind !== 'sentinel') return;
  const servers = topology.sentinels.map((s) => ({ host: s.host, port: REDIS_PORT }));
  try {
    const repointed = await repointChainedReplicas(target, servers, REPLICATION_READ_TIMEOUT_MS);
    if (repointed.length > 0) {
      log.warn('pointed Redis replicas that followed another replica at the primary', {
        replicas: repointed,
      });
    }
  } catch {
    // No primary named, or it does not answer: the status read says so.
  }
}

/** How long a list of node addresses is reused before nodes are listed again. */
const NODE_ADDRESS_CACHE_MS = 30_000;

/**
 * Node addresses for NodePort pools: one list of nodes at most every 30 s, shared by every pool.
 * Undefined when nodes cannot be listed (a 403: the chart's operator.nodeAddresses is off); the
 * pool's condition then asks for spec.publicUrls. Logged once per kind of failure.
 */
function nodeAddressReader(client: KubeClient, log: Logger): () => Promise<string[] | undefined> {
  let cached: { at: number; value: Promise<string[] | undefined> } | undefined;
  let lastFailure: string | undefined;
  return () => {
    const now = Date.now();
    if (cached !== undefined && now - cached.at < NODE_ADDRESS_CACHE_MS) return cached.value;
    const value = client.list(resourceTypes.nodes).then(
      (list) => {
        lastFailure = undefined;
        return nodeAddresses(list.items);
      },
      (error: unknown) => {
        const message = error instanceof Error ? error.message : String(error);
        if (message !== lastFailure) {
          lastFailure = message;
          log.warn('cannot list nodes; NodePort RelayPools need spec.publicUrls', {
            error: message,
          });
        }
        return undefined;
      },
    );
    cached = { at: now, value };
    return value;
  };
}
