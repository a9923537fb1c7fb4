import { domainSchema, type Domain } from '../../crds/domain.js';
import { effectiveRelayLimits, policiesForDomain } from '../../crds/policy-merge.js';
import { policySchema, type Policy } from '../../crds/policy.js';
import { relayPoolSchema, type RelayPool } from '../../crds/relaypool.js';
import type { ServedDomain } from '../builders/relaypool/index.js';
import type { KubeObject } from '../../kube/kube-object.js';
import type { ReconcileContext } from './context.js';

/**
 * What the controllers read from the informers' caches about objects other than the one they
 * reconcile. Objects that do not parse are skipped: their own status says why.
 */

/** The Domains of a namespace (all namespaces when undefined), as stored. */
export function parsedDomains(ctx: ReconcileContext, namespace: string | undefined): Domain[] {
  return ctx.caches.domains
    .list(namespace)
    .map((object) => domainSchema.safeParse(object))
    .filter((result) => result.success)
    .map((result) => result.data);
}

/** The Policies of a namespace (all namespaces when undefined), as stored. */
export function parsedPolicies(ctx: ReconcileContext, namespace: string | undefined): Policy[] {
  return ctx.caches.policies
    .list(namespace)
    .map((object) => policySchema.safeParse(object))
    .filter((result) => result.success)
    .map((result) => result.data);
}

/** One RelayPool from the cache, with its parsed spec; undefined when missing or unparsable. */
export function cachedRelayPool(
  ctx: ReconcileContext,
  namespace: string | undefined,
  name: string,
): { object: KubeObject; pool: RelayPool } | undefined {
  const object = ctx.caches.relayPools.get(namespace, name);
  if (object === undefined) return undefined;
  const parsed = relayPoolSchema.safeParse(object);
  return parsed.success ? { object, pool: parsed.data } : undefined;
}

/** The Domains that name this pool and already have keys, with their merged limits. */
export function servedDomains(ctx: ReconcileContext, pool: RelayPool): ServedDomain[] {
  const namespace = pool.metadata.namespace;
  const policies = parsedPolicies(ctx, namespace);
  return parsedDomains(ctx, namespace)
    .filter((domain) => domain.spec.relayPools.includes(pool.metadata.name))
    .filter((domain) => (domain.status?.publicKeys ?? []).length > 0)
    .map((domain) => ({
      name: domain.metadata.name,
      publicKeys: (domain.status?.publicKeys ?? []).map((key) => ({
        kty: 'OKP' as const,
        crv: 'Ed25519' as const,
        x: key.x,
        kid: key.kid,
      })),
      limits: effectiveRelayLimits(policiesForDomain(domain, policies)),
    }));
}

/** Whether the namespace holds a Domain of this name (parsable or not). */
export function domainExists(
  ctx: ReconcileContext,
  namespace: string | undefined,
  name: string,
): boolean {
  return ctx.caches.domains.get(namespace, name) !== undefined;
}
