import { createPrivateKey, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { chmod, mkdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { dnsLabelSchema, idSchema } from '../../crds/common.js';
import { tokenChallengeText } from '../../contracts/auth/token-challenge.js';
import { relayEndpoints } from '../sdk/relay-urls.js';
import { CliError, ExitCode } from './cli-error.js';

/**
 * What `grove enroll` keeps in its state directory (DIR/device.json, mode 0600): the device's
 * Ed25519 key, where it enrolled, and the last relay token. Client commands given `--state DIR`
 * read it, and refresh the token through the Manager when it is about to expire.
 *
 * Who owns which field: `relays` belongs to the Manager (replaced at every token refresh);
 * `relayOverride` belongs to the user (the CLI never changes it, except `grove refresh
 * --relay-override`) and wins over `relays`; fields the CLI does not know are kept as they are.
 */

const base64url = (length: number) =>
  z.string().regex(new RegExp(`^[A-Za-z0-9_-]{${String(length)}}$`), 'must be base64url');

const publicJwkSchema = z.object({
  kty: z.literal('OKP'),
  crv: z.literal('Ed25519'),
  x: base64url(43),
});

const relayUrl = z
  .string()
  .min(1)
  .superRefine((value, ctx) => {
    try {
      relayEndpoints(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
    }
  });

// Loose: fields a user or a newer CLI added are written back as they were read.
export const deviceStateSchema = z.looseObject({
  managerUrl: z.url({ protocol: /^https?$/ }),
  domain: dnsLabelSchema,
  deviceId: idSchema,
  identityId: idSchema,
  relays: z.array(z.string().min(1)),
  /** The Manager's `relays` grouped by pool, home first: the SDK fails over between pools. */
  pools: z
    .array(z.array(z.string().min(1)).max(64))
    .max(16)
    .optional(),
  /** Relay URLs the user set; used instead of `relays` when non-empty, never refreshed. */
  relayOverride: z.array(relayUrl).optional(),
  privateJwk: publicJwkSchema.extend({ d: base64url(43) }),
  publicJwk: publicJwkSchema,
  token: z.string().min(1),
  tokenExpiresAt: z.iso.datetime({ offset: true }),
});
export type DeviceState = z.infer<typeof deviceStateSchema>;

/**
 * The Manager's pools when the device follows the Manager (no relayOverride) and they hold
 * exactly its relay list; undefined otherwise (one list, as before).
 */
export function effectivePools(
  state: Pick<DeviceState, 'relays' | 'relayOverride' | 'pools'>,
): string[][] | undefined {
  if ((state.relayOverride ?? []).length > 0 || state.pools === undefined) return undefined;
  const pools = state.pools.filter((pool) => pool.length > 0);
  const flat = [...new Set(pools.flat())];
  const same = flat.length === state.relays.length && flat.every((r, i) => r === state.relays[i]);
  return pools.length > 1 && same ? pools.map((pool) => [...pool]) : undefined;
}

/** The relays a device connects to: its relayOverride when set, else the Manager's list. */
export function effectiveRelays(state: Pick<DeviceState, 'relays' | 'relayOverride'>): string[] {
  const override = state.relayOverride ?? [];
  return override.length > 0 ? [...override] : [...state.relays];
}

export const STATE_FILE = 'device.json';

export function stateFile(dir: string): string {
  return join(dir, STATE_FILE);
}

/** Validates the text of a state file; the error names the file and what is wrong. */
export function parseDeviceState(text: string, file: string): DeviceState {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new CliError('STATE_INVALID', `${file} is not valid JSON: ${(error as Error).message}`);
  }
  const result = deviceStateSchema.safeParse(json);
  if (!result.success) {
    const problems = result.error.issues
      .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
      .join('; ');
    throw new CliError('STATE_INVALID', `${file} is not a device state: ${problems}`);
  }
  return result.data;
}

export async function readDeviceState(dir: string): Promise<DeviceState> {
  const file = stateFile(dir);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new CliError(
        'NOT_ENROLLED',
        `${file} does not exist: enroll first with grove enroll --manager URL --code CODE --state ${dir}`,
        ExitCode.usage,
      );
    }
    throw new CliError('STATE_UNREADABLE', `cannot read ${file}: ${(error as Error).message}`);
  }
  return parseDeviceState(text, file);
}

export async function stateExists(dir: string): Promise<boolean> {
  try {
    await stat(stateFile(dir));
    return true;
  } catch {
    return false;
  }
}

/**
 * Writes the state atomically (a temporary file in the same directory, then rename), so a
 * reader never sees half a file; the directory is 0700 and the file 0600: it holds the key.
 */
export async function writeDeviceState(dir: string, state: DeviceState): Promise<void> {
  // A directory created here is 0700; an existing one (say, the user's home) is left as it is.
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = stateFile(dir);
  const temp = join(
    dir,
    `.${STATE_FILE}.${process.pid.toString()}.${randomBytes(4).toString('hex')}`,
  );
  try {
    await writeFile(temp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    await chmod(temp, 0o600);
    await rename(temp, file);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw new CliError('STATE_UNWRITABLE', `cannot write ${file}: ${(error as Error).message}`);
  }
}

export interface DeviceKeyPair {
  privateJwk: DeviceState['privateJwk'];
  publicJwk: DeviceState['publicJwk'];
}

export function generateDeviceKey(): DeviceKeyPair {
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  const privateJwk = publicJwkSchema.extend({ d: base64url(43) }).parse(jwk);
  return { privateJwk, publicJwk: { kty: 'OKP', crv: 'Ed25519', x: privateJwk.x } };
}

/** The exact text a device signs to get a token (docs/manager-api.md, POST /v1/token). */
export const challengeString = tokenChallengeText;

export interface SignedChallenge {
  domain: string;
  deviceId: string;
  timestamp: string;
  nonce: string;
  signature: string;
}

/** A fresh token request: RFC 3339 timestamp, a random nonce (used once), Ed25519 signature. */
export function signChallenge(
  state: Pick<DeviceState, 'domain' | 'deviceId' | 'privateJwk'>,
  now: Date,
  nonce: string = randomBytes(18).toString('base64url'),
): SignedChallenge {
  const challenge = {
    domain: state.domain,
    deviceId: state.deviceId,
    timestamp: now.toISOString(),
    nonce,
  };
  const key = createPrivateKey({ key: state.privateJwk, format: 'jwk' });
  const signature = sign(null, Buffer.from(challengeString(challenge), 'utf8'), key);
  return { ...challenge, signature: signature.toString('base64url') };
}

/** Tokens with less than this left are refreshed before use: a connect must not race expiry. */
export const TOKEN_MARGIN_MS = 60_000;

export function tokenIsFresh(
  state: Pick<DeviceState, 'tokenExpiresAt'>,
  now: Date,
  marginMs = TOKEN_MARGIN_MS,
): boolean {
  return Date.parse(state.tokenExpiresAt) - now.getTime() > marginMs;
}
