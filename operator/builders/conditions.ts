import type { Condition, ConditionStatus } from '../../crds/common.js';

/** What a reconcile observed; the time of the transition is filled in by {@link setConditions}. */
export interface ConditionUpdate {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
}

/** Standard types first, in the order `kubectl describe` readers expect. */
const typeOrder = ['Ready', 'Progressing', 'Degraded', 'Paused'];

function rank(type: string): number {
  const index = typeOrder.indexOf(type);
  return index < 0 ? typeOrder.length : index;
}

/**
 * Merges observations into the existing conditions, as meta.SetStatusCondition does:
 * lastTransitionTime changes only when the status flips, so it tells how long a state has held.
 * Types not in `updates` are kept unless listed in `remove`.
 */
export function setConditions(
  existing: readonly Condition[] | undefined,
  updates: readonly ConditionUpdate[],
  generation: number | undefined,
  now: Date,
  remove: readonly string[] = [],
): Condition[] {
  const byType = new Map((existing ?? []).map((condition) => [condition.type, condition]));
  for (const type of remove) byType.delete(type);
  for (const update of updates) {
    const previous = byType.get(update.type);
    byType.set(update.type, {
      type: update.type,
      status: update.status,
      ...(generation === undefined ? {} : { observedGeneration: generation }),
      lastTransitionTime:
        previous !== undefined && previous.status === update.status
          ? previous.lastTransitionTime
          : now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      reason: update.reason,
      message: update.message,
    });
  }
  return [...byType.values()].sort(
    (a, b) => rank(a.type) - rank(b.type) || a.type.localeCompare(b.type),
  );
}

/** The conditions whose status or reason changed: each deserves an Event. */
export function changedConditions(
  before: readonly Condition[] | undefined,
  after: readonly Condition[],
): Condition[] {
  const old = new Map((before ?? []).map((condition) => [condition.type, condition]));
  return after.filter((condition) => {
    const previous = old.get(condition.type);
    return (
      previous === undefined ||
      previous.status !== condition.status ||
      previous.reason !== condition.reason
    );
  });
}

export function findCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((condition) => condition.type === type);
}
