import { parseArgs } from 'node:util';
import type { ConnectionRefused, PresenceChange } from '../sdk/grove-client.js';
import { CliError, ExitCode, positiveSeconds, required, usage } from './cli-error.js';
import {
  connectClient,
  connectOptions,
  connectPlan,
  reportConnectEvents,
  timeoutError,
} from './connect-options.js';

/**
 * `grove presence`: prints `{"identity","device","state","status"}` on every change; exits 0
 * at --timeout, or 3 (RELAY_UNREACHABLE) when no relay was reached by then.
 */
export async function presenceCommand(
  args: string[],
  out: (line: string) => void,
  err: (line: string) => void = () => undefined,
): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { ...connectOptions, watch: { type: 'string' }, timeout: { type: 'string' } },
    strict: true,
  });
  required(values, ['watch']);
  connectPlan(values);
  const identities = (values.watch ?? '').split(',').map((ref) => {
    const match = /^identity:([a-z0-9][a-z0-9._@-]{0,127})$/.exec(ref);
    if (match?.[1] === undefined) throw usage(`--watch "${ref}" must be identity:ID`);
    return match[1];
  });
  const timeout = positiveSeconds(values.timeout, 'timeout');
  const { client, session } = await connectClient(values);
  let finish: (() => void) | undefined;
  const done = new Promise<void>((resolve) => (finish = resolve));
  let fatal: ConnectionRefused | undefined;
  let refused: CliError | undefined;
  let timedOut = false;
  reportConnectEvents(client, session, err);
  session?.on('fatal', (error: CliError) => {
    refused = error;
    finish?.();
  });
  client.on('fatal', (error: ConnectionRefused) => {
    fatal = error;
    finish?.();
  });
  client.on('presence', (change: PresenceChange) => {
    out(
      JSON.stringify({
        identity: change.identity,
        device: change.device,
        state: change.state,
        status: change.state === 'online' ? (change.status ?? 'active') : null,
      }),
    );
  });
  client.watch(identities);
  const timer =
    timeout === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          finish?.();
        }, timeout * 1000);
  process.once('SIGINT', () => finish?.());
  process.once('SIGTERM', () => finish?.());
  client.start().catch(() => undefined);
  await done;
  if (timer !== undefined) clearTimeout(timer);
  await client.close();
  if (refused !== undefined) throw refused;
  if (fatal !== undefined) {
    if (session !== undefined) throw await session.explain(fatal);
    throw new CliError('CONNECTION_REFUSED', fatal.message);
  }
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- set by the timer
  if (timedOut && !client.everConnected) {
    throw timeoutError(
      client,
      { lead: `no relay reached within ${timeout ?? 0} s` },
      new CliError('TIMEOUT', `no relay reached within ${timeout ?? 0} s`, ExitCode.timeout),
    );
  }
}
