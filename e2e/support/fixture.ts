import { relayUrls } from './access.js';
import { DOMAIN, POOL, adminClient, enrollParticipants } from './grove.js';
import { Traffic, type TrafficOptions } from './traffic.js';

/** Every third client uses HTTP long-poll, the others WebSocket. */
const transportOf = (index: number) => (index % 3 === 2 ? 'long-poll' : 'websocket');

/**
 * Enrolls `senders` + `receivers` devices (members `<prefix>s<i>` and `<prefix>r<i>`) through
 * the Manager into `domain` (default the suite's), connects an SDK client for each to the relays
 * the Manager gave it (the endpoints of `pools`, home first, through their Services), and
 * starts sending.
 */
export async function startTraffic(options: {
  root: string;
  prefix: string;
  senders: number;
  receivers: number;
  ratePerSender: number;
  /** The Domain's pools, home first (default: the suite's pool). */
  pools?: string[];
  domain?: string;
  poolFailover?: TrafficOptions['poolFailover'];
}): Promise<Traffic> {
  const manager = await adminClient();
  const domain = options.domain ?? DOMAIN;
  const receivers = await enrollParticipants(
    manager,
    options.root,
    `${options.prefix}r`,
    options.receivers,
    transportOf,
    domain,
  );
  const senders = await enrollParticipants(
    manager,
    options.root,
    `${options.prefix}s`,
    options.senders,
    transportOf,
    domain,
  );
  const endpoints: string[] = [];
  for (const pool of options.pools ?? [POOL]) endpoints.push(...(await relayUrls(pool)));
  for (const { session } of [...receivers, ...senders]) {
    if (JSON.stringify(session.current.relays) !== JSON.stringify(endpoints)) {
      throw new Error(
        `device ${session.current.deviceId} was given relays ${session.current.relays.join(', ')}, not the pool's endpoints ${endpoints.join(', ')}`,
      );
    }
  }
  const traffic = new Traffic({
    senders,
    receivers,
    ratePerSender: options.ratePerSender,
    ...(options.poolFailover === undefined ? {} : { poolFailover: options.poolFailover }),
  });
  await traffic.start();
  return traffic;
}
