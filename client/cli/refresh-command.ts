import { parseArgs } from 'node:util';
import { parseRelayList } from '../sdk/relay-urls.js';
import { required, usage } from './cli-error.js';
import { effectiveRelays } from './device-state.js';
import { relaysUpdatedLine } from './connect-options.js';
import { StateSession, cliErrorFromManager, type RelaysUpdated } from './state-session.js';
import { loadCa, trustProcessWide } from './trust.js';

/**
 * `grove refresh --state DIR`: a new relay token and the domain's current relay list from the
 * Manager, saved to DIR/device.json now (instead of at the next token expiry). Prints
 * `{"relays","relayOverride"?,"using","tokenExpiresAt","changed"}`: `using` is what client
 * commands connect to, `changed` whether that moved. `--relay-override URL,…` sets the user's own
 * list (kept across refreshes, used instead of the Manager's), `--clear-relay-override` drops it.
 */
export async function refreshCommand(
  args: string[],
  out: (line: string) => void,
  err: (line: string) => void = () => undefined,
): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      state: { type: 'string' },
      ca: { type: 'string' },
      'relay-override': { type: 'string' },
      'clear-relay-override': { type: 'boolean', default: false },
    },
    strict: true,
  });
  required(values, ['state']);
  const override = values['relay-override'];
  if (override !== undefined && values['clear-relay-override'])
    throw usage('give --relay-override or --clear-relay-override, not both');
  let relays: string[] | undefined;
  if (override !== undefined) {
    try {
      relays = parseRelayList(override);
    } catch (error) {
      throw usage(`--relay-override: ${(error as Error).message}`);
    }
  }
  const ca = await loadCa(values.ca);
  if (ca !== undefined) trustProcessWide(ca);
  const dir = values.state ?? '';
  const session = await StateSession.open(dir);
  const before = session.relays;
  session.on('relays-updated', (updated: RelaysUpdated) => err(relaysUpdatedLine(updated)));
  if (relays !== undefined) await session.setRelayOverride(relays);
  if (values['clear-relay-override']) await session.setRelayOverride([]);
  try {
    await session.refreshRelays();
  } catch (error) {
    throw cliErrorFromManager(error);
  }
  const state = session.current;
  const using = effectiveRelays(state);
  out(
    JSON.stringify({
      relays: state.relays,
      ...(state.relayOverride === undefined ? {} : { relayOverride: state.relayOverride }),
      using,
      tokenExpiresAt: state.tokenExpiresAt,
      changed: using.length !== before.length || using.some((url, i) => url !== before[i]),
    }),
  );
}
