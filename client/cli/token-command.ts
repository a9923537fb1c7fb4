import { parseArgs } from 'node:util';
import { idPattern } from '../../crds/common.js';
import { loadLocalConfig } from '../../local/config.js';
import { loadOrCreateDomainKeys } from '../../local/domain-keys.js';
import { issueDeviceToken } from '../../contracts/auth/device-token.js';
import { CliError, positiveSeconds, required, usage } from './cli-error.js';

/** `grove token issue`: a device token signed with the domain's key from the local config. */
export async function tokenCommand(args: string[], out: (line: string) => void): Promise<void> {
  const [sub, ...rest] = args;
  if (sub !== 'issue')
    throw usage(
      'usage: grove token issue --config FILE --domain D --identity I --device X [--ttl SECONDS] [--raw]',
    );
  const { values } = parseArgs({
    args: rest,
    options: {
      config: { type: 'string' },
      domain: { type: 'string' },
      identity: { type: 'string' },
      device: { type: 'string' },
      ttl: { type: 'string' },
      raw: { type: 'boolean', default: false },
    },
    strict: true,
  });
  required(values, ['config', 'domain', 'identity', 'device']);
  const { config: file = '', domain = '', identity = '', device = '' } = values;
  for (const [name, value] of [
    ['identity', identity],
    ['device', device],
  ] as const) {
    if (!idPattern.test(value))
      throw usage(`--${name} "${value}" is not a valid id (${idPattern.source})`);
  }
  const config = await loadLocalConfig(file);
  const domainResource = config.domains.find((d) => d.metadata.name === domain);
  if (domainResource === undefined) {
    const known = config.domains.map((d) => d.metadata.name).join(', ');
    throw new CliError('UNKNOWN_DOMAIN', `domain "${domain}" is not in ${file} (known: ${known})`);
  }
  const seed = config.stack.spec.seed.find((s) => s.domain === domain);
  const member = seed?.members.find((m) => m.identity === identity);
  if (seed !== undefined && (member === undefined || !member.devices.includes(device))) {
    throw new CliError(
      'UNKNOWN_DEVICE',
      `device "${device}" of identity "${identity}" is not seeded in domain "${domain}" in ${file}; the relay would refuse it`,
    );
  }
  const ttl = positiveSeconds(values.ttl, 'ttl') ?? domainResource.spec.tokenTTLSeconds;
  const keys = await loadOrCreateDomainKeys(config.stack.spec.dataDir, domain);
  const key = keys[keys.length - 1];
  if (key === undefined) throw new CliError('NO_KEY', `domain "${domain}" has no signing key`);
  const token = await issueDeviceToken(key, { domain, identity, device }, Math.floor(ttl));
  if (values.raw) out(token);
  else out(JSON.stringify({ token, domain, identity, device, expiresIn: Math.floor(ttl) }));
}
