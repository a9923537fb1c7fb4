import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { getCACertificates, setDefaultCACertificates } from 'node:tls';
import { usage } from './cli-error.js';

/**
 * `--ca FILE` (or GROVE_CA=FILE): PEM certificates of the authorities that signed the relays'
 * (and the Manager's) certificates, e.g. a private CA or cert-manager's self-signed issuer.
 * Undefined when neither is given.
 */
export async function loadCa(
  option: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Buffer | undefined> {
  const file = option ?? (env.GROVE_CA === '' ? undefined : env.GROVE_CA);
  if (file === undefined) return undefined;
  const from = option === undefined ? 'GROVE_CA' : '--ca';
  let pem: Buffer;
  try {
    pem = await readFile(file);
  } catch (error) {
    throw usage(`${from}: cannot read ${file}: ${(error as Error).message}`);
  }
  const blocks = pem
    .toString('utf8')
    .match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g);
  if (blocks === null) throw usage(`${from}: ${file} holds no PEM certificate`);
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch (error) {
      throw usage(`${from}: ${file} holds an invalid certificate: ${(error as Error).message}`);
    }
  }
  return pem;
}

/**
 * Trusts `ca` for every TLS connection this process makes, besides the default authorities:
 * the Manager's https:// URL (enroll, token refreshes) as well as the relays.
 */
export function trustProcessWide(ca: Buffer): void {
  const blocks =
    ca.toString('utf8').match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  setDefaultCACertificates([...getCACertificates('default'), ...blocks]);
}
