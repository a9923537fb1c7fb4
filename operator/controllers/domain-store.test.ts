import { describe, expect, it } from '@jest/globals';
import { relayPoolSchema } from '../../crds/relaypool.js';
import { checkDomainStores, normalizeRedisUrl, storeOfPool } from './domain-store.js';

const pool = (name: string, redis: unknown) =>
  relayPoolSchema.parse({
    apiVersion: 'grove.dev/v1alpha1',
    kind: 'RelayPool',
    metadata: { name, namespace: 'ns' },
    spec: { redis },
  });

const builtin = (name: string) => storeOfPool(pool(name, { builtin: {} }));
const external = (name: string, url: string) => storeOfPool(pool(name, { external: { url } }));

describe('storeOfPool', () => {
  it('gives each built-in Redis its own store and external ones their normalised URL', () => {
    expect(builtin('home').key).toBe('builtin:ns/home');
    expect(external('a', 'redis://user:secret@Redis.Example:6379').key).toBe(
      'external:redis://redis.example:6379/0',
    );
    expect(external('b', 'redis://redis.example/0').key).toBe(
      'external:redis://redis.example:6379/0',
    );
    expect(external('c', 'rediss://redis.example:6380/2').description).toBe(
      'external Redis rediss://redis.example:6380/2',
    );
    expect(normalizeRedisUrl('redis://r:7000/')).toBe('redis://r:7000/0');
  });

  it('gives a pool on another pool’s built-in Redis that pool’s store', () => {
    const failover = storeOfPool(pool('failover', { relayPool: { name: 'home' } }));
    expect(failover).toEqual({
      pool: 'failover',
      key: 'builtin:ns/home',
      description: 'the built-in Redis of RelayPool "home"',
    });
    const check = checkDomainStores([builtin('home'), failover], undefined);
    expect(check.problem).toBeUndefined();
    expect(check.pools).toEqual(['home', 'failover']);
  });

  it('never puts a password in the key or the description', () => {
    const store = external('a', 'redis://default:hunter2@r:6379');
    expect(`${store.key} ${store.description}`).not.toContain('hunter2');
  });
});

describe('checkDomainStores', () => {
  it('accepts pools on one store and records it', () => {
    const check = checkDomainStores(
      [external('home', 'redis://r:6379'), external('away', 'redis://default:x@r:6379/0')],
      undefined,
    );
    expect(check.problem).toBeUndefined();
    expect(check.store?.key).toBe('external:redis://r:6379/0');
    expect(check.pools).toEqual(['home', 'away']);
  });

  it('refuses pools on different stores, naming each, and keeps only the home store’s pools', () => {
    const check = checkDomainStores([builtin('home'), builtin('away')], undefined);
    expect(check.problem?.reason).toBe('RelayPoolsOnDifferentStores');
    expect(check.problem?.message).toContain('"home" uses the built-in Redis of RelayPool "home"');
    expect(check.problem?.message).toContain('"away" uses the built-in Redis of RelayPool "away"');
    expect(check.problem?.message).toContain('Nothing was changed');
    expect(check.pools).toEqual(['home']);
    expect(check.store?.key).toBe('builtin:ns/home');
  });

  it('keeps the recorded store when a new home pool is on another one', () => {
    const check = checkDomainStores([builtin('new'), builtin('old')], 'builtin:ns/old');
    expect(check.problem?.reason).toBe('RelayPoolsOnDifferentStores');
    expect(check.pools).toEqual(['old']);
    expect(check.store?.key).toBe('builtin:ns/old');
  });

  it('refuses a change of every pool to another store: the data would be orphaned', () => {
    const check = checkDomainStores([builtin('new')], 'builtin:ns/old');
    expect(check.problem?.reason).toBe('StoreChanged');
    expect(check.problem?.message).toContain('the built-in Redis of RelayPool "old"');
    expect(check.problem?.message).toContain('docs/architecture.md');
    expect(check.pools).toEqual([]);
    expect(check.store?.key).toBe('builtin:ns/old');
  });

  it('keeps the recorded store while no pool is found', () => {
    expect(checkDomainStores([], 'builtin:ns/old').store?.key).toBe('builtin:ns/old');
    expect(checkDomainStores([], undefined).store).toBeUndefined();
  });
});
