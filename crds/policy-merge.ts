import type { Domain } from './domain.js';
import type { Policy } from './policy.js';
import { DEFAULT_RELAY_LIMITS, RELAY_LIMIT_KEYS, type RelayLimits } from './relay-limits.js';
import { matchesSelector } from './selector.js';

const namespaceOf = (meta: { namespace?: string | undefined }): string =>
  meta.namespace ?? 'default';

/** Highest priority first; equal priorities by name so every reconcile sees the same order. */
export function comparePolicyPrecedence(a: Policy, b: Policy): number {
  const byPriority = b.spec.priority - a.spec.priority;
  if (byPriority !== 0) return byPriority;
  const an = a.metadata.name;
  const bn = b.metadata.name;
  return an < bn ? -1 : an > bn ? 1 : 0;
}

/**
 * The Policies that apply to a Domain, highest precedence first. A Policy applies when its
 * domainSelector matches the Domain's labels or the Domain's policySelector matches the
 * Policy's labels; only Policies of the Domain's own namespace are considered.
 */
export function policiesForDomain(domain: Domain, policies: readonly Policy[]): Policy[] {
  const ns = namespaceOf(domain.metadata);
  return policies
    .filter(
      (p) =>
        namespaceOf(p.metadata) === ns &&
        (matchesSelector(p.spec.domainSelector, domain.metadata.labels) ||
          matchesSelector(domain.spec.policySelector, p.metadata.labels)),
    )
    .sort(comparePolicyPrecedence);
}

/**
 * Field by field, the value set by the Policy of highest precedence that sets it, else the
 * default: a high-priority Policy overrides only what it names and inherits the rest.
 */
export function effectiveRelayLimits(policies: readonly Policy[]): RelayLimits {
  const ordered = [...policies].sort(comparePolicyPrecedence);
  const merged: Record<string, unknown> = { ...DEFAULT_RELAY_LIMITS };
  for (const key of RELAY_LIMIT_KEYS) {
    const value = ordered.find((p) => p.spec.relay?.[key] !== undefined)?.spec.relay?.[key];
    if (value !== undefined) merged[key] = value;
  }
  return merged as RelayLimits;
}
