import { policiesForDomain } from '../../crds/policy-merge.js';
import { policySchema, validatePolicy } from '../../crds/policy.js';
import type { ReconcileResult } from '../runtime/controller.js';
import type { ReconcileContext } from './context.js';
import { parsedDomains } from './cache-queries.js';
import { loadForReconcile, writeStatus } from './reconcile-helpers.js';

/** Policy → validated; status lists the Domains it applies to (by either selector). */
export async function reconcilePolicy(
  ctx: ReconcileContext,
  namespace: string | undefined,
  name: string,
): Promise<ReconcileResult> {
  const loaded = await loadForReconcile(
    ctx,
    ctx.caches.policies,
    namespace,
    name,
    policySchema,
    validatePolicy,
  );
  if (loaded === undefined) return undefined;
  const { object, value: policy } = loaded;
  const appliesTo = parsedDomains(ctx, namespace)
    .filter((domain) =>
      policiesForDomain(domain, [policy]).some((p) => p.metadata.name === policy.metadata.name),
    )
    .map((domain) => domain.metadata.name)
    .sort();
  await writeStatus(
    ctx,
    object,
    { appliesTo },
    [
      appliesTo.length === 0
        ? {
            type: 'Ready',
            status: 'True',
            reason: 'NotBound',
            message:
              'valid; no Domain selects this Policy yet (check domainSelector and the Domains’ policySelector)',
          }
        : {
            type: 'Ready',
            status: 'True',
            reason: 'Bound',
            message: `applies to ${appliesTo.length} Domain(s)`,
          },
    ],
    ['Paused'],
  );
  return undefined;
}
