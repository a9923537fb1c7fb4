import { domainSchema, validateDomain, type Domain } from '../../crds/domain.js';
import { policiesForDomain } from '../../crds/policy-merge.js';
import { findCondition, type ConditionUpdate } from '../builders/conditions.js';
import {
  nextKeyExpiry,
  nextKeyId,
  nextSigningKeys,
  parseStoredSigningKeys,
  publishedKeys,
  signingKeyAction,
  signingKeySecretName,
  SIGNING_KEYS_DATA_KEY,
  type StoredSigningKeys,
} from '../builders/domain/signing-keys.js';
import { annotationKeys, labelKeys, MANAGED_BY } from '../builders/labels.js';
import { relayPoolEndpoints } from '../builders/relaypool/index.js';
import type { KubeObject } from '../../kube/kube-object.js';
import { resourceTypes } from '../../kube/resource-types.js';
import type { ReconcileResult } from '../runtime/controller.js';
import { cachedRelayPool, parsedPolicies } from './cache-queries.js';
import type { ReconcileContext } from './context.js';
import {
  conditionsOf,
  errorCode,
  isPaused,
  ownerReference,
  parseResource,
  rejectSpec,
  reportPaused,
  writeStatus,
} from './reconcile-helpers.js';
import { finalizeDomain, hasPurgeFinalizer, setPurgeFinalizer } from './domain-finalizer.js';
import { buildSigningKeyAccess } from '../builders/domain/signing-key-access.js';
import { applyChildren, pruneChildren } from './child-objects.js';
import { checkDomainStores, storeOfPool, type PoolStore } from './domain-store.js';

function signingKeySecret(
  owner: KubeObject,
  keys: StoredSigningKeys,
  resourceVersion?: string,
): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: signingKeySecretName(owner.metadata.name),
      ...(owner.metadata.namespace === undefined ? {} : { namespace: owner.metadata.namespace }),
      ...(resourceVersion === undefined ? {} : { resourceVersion }),
      labels: {
        [labelKeys.name]: 'grove-domain',
        [labelKeys.instance]: owner.metadata.name,
        [labelKeys.component]: 'signing-key',
        [labelKeys.managedBy]: MANAGED_BY,
        [labelKeys.partOf]: 'grove',
        [labelKeys.domain]: owner.metadata.name,
      },
      ownerReferences: [ownerReference(owner)],
    },
    type: 'Opaque',
    data: {
      [SIGNING_KEYS_DATA_KEY]: Buffer.from(`${JSON.stringify(keys, null, 2)}\n`).toString('base64'),
    },
  };
}

/**
 * Creates the domain's signing key once, rotates it when the rotate annotation takes a new
 * value, and unpublishes retired keys after their grace period. The Secret is read from the
 * API, never the cache, and written with create / resourceVersion-checked replace: a stale
 * read must never replace a key clients already hold tokens of.
 */
async function reconcileSigningKeys(
  ctx: ReconcileContext,
  object: KubeObject,
  domain: Domain,
): Promise<StoredSigningKeys> {
  const name = signingKeySecretName(domain.metadata.name);
  const namespace = domain.metadata.namespace;
  const secret = await ctx.api.get(resourceTypes.secrets, namespace, name);
  const encoded = (secret?.data as Record<string, string> | undefined)?.[SIGNING_KEYS_DATA_KEY];
  const where = `Secret ${namespace ?? ''}/${name}`;
  if (secret !== undefined && encoded === undefined) {
    throw new Error(`${where} has no ${SIGNING_KEYS_DATA_KEY}; delete it to have a new key made`);
  }
  const stored =
    encoded === undefined
      ? undefined
      : parseStoredSigningKeys(Buffer.from(encoded, 'base64').toString('utf8'), where);
  const now = ctx.now();
  const rotateRequest = domain.metadata.annotations?.[annotationKeys.rotateSigningKey];
  const action = signingKeyAction(stored, rotateRequest, now);
  if (action === 'none' && stored !== undefined) return stored;
  const newKey =
    action === 'create' || action === 'rotate'
      ? await ctx.generateSigningKey(nextKeyId(domain.metadata.name, stored))
      : undefined;
  const next = nextSigningKeys(stored, action, {
    now,
    gracePeriodSeconds: domain.spec.signingKey.rotationGracePeriodSeconds,
    rotateRequest,
    ...(newKey === undefined ? {} : { newKey }),
  });
  if (secret === undefined) {
    await ctx.api.create(resourceTypes.secrets, signingKeySecret(object, next));
    ctx.events.record(
      object,
      'Normal',
      'SigningKeyCreated',
      `created signing key ${next.keys[0].kid} in Secret ${name}`,
    );
  } else {
    // A conflict (409) throws: the retry reads the Secret again.
    await ctx.api.replace(
      resourceTypes.secrets,
      signingKeySecret(object, next, secret.metadata.resourceVersion),
    );
    if (action === 'rotate') {
      ctx.events.record(
        object,
        'Normal',
        'SigningKeyRotated',
        `new signing key ${next.keys[0].kid}; ${stored?.keys[0].kid ?? 'the old key'} stays valid for ` +
          `${domain.spec.signingKey.rotationGracePeriodSeconds} s`,
      );
    } else {
      ctx.events.record(
        object,
        'Normal',
        'SigningKeyRetired',
        'unpublished signing keys past their grace period',
      );
    }
  }
  return next;
}

/**
 * Ready when every named RelayPool exists, all of them use one store (the one the Domain's data
 * is on) and they are ready. Devices are given only the pools on the Domain's store.
 */
function relayPoolsCondition(
  ctx: ReconcileContext,
  domain: Domain,
): { condition: ConditionUpdate; urls: string[]; store: string | undefined } {
  const namespace = domain.metadata.namespace;
  const found: { name: string; urls: string[]; ready: boolean; reason: string | undefined }[] = [];
  const stores: PoolStore[] = [];
  const missing: string[] = [];
  for (const poolName of domain.spec.relayPools) {
    const cached = cachedRelayPool(ctx, namespace, poolName);
    if (cached === undefined) {
      missing.push(poolName);
      continue;
    }
    const ready = findCondition(conditionsOf(cached.object), 'Ready');
    found.push({
      name: poolName,
      urls: cached.pool.status?.endpoints ?? relayPoolEndpoints(cached.pool),
      ready: ready?.status === 'True',
      reason: ready?.reason,
    });
    stores.push(storeOfPool(cached.pool));
  }
  const check = checkDomainStores(stores, domain.status?.store);
  const served = found.filter((pool) => check.pools.includes(pool.name));
  const urls = served.flatMap((pool) => pool.urls);
  const notReady = served.filter((pool) => !pool.ready);
  const store = check.store?.key;
  const list = (names: string[]) => names.map((n) => `"${n}"`).join(', ');
  if (check.problem !== undefined) {
    return {
      urls,
      store,
      condition: {
        type: 'Ready',
        status: 'False',
        reason: check.problem.reason,
        message: check.problem.message,
      },
    };
  }
  if (missing.length > 0) {
    return {
      urls,
      store,
      condition: {
        type: 'Ready',
        status: 'False',
        reason: 'RelayPoolNotFound',
        message: `RelayPool ${list(missing)} not found in namespace ${namespace ?? ''}: create it or fix spec.relayPools`,
      },
    };
  }
  if (notReady.length > 0) {
    return {
      urls,
      store,
      condition: {
        type: 'Ready',
        status: 'False',
        reason: 'RelayPoolNotReady',
        // The pool's own reason points at the fix (e.g. StorePoolMissing: its store pool is gone).
        message: `RelayPool ${notReady
          .map((pool) => `"${pool.name}"${pool.reason === undefined ? '' : ` (${pool.reason})`}`)
          .join(', ')} not ready yet: see its status`,
      },
    };
  }
  return {
    urls,
    store,
    condition: {
      type: 'Ready',
      status: 'True',
      reason: 'RelayPoolsReady',
      message: `signing key published; ${domain.spec.relayPools.length} RelayPool(s) ready`,
    },
  };
}

export async function reconcileDomain(
  ctx: ReconcileContext,
  namespace: string | undefined,
  name: string,
): Promise<ReconcileResult> {
  const object = ctx.caches.domains.get(namespace, name);
  if (object === undefined) return undefined;
  if (object.metadata.deletionTimestamp !== undefined) {
    if (hasPurgeFinalizer(object)) {
      const parsed = domainSchema.safeParse(object);
      await finalizeDomain(ctx, object, parsed.success ? parsed.data : undefined);
    }
    return undefined;
  }
  if (isPaused(object)) {
    await reportPaused(ctx, object);
    return undefined;
  }
  const parsed = parseResource(domainSchema, object, validateDomain);
  if (!parsed.ok) {
    await rejectSpec(ctx, object, parsed.issues);
    return undefined;
  }
  const domain = parsed.value;
  if (!hasPurgeFinalizer(object)) await setPurgeFinalizer(ctx, object, true);
  let keys: StoredSigningKeys;
  try {
    keys = await reconcileSigningKeys(ctx, object, domain);
  } catch (error) {
    if (errorCode(error) === 409) throw error;
    const message = error instanceof Error ? error.message : String(error);
    await writeStatus(ctx, object, {}, [
      { type: 'Ready', status: 'False', reason: 'SigningKeyError', message },
    ]);
    throw error;
  }
  // Who may read the key (the Manager): a Role on this one Secret, bound to them.
  const access = buildSigningKeyAccess({
    domain: {
      name: object.metadata.name,
      namespace: object.metadata.namespace ?? '',
      uid: object.metadata.uid ?? '',
    },
    readers: ctx.settings.signingKeyReaders ?? [],
  });
  await applyChildren(ctx, object, access);
  await pruneChildren(ctx, object, access);
  const { condition, urls, store } = relayPoolsCondition(ctx, domain);
  const applied = policiesForDomain(domain, parsedPolicies(ctx, namespace)).map(
    (p) => p.metadata.name,
  );
  await writeStatus(
    ctx,
    object,
    {
      signingKeySecret: signingKeySecretName(domain.metadata.name),
      publicKeys: publishedKeys(keys),
      relayUrls: urls,
      ...(store === undefined ? {} : { store }),
      appliedPolicies: applied,
    },
    [condition],
    ['Paused'],
  );
  const expiry = nextKeyExpiry(keys);
  return expiry === undefined
    ? undefined
    : { requeueAfterMs: Math.max(1000, expiry.getTime() - ctx.now().getTime() + 1000) };
}
