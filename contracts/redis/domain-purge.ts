import { Cluster, type Redis } from 'ioredis';
import { domainKeyPatterns } from './keys.js';

async function purgeNode(node: Redis, patterns: readonly string[]): Promise<number> {
  let removed = 0;
  for (const pattern of patterns) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) {
        // One UNLINK per key: on a cluster node the keys of one batch span many slots.
        const pipeline = node.pipeline();
        for (const key of keys) pipeline.unlink(key);
        const results = (await pipeline.exec()) ?? [];
        for (const [error, count] of results) {
          if (error) throw error;
          removed += Number(count);
        }
      }
    } while (cursor !== '0');
  }
  return removed;
}

/**
 * Deletes every queue, de-duplication record, presence key, stored payload and directory
 * entry of `domain`, on a single Redis or on every master of a cluster. Returns the number of
 * keys removed. Safe to repeat; keys written meanwhile by a relay that still serves the
 * domain are caught by the next run.
 */
export async function purgeDomainData(client: Redis | Cluster, domain: string): Promise<number> {
  const patterns = domainKeyPatterns(domain);
  const nodes = client instanceof Cluster ? client.nodes('master') : [client];
  let removed = 0;
  for (const node of nodes) removed += await purgeNode(node, patterns);
  return removed;
}
