import type { Policy } from '../../crds/policy.js';
import { comparePolicyPrecedence, effectiveRelayLimits } from '../../crds/policy-merge.js';
import type { EffectivePolicy } from './schemas.js';

export const DEFAULT_IDENTITY_SETTINGS: EffectivePolicy['identity'] = {
  contactSearch: true,
  backupIntervalHours: 24,
};
export const DEFAULT_DEVICE_SETTINGS: EffectivePolicy['device'] = {
  requirePassword: false,
  lockoutAttempts: 0,
};

/** Shown in the answer of the policy route, so an administrator can see why a value applies. */
export const POLICY_MERGE_RULE =
  'Policies apply to a Domain when their domainSelector selects it or its policySelector selects ' +
  'them (same namespace). For each field separately, the Policy with the highest priority that ' +
  'sets the field wins; equal priorities go to the alphabetically first name; a field no Policy ' +
  'sets takes its default (relay: the relay defaults; identity: contactSearch true, ' +
  'backupIntervalHours 24; device: requirePassword false, lockoutAttempts 0). Policies do not ' +
  'select members, so a member’s effective policy is its domain’s.';

function mergeSection<T extends object>(
  ordered: readonly Policy[],
  section: (p: Policy) => Partial<T> | undefined,
  defaults: T,
): T {
  const result = { ...defaults };
  for (const key of Object.keys(defaults) as (keyof T)[]) {
    const winner = ordered.find((p) => section(p)?.[key] !== undefined);
    const value = winner === undefined ? undefined : section(winner)?.[key];
    if (value !== undefined) result[key] = value;
  }
  return result;
}

/** Field by field, the value of the Policy of highest precedence that sets it, else the default. */
export function effectivePolicy(policies: readonly Policy[]): EffectivePolicy {
  const ordered = [...policies].sort(comparePolicyPrecedence);
  return {
    relay: effectiveRelayLimits(ordered),
    identity: mergeSection(ordered, (p) => p.spec.identity, DEFAULT_IDENTITY_SETTINGS),
    device: mergeSection(ordered, (p) => p.spec.device, DEFAULT_DEVICE_SETTINGS),
  };
}
