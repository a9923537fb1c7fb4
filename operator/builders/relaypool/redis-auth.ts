import type { V1Secret } from '@kubernetes/client-node';
import type { RelayPool } from '../../../crds/relaypool.js';
import type { KubeObject } from '../../../kube/kube-object.js';
import type { RelayPoolBuildInput } from './input.js';
import { childMetadata, type Plain } from './metadata.js';
import { poolIdentity, relayPoolNames } from './names.js';
import { builtinStorePool } from './store.js';

/** Key of the built-in Redis password in its Secret. */
export const REDIS_PASSWORD_KEY = 'password';
/**
 * Key of a redis.conf fragment (`requirepass …`) in the same Secret: Redis reads its password
 * from this mounted file, so the password never appears in redis-server's command line.
 */
export const REDIS_CONF_KEY = 'redis.conf';

/** The redis.conf line that sets `password`; quoted, so any character is safe. */
export function redisAuthConf(password: string): string {
  return `requirepass "${password.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"\n`;
}

/**
 * Name of the Secret holding the password of the built-in Redis the pool uses: its own, or
 * with spec.redis.relayPool the named pool's.
 */
export function builtinRedisPasswordSecret(input: RelayPoolBuildInput): string {
  return (
    input.redisPasswordSecret ?? relayPoolNames(builtinStorePool(input).metadata.name).redisAuth
  );
}

/**
 * The Secret key relays read the Redis password from: the built-in Redis's Secret, the
 * external Redis's passwordSecretRef, or none (an external Redis without a password).
 */
export function redisPasswordSource(
  input: RelayPoolBuildInput,
): { name: string; key: string } | undefined {
  const { redis } = input.pool.spec;
  if ('external' in redis) {
    const ref = redis.external.passwordSecretRef;
    return ref === undefined ? undefined : { name: ref.name, key: ref.key };
  }
  return { name: builtinRedisPasswordSecret(input), key: REDIS_PASSWORD_KEY };
}

/**
 * The Secret holding the built-in Redis password. The caller makes the password (randomness is
 * not the builder's) once, and re-applies the one it finds afterwards. `data`, not `stringData`:
 * the API server folds stringData into data, so applying stringData never matches what is stored.
 */
export function buildRedisAuthSecret(pool: RelayPool, password: string): KubeObject {
  const { name } = poolIdentity(pool);
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: childMetadata(pool, relayPoolNames(name).redisAuth, 'redis'),
    type: 'Opaque',
    data: {
      [REDIS_PASSWORD_KEY]: Buffer.from(password, 'utf8').toString('base64'),
      [REDIS_CONF_KEY]: Buffer.from(redisAuthConf(password), 'utf8').toString('base64'),
    },
  } satisfies Plain<V1Secret> & KubeObject;
}
