import { readFile } from 'node:fs/promises';
import {
  GroveClient,
  type ConnectFailure,
  type GroveClientOptions,
  type Transport,
} from '../sdk/grove-client.js';
import { parseRelayList } from '../sdk/relay-urls.js';
import { CloseCode } from '../../contracts/errors/close-codes.js';
import type { LinkClosed } from '../sdk/link.js';
import { CliError, ExitCode, usage } from './cli-error.js';
import { describeConnectFailure, describeConnectFailures } from './relay-diagnosis.js';
import { StateSession, cliErrorFromManager, type RelaysUpdated } from './state-session.js';
import { loadCa, trustProcessWide } from './trust.js';

/** Options every client command shares. */
export const connectOptions = {
  relay: { type: 'string' },
  token: { type: 'string' },
  transport: { type: 'string' },
  state: { type: 'string' },
  ca: { type: 'string' },
} as const;

export interface ConnectValues {
  relay?: string | undefined;
  token?: string | undefined;
  transport?: string | undefined;
  state?: string | undefined;
  ca?: string | undefined;
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
 * token is fetched here, so a Manager refusal fails the command at once. With the state and no
 * --relay, the relay list follows the Manager: every token refresh brings it, and a failed
 * connect attempt asks for it (at most every 30 s). `--ca FILE` (or GROVE_CA) adds a
 * certificate authority for wss:// and https:// relays and the Manager.
 */
export async function connectClient(
  values: ConnectValues,
  extra: Partial<GroveClientOptions> = {},
): Promise<{ client: GroveClient; session: StateSession | undefined }> {
  const plan = connectPlan(values);
  const ca = await loadCa(values.ca);
  if (ca !== undefined) trustProcessWide(ca);
  const withCa = { ...(ca === undefined ? {} : { ca }), ...extra };
  if (plan.stateDir === undefined)
    return { client: clientFrom(values, withCa), session: undefined };
  const session = await StateSession.open(plan.stateDir);
  if (plan.token === undefined) {
    try {
      await session.token();
    } catch (error) {
      throw cliErrorFromManager(error);
    }
  }
  const relays = plan.relays ?? session.relays;
  if (relays.length === 0)
    throw usage(`${plan.stateDir} lists no relay URLs for this device: pass --relay URL`);
  const followManager = plan.relays === undefined;
  const pools = followManager ? session.pools : undefined;
  const client = new GroveClient({
    relays,
    // The Manager's pools, home first: failover between them and back (docs/sdk.md).
    ...(pools === undefined ? {} : { pools }),
    token: plan.token ?? session.provider(),
    transport: plan.transport,
    ...(followManager ? { refreshRelays: () => session.refreshRelays() } : {}),
    ...withCa,
  });
  if (followManager) {
    session.on('relays', (list: string[]) => {
      // An empty or invalid list from the Manager keeps the current one.
      if (list.length > 0) {
        try {
          client.setRelays(list);
        } catch {
          // kept
        }
      }
    });
    session.on('pools', (next: string[][]) => {
      try {
        client.setPools(next);
      } catch {
        // kept
      }
    });
  }
  client.on('disconnected', (closed: LinkClosed) => {
    // The relay's clock says the token expired: get a new one even if ours says it is fresh.
    if (closed.code === CloseCode.authExpired) session.invalidate();
  });
  return { client, session };
}

/**
 * Reports on stderr (one JSON line each) what a user needs to know while a command runs: a
 * relay that cannot be reached (at its 1st, 2nd, 4th, 8th… failed attempt), and a new relay
 * list from the Manager saved to device.json (replacing whatever `relays` held, hand edits too).
 */
export function reportConnectEvents(
  client: GroveClient,
  session: StateSession | undefined,
  err: (line: string) => void,
): void {
  client.on('connect-failed', (failure: ConnectFailure) => {
    if ((failure.attempts & (failure.attempts - 1)) !== 0) return;
    err(
      JSON.stringify({
        event: 'unreachable',
        relay: failure.relay,
        attempts: failure.attempts,
        ...(failure.errorCode === undefined ? {} : { code: failure.errorCode }),
        message: `${describeConnectFailure(failure)}; still trying`,
      }),
    );
  });
  session?.on('relays-updated', (updated: RelaysUpdated) => err(relaysUpdatedLine(updated)));
}

/** The stderr line of a relay list saved to device.json. */
export function relaysUpdatedLine(updated: RelaysUpdated): string {
  return JSON.stringify({
    event: 'relays-updated',
    ...updated,
    message:
      `relays in ${updated.file} are the Manager's list, saved at every token refresh: ` +
      `${updated.previous.join(',') || '(none)'} → ${updated.relays.join(',') || '(none)'}; ` +
      'put relays of your own in relayOverride (grove refresh --relay-override URL,…)',
  });
}

/**
 * The error of a command that ran out of time: RELAY_UNREACHABLE (with why, per relay) when no
 * relay ever welcomed it, else `fallback` with what is still failing added.
 */
export function timeoutError(
  client: GroveClient,
  unreachable: { lead: string; advice?: string },
  fallback: CliError,
  fields: Record<string, unknown> = {},
): CliError {
  const failures = describeConnectFailures(client.connectFailures);
  if (!client.everConnected) {
    const why =
      failures ??
      (client.tokenError === undefined
        ? 'no relay answered'
        : `no relay token: ${client.tokenError}`);
    const advice = unreachable.advice === undefined ? '' : `; ${unreachable.advice}`;
    return new CliError(
      'RELAY_UNREACHABLE',
      `${unreachable.lead}: ${why}${advice}`,
      ExitCode.timeout,
      fields,
    );
  }
  return new CliError(
    fallback.code,
    failures === undefined
      ? fallback.message
      : `${fallback.message} (reconnecting meanwhile: ${failures})`,
    fallback.exitCode,
    { ...fallback.fields, ...fields },
  );
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
