import { describe, expect, it } from '@jest/globals';
import {
  auditStreamKey,
  deviceKeys,
  directoryKeys,
  domainKeyPatterns,
  domainOfDirectoryChannel,
  globalKeys,
  identityKeys,
  managerKeys,
  payloadKey,
  podKeys,
} from './keys.js';

/** Redis MATCH semantics for the only glob character the patterns use. */
function matches(pattern: string, key: string): boolean {
  const source = pattern
    .split('*')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${source}$`).test(key);
}

function keysOf(domain: string): string[] {
  const manager = managerKeys(domain);
  return [
    ...Object.values(deviceKeys(domain, 'laptop')),
    ...Object.values(identityKeys(domain, 'alice')),
    ...Object.values(directoryKeys(domain)),
    payloadKey(domain, 'laptop', '01J0000000000000000000000'),
    ...Object.values(manager).filter((key): key is string => typeof key === 'string'),
    manager.nonce('laptop', 'abc'),
  ];
}

describe('domainKeyPatterns', () => {
  it('match every key of the domain', () => {
    const patterns = domainKeyPatterns('gone');
    for (const key of keysOf('gone')) {
      expect([key, patterns.some((pattern) => matches(pattern, key))]).toEqual([key, true]);
    }
  });

  it('match no key of another domain, even one the name is a prefix of, nor global keys', () => {
    const patterns = domainKeyPatterns('gone');
    const others = [
      ...keysOf('gone-too'),
      ...keysOf('kept'),
      ...Object.values(globalKeys),
      podKeys.pods,
      podKeys.conns('relay-0'),
    ];
    for (const key of others) {
      expect([key, patterns.some((pattern) => matches(pattern, key))]).toEqual([key, false]);
    }
  });
});

describe('domainOfDirectoryChannel', () => {
  it('reads the domain back out of its directory channel', () => {
    for (const domain of ['acme', 'a', 'gone-too', 'x.y']) {
      expect(domainOfDirectoryChannel(directoryKeys(domain).channel)).toBe(domain);
    }
  });

  it('is undefined for every other channel', () => {
    for (const channel of [
      deviceKeys('acme', 'laptop').channel,
      identityKeys('acme', 'alice').channel,
      directoryKeys('acme').devices,
      'changed',
    ]) {
      expect(domainOfDirectoryChannel(channel)).toBeUndefined();
    }
  });
});

describe('key layout', () => {
  it('puts every key of a device, an identity and a domain in one hash slot each', () => {
    const tagOf = (key: string) => /\{[^}]*\}/.exec(key)?.[0];
    const groups = [
      Object.values(deviceKeys('acme', 'laptop')),
      Object.values(identityKeys('acme', 'alice')),
      [
        ...keysOf('acme').filter((key) => key.includes('{dir:')),
        auditStreamKey('acme'),
        auditStreamKey('acme', true),
      ],
    ];
    for (const group of groups) expect(new Set(group.map(tagOf)).size).toBe(1);
  });

  it('keeps the audit stream of no domain among the global keys', () => {
    expect(auditStreamKey(undefined)).toBe(globalKeys.audit);
    expect(auditStreamKey(undefined, true)).toBe(globalKeys.auditFailures);
  });
});
