import { describe, expect, it } from '@jest/globals';
import { withRedisKinds } from '../../test/support/redis-kinds.js';
import { deviceKeys, directoryKeys, identityKeys, payloadKey } from './keys.js';
import { purgeDomainData } from './domain-purge.js';
import { connectRedis, type RedisClient } from './connection.js';

async function seed(client: RedisClient, domain: string): Promise<void> {
  const device = deviceKeys(domain, 'laptop');
  await client.hset(device.meta, 'epoch', 'e1');
  await client.rpush(device.queue, 'm1', 'm2');
  await client.hset(identityKeys(domain, 'alice').presence, 'laptop', 'active');
  await client.hset(directoryKeys(domain).devices, 'laptop', 'alice');
  await client.set(payloadKey(domain, 'laptop', 'id1'), 'payload');
}

async function count(client: RedisClient, domain: string): Promise<number> {
  const checks = [
    deviceKeys(domain, 'laptop').meta,
    deviceKeys(domain, 'laptop').queue,
    identityKeys(domain, 'alice').presence,
    directoryKeys(domain).devices,
    payloadKey(domain, 'laptop', 'id1'),
  ];
  let found = 0;
  for (const key of checks) found += await client.exists(key);
  return found;
}

describe('domain purge', () => {
  it.each(withRedisKinds())(
    'removes every key of one domain and no key of another, on %s',
    async (_name, target) => {
      const client = connectRedis(target(), 'commands');
      try {
        await seed(client, 'gone');
        await seed(client, 'kept');
        // "gone" is a prefix of neither; "gone-too" shares a prefix and must survive.
        await seed(client, 'gone-too');
        expect(await count(client, 'gone')).toBe(5);
        expect(await purgeDomainData(client, 'gone')).toBe(5);
        expect(await count(client, 'gone')).toBe(0);
        expect(await count(client, 'kept')).toBe(5);
        expect(await count(client, 'gone-too')).toBe(5);
        expect(await purgeDomainData(client, 'gone')).toBe(0);
      } finally {
        client.disconnect();
      }
    },
  );
});
