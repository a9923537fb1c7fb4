import { readFile } from 'node:fs/promises';
import { GroveClient, type GroveClientOptions, type Transport } from '../sdk/grove-client.js';
import { parseRelayList } from '../sdk/relay-urls.js';
import { CloseCode } from '../../contracts/errors/close-codes.js';
import type { LinkClosed } from '../sdk/link.js';
import { usage } from './cli-error.js';
import { StateSession, cliErrorFromManager } from './state-session.js';

/** Options every client command shares. */
export const connectOptions = {
  relay: { type: 'string' },
  token: { type: 'string' },
  transport: { type: 'string' },
  state: { type: 'string' },
} as const;

export interface ConnectValues {
  relay?: string | undefined;
  token?: string | undefined;
  transport?: string | undefined;
  state?: string | undefined;
}

/** Where to connect and how to authenticate, from the options alone (no I/O). */
export function connectPlan(values: ConnectValues): {
  relays: string[] | undefined;
  token: string | undefined;
  transport: Transport;
  stateDir: string | undefined;
} {
  const stateDir = values.state === '' ? undefined : values.state;
  if (stateDir === undefined) {
    if (values.relay === undefined) throw usage('missing --relay URL[,URL…] (or --state DIR)');
    if (values.token === undefined || values.token === '')
      throw usage('missing --token (or --state DIR)');
  }
  let relays: string[] | undefined;
  if (values.relay !== undefined) {
    try {
      relays = parseRelayList(values.relay);
    } catch (error) {
      throw usage((error as Error).message);
    }
  }
  const transport = values.transport ?? 'auto';
  if (!['auto', 'websocket', 'long-poll'].includes(transport)) {
    throw usage('--transport must be auto, websocket or long-poll');
  }
  return {
    relays,
    token: values.token === '' ? undefined : values.token,
    transport: transport as Transport,
    stateDir,
  };
}

export function clientFrom(
  values: ConnectValues,
  extra: Partial<GroveClientOptions> = {},
): GroveClient {
  const plan = connectPlan(values);
  if (plan.relays === undefined || plan.token === undefined)
    throw usage('missing --relay and --token');
  return new GroveClient({
    relays: plan.relays,
    token: plan.token,
    transport: plan.transport,
    ...extra,
  });
}

/**
 * A client from `--relay/--token`, or from an enrolled device's `--state DIR` (relays from the
 * state, tokens refreshed through the Manager; explicit --relay/--token still win). The first
 * token is fetched here, so a Manager refusal fails the command at once.
 */
export async function connectClient(
  values: ConnectValues,
  extra: Partial<GroveClientOptions> = {},
): Promise<{ client: GroveClient; session: StateSession | undefined }> {
  const plan = connectPlan(values);
  if (plan.stateDir === undefined) return { client: clientFrom(values, extra), session: undefined };
  const session = await StateSession.open(plan.stateDir);
  let relays = plan.relays;
  if (plan.token === undefined) {
    try {
      await session.token();
    } catch (error) {
      throw cliErrorFromManager(error);
    }
  }
  relays ??= session.current.relays;
  if (relays.length === 0)
    throw usage(`${plan.stateDir} lists no relay URLs for this device: pass --relay URL`);
  const client = new GroveClient({
    relays,
    token: plan.token ?? session.provider(),
    transport: plan.transport,
    ...extra,
  });
  client.on('disconnected', (closed: LinkClosed) => {
    // The relay's clock says the token expired: get a new one even if ours says it is fresh.
    if (closed.code === CloseCode.authExpired) session.invalidate();
  });
  return { client, session };
}

/** `--data TEXT` or `--data @FILE`. */
export async function readData(value: string): Promise<Buffer> {
  if (value.startsWith('@')) {
    try {
      return await readFile(value.slice(1));
    } catch (error) {
      throw usage(`cannot read ${value.slice(1)}: ${(error as Error).message}`);
    }
  }
  return Buffer.from(value, 'utf8');
}

/** Text when the bytes are valid UTF-8 (and round-trip), base64 otherwise. */
export function encodeData(data: Buffer): { data: string; encoding?: 'base64' } {
  const text = data.toString('utf8');
  if (Buffer.from(text, 'utf8').equals(data)) return { data: text };
  return { data: data.toString('base64'), encoding: 'base64' };
}
