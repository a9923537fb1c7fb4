import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { silentLogger, type Logger } from '../contracts/logger.js';
import type { KubeClient } from './kube-client.js';
import { isKubeApiError } from './kube-client.js';
import type { KubeObject } from './kube-object.js';
import { resourceTypes } from './resource-types.js';

export type EventType = 'Normal' | 'Warning';

export interface EventObject extends KubeObject {
  involvedObject: {
    apiVersion: string;
    kind: string;
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
  };
  reason: string;
  message: string;
  type: EventType;
  source: { component: string; host?: string };
  firstTimestamp: string;
  lastTimestamp: string;
  count: number;
  reportingComponent: string;
  reportingInstance: string;
}

/** Longest message stored, as client-go's recorder truncates notes. */
export const maxMessageLength = 1024;

/** Identity of "the same event": repeats of it are counted on one Event object. */
export function aggregationKey(
  object: KubeObject,
  type: EventType,
  reason: string,
  message: string,
): string {
  const { uid, namespace, name } = object.metadata;
  const who = uid ?? `${object.apiVersion}/${object.kind}/${namespace ?? ''}/${name}`;
  return JSON.stringify([who, type, reason, message]);
}

/**
 * `<object name>.<16 hex digits of the key's hash>`: deterministic, so a repeat after an operator
 * restart (or from another replica) finds the same Event, and within the 253 characters of a
 * DNS subdomain name.
 */
export function eventName(objectName: string, key: string): string {
  const hash = createHash('sha256').update(key).digest('hex').slice(0, 16);
  const prefix = objectName.slice(0, 253 - hash.length - 1).replace(/[-.]+$/, '');
  return prefix === '' ? hash : `${prefix}.${hash}`;
}

/** metav1.Time: RFC 3339 with whole seconds. */
export function kubeTime(date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z');
}

/** Namespace an Event about `object` lives in (cluster-scoped objects: "default"). */
export function eventNamespace(object: KubeObject): string {
  const namespace = object.metadata.namespace;
  return namespace === undefined || namespace === '' ? 'default' : namespace;
}

export function buildEvent(input: {
  object: KubeObject;
  type: EventType;
  reason: string;
  message: string;
  name: string;
  component: string;
  host: string;
  now: Date;
}): EventObject {
  const { object, type, reason, component, host, now } = input;
  const { name, namespace, uid, resourceVersion } = object.metadata;
  const time = kubeTime(now);
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: input.name, namespace: eventNamespace(object) },
    involvedObject: {
      apiVersion: object.apiVersion,
      kind: object.kind,
      name,
      ...(namespace !== undefined && namespace !== '' && { namespace }),
      ...(uid !== undefined && { uid }),
      ...(resourceVersion !== undefined && { resourceVersion }),
    },
    reason,
    message: truncate(input.message),
    type,
    source: { component, host },
    firstTimestamp: time,
    lastTimestamp: time,
    count: 1,
    reportingComponent: component,
    reportingInstance: host,
  };
}

function truncate(message: string): string {
  return message.length <= maxMessageLength
    ? message
    : `${message.slice(0, maxMessageLength - 3)}...`;
}

interface SeenEvent {
  name: string;
  namespace: string;
  count: number;
  lastMs: number;
  /** Writes of one key run one after the other, so a repeat never races its own create. */
  chain: Promise<void>;
}

/** Whether a repeat within the window increments the known Event, or a new one is written. */
export function planEventWrite(
  seen: Pick<SeenEvent, 'count' | 'lastMs'> | undefined,
  nowMs: number,
  windowMs: number,
): { action: 'create' } | { action: 'increment'; count: number } {
  if (seen === undefined || nowMs - seen.lastMs >= windowMs) return { action: 'create' };
  return { action: 'increment', count: seen.count + 1 };
}

export type EventClient = Pick<KubeClient, 'get' | 'create' | 'patch'>;

export interface EventRecorderOptions {
  /** source.component and reportingComponent, e.g. 'grove-operator'. */
  component: string;
  /** source.host and reportingInstance (default: this machine's host name, i.e. the pod). */
  host?: string;
  now?: () => Date;
  log?: Logger;
  /** Repeats within this window increment the count of one Event (default 10 min). */
  aggregationWindowMs?: number;
  /** Writes in flight beyond this are dropped (with a log line) while the API is slow. */
  maxPending?: number;
  /** How many distinct events are remembered for aggregation. */
  maxRemembered?: number;
}

/** core/v1 Events as `kubectl describe` shows them, with repeats counted on one object. */
export class EventRecorder {
  private readonly seen = new Map<string, SeenEvent>();
  private readonly pending = new Set<Promise<void>>();
  private readonly host: string;
  private readonly now: () => Date;
  private readonly log: Logger;
  private readonly windowMs: number;
  private readonly maxPending: number;
  private readonly maxRemembered: number;

  constructor(
    private readonly client: EventClient,
    private readonly options: EventRecorderOptions,
  ) {
    this.host = options.host ?? hostname();
    this.now = options.now ?? (() => new Date());
    this.log = options.log ?? silentLogger;
    this.windowMs = options.aggregationWindowMs ?? 10 * 60_000;
    this.maxPending = options.maxPending ?? 1000;
    this.maxRemembered = options.maxRemembered ?? 4096;
  }

  /** Fire and forget: never throws; failures are logged. */
  record(object: KubeObject, type: EventType, reason: string, message: string): void {
    try {
      if (this.pending.size >= this.maxPending) {
        this.log.warn('too many events in flight; dropping one', { reason, message });
        return;
      }
      const key = aggregationKey(object, type, reason, message);
      let seen = this.seen.get(key);
      if (seen === undefined) {
        seen = {
          name: eventName(object.metadata.name, key),
          namespace: eventNamespace(object),
          count: 0,
          lastMs: Number.NEGATIVE_INFINITY,
          chain: Promise.resolve(),
        };
      }
      // Re-insert: Map order is the LRU order for eviction.
      this.seen.delete(key);
      this.seen.set(key, seen);
      this.evict();
      const entry = seen;
      // The time of the occurrence, not of the write, which may wait behind earlier ones.
      const at = this.now();
      const write = entry.chain.then(() => this.write(entry, at, object, type, reason, message));
      entry.chain = write;
      this.pending.add(write);
      void write.finally(() => this.pending.delete(write));
    } catch (error) {
      this.log.error('could not record event', { reason, error: errorMessage(error) });
    }
  }

  /** Waits until every event recorded so far has been written (or has failed). */
  async flush(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  private evict(): void {
    for (const key of this.seen.keys()) {
      if (this.seen.size <= this.maxRemembered) return;
      this.seen.delete(key);
    }
  }

  /** Never rejects. */
  private async write(
    entry: SeenEvent,
    now: Date,
    object: KubeObject,
    type: EventType,
    reason: string,
    message: string,
  ): Promise<void> {
    const nowMs = now.getTime();
    try {
      const plan = planEventWrite(entry, nowMs, this.windowMs);
      if (plan.action === 'increment') {
        try {
          await this.increment(entry, plan.count, now);
          return;
        } catch (error) {
          // Expired (the API server's event TTL) or deleted: write a new one below.
          if (!isKubeApiError(error, 404)) throw error;
        }
      }
      const event = buildEvent({
        object,
        type,
        reason,
        message,
        name: entry.name,
        component: this.options.component,
        host: this.host,
        now,
      });
      try {
        await this.client.create(resourceTypes.events, event);
        entry.count = 1;
        entry.lastMs = nowMs;
      } catch (error) {
        if (!isKubeApiError(error, 409)) throw error;
        // Written by an earlier run of the operator or another replica: count on it.
        const existing = await this.client.get<EventObject>(
          resourceTypes.events,
          entry.namespace,
          entry.name,
        );
        await this.increment(entry, (existing?.count ?? 0) + 1, now);
      }
    } catch (error) {
      this.log.warn('could not write event', {
        event: `${entry.namespace}/${entry.name}`,
        reason,
        error: errorMessage(error),
      });
    }
  }

  private async increment(entry: SeenEvent, count: number, now: Date): Promise<void> {
    await this.client.patch(
      resourceTypes.events,
      entry.namespace,
      entry.name,
      { count, lastTimestamp: kubeTime(now) },
      { type: 'merge' },
    );
    entry.count = count;
    entry.lastMs = now.getTime();
  }
}

function errorMessage(error: unknown): string {
  // Duck-typed: errors from node: modules may come from another realm (Jest's VM contexts).
  if (typeof error === 'object' && error !== null && 'message' in error) {
    return String(error.message);
  }
  return String(error);
}
