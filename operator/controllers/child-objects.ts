import { FIELD_MANAGER } from '../builders/labels.js';
import type { KubeObject, ResourceType } from '../../kube/kube-object.js';
import { ownedResourceTypes } from '../../kube/resource-types.js';
import type { ReconcileContext } from './context.js';
import { isOwnedBy } from './reconcile-helpers.js';

const childKey = (object: KubeObject): string => `${object.kind}/${object.metadata.name}`;

function typeOfKind(kind: string): ResourceType {
  const type = ownedResourceTypes.find((candidate) => candidate.kind === kind);
  if (type === undefined) throw new Error(`the operator does not own objects of kind ${kind}`);
  return type;
}

/**
 * Applies every desired child with server-side apply (one field manager, forced: the operator
 * owns these fields, a manual edit is reverted) and records Created/Updated Events. Returns
 * the objects as the API server stored them, by "Kind/name".
 */
export async function applyChildren(
  ctx: ReconcileContext,
  owner: KubeObject,
  desired: readonly KubeObject[],
): Promise<Map<string, KubeObject>> {
  const applied = new Map<string, KubeObject>();
  for (const child of desired) {
    const cached = ctx.caches.owned
      .get(child.kind)
      ?.get(child.metadata.namespace, child.metadata.name);
    const stored = await ctx.api.apply<KubeObject>(child, {
      fieldManager: FIELD_MANAGER,
      force: true,
    });
    applied.set(childKey(child), stored);
    if (cached === undefined) {
      ctx.events.record(owner, 'Normal', 'Created', `created ${child.kind} ${child.metadata.name}`);
      continue;
    }
    // generation moves only with the spec; resourceVersion also with status, for kinds without one.
    const changed =
      stored.metadata.generation !== undefined
        ? stored.metadata.generation !== cached.metadata.generation
        : stored.metadata.resourceVersion !== cached.metadata.resourceVersion;
    if (changed) {
      ctx.events.record(owner, 'Normal', 'Updated', `updated ${child.kind} ${child.metadata.name}`);
    }
  }
  return applied;
}

/**
 * Deletes children the owner no longer wants (an HPA after autoscaling is turned off, the
 * Redis objects of a pool that moved to … nothing: switching Redis is refused by the CRD).
 * `keep` lists "Kind/name" of children made outside the builders (generated Secrets).
 */
export async function pruneChildren(
  ctx: ReconcileContext,
  owner: KubeObject,
  desired: readonly KubeObject[],
  keep: readonly string[] = [],
): Promise<void> {
  const wanted = new Set([...desired.map(childKey), ...keep]);
  for (const [kind, cache] of ctx.caches.owned) {
    for (const object of cache.list(owner.metadata.namespace)) {
      if (!isOwnedBy(object, owner) || wanted.has(childKey(object))) continue;
      const deleted = await ctx.api.delete(
        typeOfKind(kind),
        object.metadata.namespace,
        object.metadata.name,
        {
          propagationPolicy: 'Background',
          ...(object.metadata.uid === undefined ? {} : { uid: object.metadata.uid }),
        },
      );
      if (deleted) {
        ctx.events.record(
          owner,
          'Normal',
          'Deleted',
          `deleted ${kind} ${object.metadata.name}: no longer needed`,
        );
      }
    }
  }
}
