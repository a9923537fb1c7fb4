import { isDeepStrictEqual } from 'node:util';
import type { z } from 'zod';
import type { Condition } from '../../crds/common.js';
import { formatIssues } from '../../crds/issues.js';
import {
  changedConditions,
  findCondition,
  setConditions,
  type ConditionUpdate,
} from '../builders/conditions.js';
import { annotationKeys, FIELD_MANAGER } from '../builders/labels.js';
import type { KubeObject } from '../../kube/kube-object.js';
import type { ObjectCache, ReconcileContext } from './context.js';

export type Parsed<T> = { ok: true; value: T } | { ok: false; issues: string[] };

/**
 * Parses what the API server stored. The CRD schema already enforces most rules; this adds
 * the cross-field ones (`validate`) and protects against objects written before a rule existed.
 */
export function parseResource<T>(
  schema: z.ZodType<T>,
  object: KubeObject,
  validate: (value: T) => string[],
): Parsed<T> {
  const parsed = schema.safeParse(object);
  if (!parsed.success) return { ok: false, issues: formatIssues(parsed.error.issues) };
  const issues = validate(parsed.data);
  return issues.length === 0 ? { ok: true, value: parsed.data } : { ok: false, issues };
}

export function isPaused(object: KubeObject): boolean {
  return object.metadata.annotations?.[annotationKeys.paused] === 'true';
}

function statusOf(object: KubeObject): Record<string, unknown> {
  const status = object.status;
  return typeof status === 'object' && status !== null ? (status as Record<string, unknown>) : {};
}

export function conditionsOf(object: KubeObject): Condition[] {
  const conditions = statusOf(object).conditions;
  return Array.isArray(conditions) ? (conditions as Condition[]) : [];
}

/**
 * Writes `status` (all fields the operator owns) with server-side apply on the status
 * subresource, unless it already holds exactly that. Conditions are merged with the existing
 * ones (transition times kept) and every changed condition is recorded as an Event.
 */
export async function writeStatus(
  ctx: ReconcileContext,
  object: KubeObject,
  fields: Record<string, unknown>,
  updates: readonly ConditionUpdate[],
  removeConditions: readonly string[] = [],
): Promise<void> {
  const before = conditionsOf(object);
  const conditions = setConditions(
    before,
    updates,
    object.metadata.generation,
    ctx.now(),
    removeConditions,
  );
  const status: Record<string, unknown> = {
    ...fields,
    ...(object.metadata.generation === undefined
      ? {}
      : { observedGeneration: object.metadata.generation }),
    conditions,
  };
  const current = statusOf(object);
  const unchanged = Object.entries(status).every(([key, value]) =>
    isDeepStrictEqual(current[key], value),
  );
  for (const condition of changedConditions(before, conditions)) {
    const healthy =
      condition.type === 'Degraded' ? condition.status !== 'True' : condition.status !== 'False';
    ctx.events.record(
      object,
      healthy ? 'Normal' : 'Warning',
      condition.reason,
      `${condition.type}=${condition.status}${condition.message === '' ? '' : `: ${condition.message}`}`,
    );
  }
  if (unchanged) return;
  await ctx.api.apply(
    { ...applyTarget(object), status },
    { fieldManager: FIELD_MANAGER, force: true, subresource: 'status' },
  );
}

/** A spec the operator cannot act on: say so in the status and an Event, and wait for a fix. */
export async function rejectSpec(
  ctx: ReconcileContext,
  object: KubeObject,
  issues: readonly string[],
): Promise<void> {
  const message = `invalid spec: ${issues.join('; ')}`;
  await writeStatus(ctx, object, {}, [
    { type: 'Ready', status: 'False', reason: 'InvalidSpec', message },
  ]);
  // writeStatus records an Event only when Ready changes; a second invalid edit deserves one too.
  if (findCondition(conditionsOf(object), 'Ready')?.reason === 'InvalidSpec') {
    ctx.events.record(object, 'Warning', 'InvalidSpec', message);
  }
}

/** Marks the object Paused and leaves everything else as it is. */
export async function reportPaused(ctx: ReconcileContext, object: KubeObject): Promise<void> {
  await writeStatus(ctx, object, {}, [
    {
      type: 'Paused',
      status: 'True',
      reason: 'Paused',
      message: `reconciliation is paused by the ${annotationKeys.paused} annotation; remove it to resume`,
    },
  ]);
}

/**
 * The apiVersion, kind, name and namespace of `object`: what a server-side apply body must
 * name besides the fields it sets.
 */
export function applyTarget(object: KubeObject): KubeObject {
  return {
    apiVersion: object.apiVersion,
    kind: object.kind,
    metadata: {
      name: object.metadata.name,
      ...(object.metadata.namespace === undefined ? {} : { namespace: object.metadata.namespace }),
    },
  };
}

/** The owner reference every child carries; garbage collection deletes children with it. */
export function ownerReference(owner: KubeObject) {
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name,
    uid: owner.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function isOwnedBy(object: KubeObject, owner: KubeObject): boolean {
  return (object.metadata.ownerReferences ?? []).some(
    (reference) => reference.controller === true && reference.uid === owner.metadata.uid,
  );
}

export function errorCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The steps every reconcile starts with: read the object from the cache; skip it when it is
 * gone or being deleted (garbage collection handles children); report Paused; parse and
 * validate, rejecting an invalid spec. Returns what to work on, or undefined when done.
 */
export async function loadForReconcile<T>(
  ctx: ReconcileContext,
  cache: ObjectCache,
  namespace: string | undefined,
  name: string,
  schema: z.ZodType<T>,
  validate: (value: T) => string[],
): Promise<{ object: KubeObject; value: T } | undefined> {
  const object = cache.get(namespace, name);
  if (object === undefined || object.metadata.deletionTimestamp !== undefined) return undefined;
  if (isPaused(object)) {
    await reportPaused(ctx, object);
    return undefined;
  }
  const parsed = parseResource(schema, object, validate);
  if (!parsed.ok) {
    await rejectSpec(ctx, object, parsed.issues);
    return undefined;
  }
  return { object, value: parsed.value };
}
