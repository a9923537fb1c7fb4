import { purgeDomainData } from '../contracts/redis/domain-purge.js';
import { connectRedis, type RedisTarget } from '../contracts/redis/connection.js';

const PURGE_TIMEOUT_MS = 20_000;

/**
 * The real purge behind ReconcileContext.purgeDomainData: connects to one RelayPool's Redis,
 * deletes every key of `domain` there and disconnects. Gives up after 20 s without an answer
 * (an unreachable Redis must not hold a reconcile worker for ever). Returns the keys removed.
 */
export async function purgeDomainFromRedis(target: RedisTarget, domain: string): Promise<number> {
  const client = connectRedis(target, 'commands');
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      purgeDomainData(client, domain),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer from Redis within ${PURGE_TIMEOUT_MS / 1000} s`)),
          PURGE_TIMEOUT_MS,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
    client.disconnect();
  }
}
