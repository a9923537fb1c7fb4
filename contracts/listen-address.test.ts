import { describe, expect, it } from '@jest/globals';
import type { NetworkInterfaceInfo } from 'node:os';
import { listenAddresses } from './listen-address.js';

const info = (address: string, family: 'IPv4' | 'IPv6'): NetworkInterfaceInfo =>
  ({
    address,
    family,
    netmask: '',
    mac: '',
    internal: false,
    cidr: null,
    ...(family === 'IPv6' ? { scopeid: 0 } : {}),
  }) as NetworkInterfaceInfo;

const interfaces = {
  lo: [info('127.0.0.1', 'IPv4'), info('::1', 'IPv6')],
  eth0: [info('10.244.0.7', 'IPv4'), info('fe80::1', 'IPv6'), info('fd00::7', 'IPv6')],
};

describe('listenAddresses', () => {
  it('expands 0.0.0.0 to every IPv4 address of the host', () => {
    expect(
      listenAddresses({ address: '0.0.0.0', family: 'IPv4', port: 8443 }, 'ws', interfaces),
    ).toEqual({
      address: '0.0.0.0:8443',
      allInterfaces: true,
      urls: ['ws://127.0.0.1:8443', 'ws://10.244.0.7:8443'],
    });
  });

  it('expands :: to IPv4 and IPv6 addresses, without link-local ones', () => {
    expect(
      listenAddresses({ address: '::', family: 'IPv6', port: 443 }, 'wss', interfaces).urls,
    ).toEqual([
      'wss://127.0.0.1:443',
      'wss://[::1]:443',
      'wss://10.244.0.7:443',
      'wss://[fd00::7]:443',
    ]);
  });

  it('reports a specific bind as it is', () => {
    expect(
      listenAddresses({ address: '127.0.0.1', family: 'IPv4', port: 9000 }, 'http', interfaces),
    ).toEqual({ address: '127.0.0.1:9000', allInterfaces: false, urls: ['http://127.0.0.1:9000'] });
  });
});
