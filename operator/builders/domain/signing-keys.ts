import type { JWK } from 'jose';
import type { PublicKey } from '../../../crds/domain.js';
import type { DomainSigningKey } from '../../../contracts/auth/device-token.js';

/**
 * A domain's keys as its Secret keeps them (data key `keys.json`): the current key first, with
 * its private half (the Manager signs relay tokens with it), then retired keys, public half
 * only, each published until `notAfter` so tokens they signed keep verifying until they expire.
 */
export interface StoredSigningKeys {
  keys: [DomainSigningKey, ...RetiredKey[]];
  /** The value of the rotate annotation the last rotation answered. */
  rotationHandled?: string;
}

export interface RetiredKey {
  kid: string;
  publicJwk: JWK;
  notAfter: string;
}

export const SIGNING_KEYS_DATA_KEY = 'keys.json';

export function signingKeySecretName(domain: string): string {
  return `${domain}-signing-key`;
}

/** What the reconcile must do with the keys; `newKey` is needed for create and rotate. */
export type SigningKeyAction = 'create' | 'rotate' | 'prune' | 'none';

export function signingKeyAction(
  stored: StoredSigningKeys | undefined,
  rotateRequest: string | undefined,
  now: Date,
): SigningKeyAction {
  if (stored === undefined) return 'create';
  if (
    rotateRequest !== undefined &&
    rotateRequest !== '' &&
    rotateRequest !== stored.rotationHandled
  ) {
    return 'rotate';
  }
  const [, ...retired] = stored.keys;
  return retired.some((key) => Date.parse(key.notAfter) <= now.getTime()) ? 'prune' : 'none';
}

/** Key ids are `<domain>-<n>`, n counting up, so a rotation never reuses an id. */
export function nextKeyId(domain: string, stored: StoredSigningKeys | undefined): string {
  const prefix = `${domain}-`;
  const numbers = (stored?.keys ?? [])
    .map((key) => key.kid)
    .filter((kid) => kid.startsWith(prefix))
    .map((kid) => Number(kid.slice(prefix.length)))
    .filter((n) => Number.isInteger(n));
  return `${prefix}${Math.max(0, ...numbers) + 1}`;
}

/**
 * The keys after `action`. Pure: the caller generates `newKey` (with {@link nextKeyId}) only for
 * create and rotate. Expired retired keys are dropped whatever the action.
 */
export function nextSigningKeys(
  stored: StoredSigningKeys | undefined,
  action: SigningKeyAction,
  options: {
    now: Date;
    gracePeriodSeconds: number;
    rotateRequest: string | undefined;
    newKey?: DomainSigningKey;
  },
): StoredSigningKeys {
  const live = (key: RetiredKey) => Date.parse(key.notAfter) > options.now.getTime();
  if (action === 'create' || action === 'rotate') {
    if (options.newKey === undefined) throw new Error(`signing key ${action} needs a new key`);
    const retired: RetiredKey[] = [];
    if (stored !== undefined) {
      const [current, ...older] = stored.keys;
      retired.push(
        {
          kid: current.kid,
          publicJwk: current.publicJwk,
          notAfter: new Date(
            options.now.getTime() + options.gracePeriodSeconds * 1000,
          ).toISOString(),
        },
        ...older.filter(live),
      );
    }
    const handled = action === 'rotate' ? options.rotateRequest : stored?.rotationHandled;
    return {
      keys: [options.newKey, ...retired],
      ...(handled === undefined ? {} : { rotationHandled: handled }),
    };
  }
  if (stored === undefined) throw new Error(`signing key ${action} needs stored keys`);
  const [current, ...older] = stored.keys;
  return { ...stored, keys: [current, ...older.filter(live)] };
}

/** status.publicKeys: the current key first, then the retired ones still published. */
export function publishedKeys(stored: StoredSigningKeys): PublicKey[] {
  const [current, ...retired] = stored.keys;
  return [
    { kid: current.kid, x: String(current.publicJwk.x) },
    ...retired.map((key) => ({ kid: key.kid, x: String(key.publicJwk.x), notAfter: key.notAfter })),
  ];
}

/** Earliest time a retired key expires: the reconcile must run again then to unpublish it. */
export function nextKeyExpiry(stored: StoredSigningKeys): Date | undefined {
  const [, ...retired] = stored.keys;
  const times = retired.map((key) => Date.parse(key.notAfter));
  return times.length === 0 ? undefined : new Date(Math.min(...times));
}

/** Reads the Secret's `keys.json`; a clear error when someone edited it into something else. */
export function parseStoredSigningKeys(text: string, where: string): StoredSigningKeys {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`${where}: ${SIGNING_KEYS_DATA_KEY} is not JSON: ${(error as Error).message}`);
  }
  const keys = (value as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0) {
    throw new Error(
      `${where}: ${SIGNING_KEYS_DATA_KEY} must hold {"keys": [current, ...retired]}; ` +
        'delete the Secret to have the operator create a new key (tokens signed by the old one stop working)',
    );
  }
  const [current] = keys as { kid?: unknown; privateJwk?: unknown; publicJwk?: unknown }[];
  if (
    typeof current?.kid !== 'string' ||
    typeof current.privateJwk !== 'object' ||
    typeof current.publicJwk !== 'object'
  ) {
    throw new Error(
      `${where}: the first key in ${SIGNING_KEYS_DATA_KEY} has no kid, privateJwk and publicJwk`,
    );
  }
  return value as StoredSigningKeys;
}
