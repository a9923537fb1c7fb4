import { parseArgs } from 'node:util';
import { ConnectionRefused } from '../sdk/grove-client.js';
import { CliError, ExitCode, positiveSeconds, usage } from './cli-error.js';
import {
  connectClient,
  connectOptions,
  encodeData,
  reportConnectEvents,
  timeoutError,
} from './connect-options.js';
import { ListenMemory } from './listen-memory.js';

/**
 * `grove listen`: prints each delivered message as one JSON line, acking it after printing;
 * exits 0 once --count messages arrived, 3 on --timeout.
 */
export async function listenCommand(
  args: string[],
  out: (line: string) => void,
  err: (line: string) => void,
): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      ...connectOptions,
      count: { type: 'string' },
      timeout: { type: 'string' },
      epoch: { type: 'string' },
    },
    strict: true,
  });
  const count = values.count === undefined ? undefined : Number(values.count);
  if (count !== undefined && (!Number.isInteger(count) || count <= 0))
    throw usage('--count must be a positive integer');
  const timeout = positiveSeconds(values.timeout, 'timeout');
  let received = 0;
  type Outcome =
    | { kind: 'count' | 'stopped' | 'timeout' }
    | { kind: 'fatal'; error: ConnectionRefused }
    | { kind: 'refused'; error: CliError };
  let finish: ((outcome: Outcome) => void) | undefined;
  const done = new Promise<Outcome>((resolve) => (finish = resolve));
  // With --state, what was printed and the epoch outlive this process (de-duplication and
  // resync detection across restarts, not only within one run).
  const memory =
    values.state === undefined || values.state === ''
      ? undefined
      : await ListenMemory.open(values.state);
  const epoch = values.epoch ?? memory?.epoch;
  const { client, session } = await connectClient(values, {
    ...(epoch === undefined ? {} : { epoch }),
    onMessage: async (message) => {
      if (count !== undefined && received >= count) throw new Error('enough');
      const key = ListenMemory.key(message);
      if (memory?.has(key) === true) return;
      out(
        JSON.stringify({
          id: message.id,
          from: message.from,
          to: message.to,
          ...encodeData(message.data),
          createdAt: new Date(message.createdAt).toISOString(),
        }),
      );
      received++;
      if (count !== undefined && received >= count) finish?.({ kind: 'count' });
      // Best effort: failing to remember must not block the ack of a message already printed.
      await memory?.remember(key).catch(() => undefined);
    },
  });
  client.on('resync', (event: { reason: string }) => {
    err(JSON.stringify({ event: 'resync', reason: event.reason, epoch: client.epoch }));
  });
  client.on('handler-error', () => undefined);
  reportConnectEvents(client, session, err);
  client.on('fatal', (error: ConnectionRefused) => finish?.({ kind: 'fatal', error }));
  session?.on('fatal', (error: CliError) => finish?.({ kind: 'refused', error }));
  const timer =
    timeout === undefined
      ? undefined
      : setTimeout(() => finish?.({ kind: 'timeout' }), timeout * 1000);
  const stop = () => finish?.({ kind: 'stopped' });
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  client.start().catch(() => undefined);
  const outcome = await done;
  if (timer !== undefined) clearTimeout(timer);
  await client.close();
  await memory?.saveEpoch(client.epoch).catch(() => undefined);
  if (outcome.kind === 'refused') throw outcome.error;
  if (outcome.kind === 'fatal') {
    if (session !== undefined) throw await session.explain(outcome.error);
    throw new CliError('CONNECTION_REFUSED', outcome.error.message);
  }
  if (outcome.kind === 'timeout' && (count !== undefined || !client.everConnected)) {
    // Without --count, a listen that never reached a relay is a failure too, not "no messages".
    throw timeoutError(
      client,
      { lead: `no relay reached within ${timeout ?? 0} s` },
      new CliError(
        'TIMEOUT',
        `received ${received} of ${count ?? 0} messages within ${timeout ?? 0} s`,
        ExitCode.timeout,
      ),
    );
  }
}
