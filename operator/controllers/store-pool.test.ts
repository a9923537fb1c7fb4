import { describe, expect, it } from '@jest/globals';
import { relayPoolSchema } from '../../crds/relaypool.js';
import { MAX_STORE_BORROWERS } from '../builders/relaypool/index.js';
import { admittedBorrowers, borrowedPoolName, checkStorePool } from './store-pool.js';

const pool = (name: string, redis: unknown) =>
  relayPoolSchema.parse({
    apiVersion: 'grove.dev/v1alpha1',
    kind: 'RelayPool',
    metadata: { name, namespace: 'ns' },
    spec: { redis },
  });

const failover = pool('failover', { relayPool: { name: 'home' } });
const problemOf = (result: ReturnType<typeof checkStorePool>) =>
  'problem' in result ? result.problem : undefined;

describe('checkStorePool', () => {
  it('gives a borrowing pool the named pool when that has a built-in Redis', () => {
    const home = pool('home', { builtin: { highAvailability: {} } });
    expect(checkStorePool(failover, { state: 'found', pool: home }, ['failover'])).toEqual({
      pool: home,
    });
  });

  it('says the named pool is missing, or going with its Redis, and that nothing was touched', () => {
    const missing = problemOf(checkStorePool(failover, { state: 'missing' }, ['failover']));
    expect(missing?.reason).toBe('StorePoolMissing');
    expect(missing?.message).toContain(
      'RelayPool "home" (spec.redis.relayPool.name) does not exist in namespace ns',
    );
    expect(missing?.message).toContain('nothing was deleted');
    const deleting = problemOf(checkStorePool(failover, { state: 'deleting' }, ['failover']));
    expect(deleting?.reason).toBe('StorePoolMissing');
    expect(deleting?.message).toContain('is being deleted');
    expect(deleting?.message).toContain('data-home-redis-N are kept');
  });

  it('refuses a named pool on an external Redis, naming the URL to use instead', () => {
    const home = pool('home', { external: { url: 'redis://cache.example:6379' } });
    const problem = problemOf(checkStorePool(failover, { state: 'found', pool: home }, []));
    expect(problem?.reason).toBe('StorePoolUnusable');
    expect(problem?.message).toContain(
      'spec.redis.external and the same url (redis://cache.example:6379)',
    );
  });

  it('refuses a named pool that itself borrows, naming the pool to name instead', () => {
    const home = pool('home', { relayPool: { name: 'origin' } });
    const problem = problemOf(checkStorePool(failover, { state: 'found', pool: home }, []));
    expect(problem?.reason).toBe('StorePoolUnusable');
    expect(problem?.message).toContain('name "origin" directly');
  });

  it('refuses a named pool whose spec does not parse', () => {
    expect(problemOf(checkStorePool(failover, { state: 'invalid' }, []))?.reason).toBe(
      'StorePoolUnusable',
    );
  });

  it(`admits the first ${MAX_STORE_BORROWERS} borrowers by name and refuses the rest`, () => {
    const home = pool('home', { builtin: {} });
    const others = Array.from(
      { length: MAX_STORE_BORROWERS },
      (_, i) => `a-${String(i).padStart(2, '0')}`,
    );
    expect(admittedBorrowers([...others, 'failover'])).toEqual(others);
    const problem = problemOf(
      checkStorePool(failover, { state: 'found', pool: home }, [...others, 'failover']),
    );
    expect(problem?.reason).toBe('StorePoolUnusable');
    expect(problem?.message).toContain(`at most ${MAX_STORE_BORROWERS} may`);
  });
});

describe('borrowedPoolName', () => {
  it('reads spec.redis.relayPool.name from a raw spec, and nothing from others', () => {
    expect(borrowedPoolName({ redis: { relayPool: { name: 'home' } } })).toBe('home');
    expect(borrowedPoolName({ redis: { builtin: {} } })).toBeUndefined();
    expect(borrowedPoolName({ redis: { relayPool: { name: 7 } } })).toBeUndefined();
    expect(borrowedPoolName(undefined)).toBeUndefined();
  });
});
