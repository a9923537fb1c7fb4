/**
 * Where each archive file lives inside a store (a folder or a bucket prefix):
 *
 *     <domain>/root.grove                               the domain's KDF parameters (one password)
 *     <domain>/<workspace>/manifest/<number>.grove      manifest versions (the newest counts)
 *     <domain>/<workspace>/segments/<number>.grove      sealed segments
 *     <domain>/<workspace>/open/<number>.grove          chunks of the segment being written
 *
 * Numbers are 12 zero-padded digits, so a listing in key order is in number order.
 */

const DIGITS = 12;

export function padNumber(value: number): string {
  return value.toString().padStart(DIGITS, '0');
}

export const rootKey = (domain: string): string => `${domain}/root.grove`;
export const workspacePrefix = (domain: string, workspace: string): string =>
  `${domain}/${workspace}/`;
export const manifestPrefix = (domain: string, workspace: string): string =>
  `${domain}/${workspace}/manifest/`;
export const segmentPrefix = (domain: string, workspace: string): string =>
  `${domain}/${workspace}/segments/`;
export const chunkPrefix = (domain: string, workspace: string): string =>
  `${domain}/${workspace}/open/`;

export const manifestKey = (domain: string, workspace: string, number: number): string =>
  `${manifestPrefix(domain, workspace)}${padNumber(number)}.grove`;
export const segmentKey = (domain: string, workspace: string, number: number): string =>
  `${segmentPrefix(domain, workspace)}${padNumber(number)}.grove`;
export const chunkKey = (domain: string, workspace: string, number: number): string =>
  `${chunkPrefix(domain, workspace)}${padNumber(number)}.grove`;

/** The number in a key made by the functions above, or undefined for any other key. */
export function numberOfKey(key: string, prefix: string): number | undefined {
  if (!key.startsWith(prefix)) return undefined;
  const match = new RegExp(`^(\\d{${DIGITS}})\\.grove$`).exec(key.slice(prefix.length));
  return match?.[1] === undefined ? undefined : Number(match[1]);
}
