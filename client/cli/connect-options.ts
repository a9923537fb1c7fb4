import { readFile } from 'node:fs/promises';
import { GroveClient, type GroveClientOptions, type Transport } from '../sdk/grove-client.js';
import { parseRelayList } from '../sdk/relay-urls.js';
import { usage } from './cli-error.js';

/** Options every client command shares. */
export const connectOptions = {
  relay: { type: 'string' },
  token: { type: 'string' },
  transport: { type: 'string' },
} as const;

export function clientFrom(
  values: {
    relay?: string | undefined;
    token?: string | undefined;
    transport?: string | undefined;
  },
  extra: Partial<GroveClientOptions> = {},
): GroveClient {
  if (values.relay === undefined) throw usage('missing --relay URL[,URL…]');
  if (values.token === undefined || values.token === '') throw usage('missing --token');
  let relays: string[];
  try {
    relays = parseRelayList(values.relay);
  } catch (error) {
    throw usage((error as Error).message);
  }
  const transport = values.transport ?? 'auto';
  if (!['auto', 'websocket', 'long-poll'].includes(transport)) {
    throw usage('--transport must be auto, websocket or long-poll');
  }
  return new GroveClient({
    relays,
    token: values.token,
    transport: transport as Transport,
    ...extra,
  });
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
