import { parseArgs } from 'node:util';
import type { ConnectionRefused, PresenceChange } from '../sdk/grove-client.js';
import { CliError, positiveSeconds, required, usage } from './cli-error.js';
import { connectClient, connectOptions, connectPlan } from './connect-options.js';

/** `grove presence`: prints `{"identity","device","state","status"}` on every change. */
export async function presenceCommand(args: string[], out: (line: string) => void): Promise<void> {
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
  const timer = timeout === undefined ? undefined : setTimeout(() => finish?.(), timeout * 1000);
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
}
