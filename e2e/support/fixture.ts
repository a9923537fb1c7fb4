import { relayUrls } from './access.js';
import { POOL, adminClient, enrollParticipants } from './grove.js';
import { Traffic } from './traffic.js';

/** Every third client uses HTTP long-poll, the others WebSocket. */
const transportOf = (index: number) => (index % 3 === 2 ? 'long-poll' : 'websocket');

/**
 * Enrolls `senders` + `receivers` devices (members `<prefix>s<i>` and `<prefix>r<i>`) through
 * the Manager, connects an SDK client for each to the relays the Manager gave it (the pool's
 * endpoints, through its Service), and starts sending.
 */
export async function startTraffic(options: {
  root: string;
  prefix: string;
  senders: number;
  receivers: number;
  ratePerSender: number;
}): Promise<Traffic> {
  const manager = await adminClient();
  const receivers = await enrollParticipants(
    manager,
    options.root,
    `${options.prefix}r`,
    options.receivers,
    transportOf,
  );
  const senders = await enrollParticipants(
    manager,
    options.root,
    `${options.prefix}s`,
    options.senders,
    transportOf,
  );
  const endpoints = await relayUrls(POOL);
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
  });
  await traffic.start();
  return traffic;
}
