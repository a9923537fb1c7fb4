import type { AddressInfo } from 'node:net';
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';

/** Where a server really listens, for its "listening" log line. */
export interface ListenAddresses {
  /** The bound socket address, e.g. "0.0.0.0:8443" or "[::]:8443". */
  address: string;
  /** Whether it listens on every interface (0.0.0.0 or ::). */
  allInterfaces: boolean;
  /** One URL per address it can be reached at on this host, e.g. "ws://10.244.0.7:8443". */
  urls: string[];
}

const hostPart = (host: string) => (host.includes(':') ? `[${host}]` : host);

/**
 * The addresses a server bound to `bound` answers on. A wildcard bind (0.0.0.0, ::) is
 * expanded to the host's interface addresses (IPv4 only for 0.0.0.0; both for a dual-stack ::),
 * link-local IPv6 left out (unusable without a zone); any other bind is itself.
 */
export function listenAddresses(
  bound: AddressInfo,
  scheme: string,
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces(),
): ListenAddresses {
  const address = `${hostPart(bound.address)}:${bound.port}`;
  const allInterfaces = bound.address === '0.0.0.0' || bound.address === '::';
  const hosts = allInterfaces
    ? Object.values(interfaces)
        .flatMap((list) => list ?? [])
        .filter((info) => bound.address === '::' || info.family === 'IPv4')
        .filter((info) => !(info.family === 'IPv6' && info.address.startsWith('fe80:')))
        .map((info) => info.address)
    : [bound.address];
  return {
    address,
    allInterfaces,
    urls: [...new Set(hosts)].map((host) => `${scheme}://${hostPart(host)}:${bound.port}`),
  };
}
