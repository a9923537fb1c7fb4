import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { CliError, ExitCode, required, usage } from './cli-error.js';
import { generateDeviceKey, stateExists, stateFile, writeDeviceState } from './device-state.js';
import { ManagerClient } from './manager-client.js';
import { cliErrorFromManager } from './state-session.js';
import { loadCa, trustProcessWide } from './trust.js';

export interface EnrollOptions {
  managerUrl: string;
  code: string;
  stateDir: string;
  deviceName: string;
  force: boolean;
  /** --ca FILE: a CA to trust for an https:// Manager (GROVE_CA otherwise). */
  ca?: string;
}

/** The options of `grove enroll`, checked (no I/O). */
export function parseEnrollArgs(args: string[], defaultName: string = hostname()): EnrollOptions {
  const { values } = parseArgs({
    args,
    options: {
      manager: { type: 'string' },
      code: { type: 'string' },
      state: { type: 'string' },
      name: { type: 'string' },
      force: { type: 'boolean', default: false },
      ca: { type: 'string' },
    },
    strict: true,
  });
  required(values, ['manager', 'code', 'state']);
  const { manager = '', code = '', state = '' } = values;
  let url: URL;
  try {
    url = new URL(manager);
  } catch {
    throw usage(`--manager "${manager}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw usage(`--manager "${manager}" must be an http:// or https:// URL`);
  if (!/^[a-z0-9-]+\.\S+$/.test(code.trim()))
    throw usage('--code must be an activation code like DOMAIN.SECRET');
  const deviceName = (values.name ?? defaultName).trim().slice(0, 256) || 'device';
  return {
    managerUrl: manager.replace(/\/+$/, ''),
    code: code.trim(),
    stateDir: state,
    deviceName,
    force: values.force,
    ...(values.ca === undefined ? {} : { ca: values.ca }),
  };
}

/**
 * `grove enroll`: creates the device's Ed25519 key, redeems the activation code at the Manager,
 * keeps key, token and relays in DIR/device.json (0600), prints
 * `{"deviceId","identityId","domain","relays"}`.
 */
export async function enrollCommand(args: string[], out: (line: string) => void): Promise<void> {
  const options = parseEnrollArgs(args);
  if (!options.force && (await stateExists(options.stateDir))) {
    throw new CliError(
      'ALREADY_ENROLLED',
      `${stateFile(options.stateDir)} already holds an enrolled device; use another --state DIR, or --force to replace it`,
      ExitCode.usage,
    );
  }
  const ca = await loadCa(options.ca);
  if (ca !== undefined) trustProcessWide(ca);
  const key = generateDeviceKey();
  const manager = new ManagerClient(options.managerUrl);
  let enrolled;
  try {
    enrolled = await manager.enroll({
      code: options.code,
      publicKey: key.publicJwk.x,
      deviceName: options.deviceName,
    });
  } catch (error) {
    throw cliErrorFromManager(error);
  }
  await writeDeviceState(options.stateDir, {
    managerUrl: options.managerUrl,
    domain: enrolled.domain,
    deviceId: enrolled.deviceId,
    identityId: enrolled.identityId,
    relays: enrolled.relays,
    ...(enrolled.pools === undefined ? {} : { pools: enrolled.pools }),
    privateJwk: key.privateJwk,
    publicJwk: key.publicJwk,
    token: enrolled.token,
    tokenExpiresAt: enrolled.tokenExpiresAt,
  });
  out(
    JSON.stringify({
      deviceId: enrolled.deviceId,
      identityId: enrolled.identityId,
      domain: enrolled.domain,
      relays: enrolled.relays,
    }),
  );
}
