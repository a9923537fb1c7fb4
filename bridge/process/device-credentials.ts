import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { signChallenge, TOKEN_MARGIN_MS } from '../../client/cli/device-state.js';
import { ManagerClient } from '../../client/cli/manager-client.js';
import { dnsLabelSchema, idSchema } from '../../crds/common.js';

/** The bridge's key file cannot be used: missing, unreadable or not a device key. */
export class CredentialsError extends Error {
  constructor(
    readonly code: 'CREDENTIALS_MISSING' | 'CREDENTIALS_INVALID',
    message: string,
  ) {
    super(message);
    this.name = 'CredentialsError';
  }
}

const base64url43 = z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be base64url');

/**
 * The bridge device's key file (a Secret mounted read-only): where it enrolled and its Ed25519
 * private key. A `device.json` of `grove enroll` is one too (other fields are ignored).
 */
export const deviceKeySchema = z.looseObject({
  managerUrl: z.url({ protocol: /^https?$/ }),
  domain: dnsLabelSchema,
  deviceId: idSchema,
  identityId: idSchema,
  privateJwk: z.looseObject({
    kty: z.literal('OKP'),
    crv: z.literal('Ed25519'),
    x: base64url43,
    d: base64url43,
  }),
});
export type DeviceKey = z.infer<typeof deviceKeySchema>;

export async function readDeviceKey(file: string): Promise<DeviceKey> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new CredentialsError(
      'CREDENTIALS_MISSING',
      `cannot read the bridge's device key ${file}: ${(error as Error).message}`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new CredentialsError('CREDENTIALS_INVALID', `${file} is not JSON`);
  }
  const parsed = deviceKeySchema.safeParse(json);
  if (!parsed.success) {
    throw new CredentialsError(
      'CREDENTIALS_INVALID',
      `${file} is not a device key: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  return parsed.data;
}

/**
 * Relay tokens for the bridge device, from the Manager (a signed challenge, POST /v1/token),
 * kept in memory only: the key file is never written. Also keeps the Manager's relay list.
 */
export class BridgeTokens {
  private token: { value: string; expiresAt: number } | undefined;
  private refreshing: Promise<string> | undefined;
  private relayList: string[] = [];

  constructor(
    readonly key: DeviceKey,
    private readonly manager: ManagerClient = new ManagerClient(key.managerUrl),
    private readonly now: () => Date = () => new Date(),
  ) {}

  get relays(): string[] {
    return [...this.relayList];
  }

  /** A token with more than a minute left, fetched when needed (one fetch for concurrent callers). */
  async current(force = false): Promise<string> {
    const held = this.token;
    if (!force && held !== undefined && held.expiresAt - this.now().getTime() > TOKEN_MARGIN_MS)
      return held.value;
    this.refreshing ??= this.refresh().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async refresh(): Promise<string> {
    const answer = await this.manager.token(signChallenge(this.key, this.now()));
    this.token = { value: answer.token, expiresAt: Date.parse(answer.expiresAt) };
    if (answer.relays.length > 0) this.relayList = [...answer.relays];
    return answer.token;
  }
}
