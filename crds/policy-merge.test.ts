import { describe, it, expect } from '@jest/globals';
import type { Domain } from './domain.js';
import type { Policy, PolicyRelay } from './policy.js';
import { effectiveRelayLimits, policiesForDomain } from './policy-merge.js';
import { DEFAULT_RELAY_LIMITS } from './relay-limits.js';
import { domainSchema } from './domain.js';
import { policySchema } from './policy.js';

function domain(
  labels?: Record<string, string>,
  policySelector?: Domain['spec']['policySelector'],
  namespace?: string,
): Domain {
  return domainSchema.parse({
    apiVersion: 'grove.dev/v1alpha1',
    kind: 'Domain',
    metadata: { name: 'example', labels, namespace },
    spec: { relayPools: ['local'], policySelector },
  });
}

function policy(
  name: string,
  opts: {
    priority?: number;
    relay?: PolicyRelay;
    labels?: Record<string, string>;
    domainSelector?: Policy['spec']['domainSelector'];
    namespace?: string;
  } = {},
): Policy {
  return policySchema.parse({
    apiVersion: 'grove.dev/v1alpha1',
    kind: 'Policy',
    metadata: { name, labels: opts.labels, namespace: opts.namespace },
    spec: { priority: opts.priority, relay: opts.relay, domainSelector: opts.domainSelector },
  });
}

const names = (policies: Policy[]): string[] => policies.map((p) => p.metadata.name);

describe('policies for a domain', () => {
  it('includes a policy whose domainSelector matches the domain labels', () => {
    const d = domain({ tier: 'gold' });
    const ps = [
      policy('gold', { domainSelector: { matchLabels: { tier: 'gold' } } }),
      policy('silver', { domainSelector: { matchLabels: { tier: 'silver' } } }),
    ];
    expect(names(policiesForDomain(d, ps))).toEqual(['gold']);
  });

  it('includes a policy that the domain policySelector selects by its labels', () => {
    const d = domain({}, { matchLabels: { bundle: 'strict' } });
    const ps = [
      policy('strict', { labels: { bundle: 'strict' } }),
      policy('other', { labels: {} }),
    ];
    expect(names(policiesForDomain(d, ps))).toEqual(['strict']);
  });

  it('lets an empty domainSelector apply a policy to every domain', () => {
    expect(names(policiesForDomain(domain(), [policy('all', { domainSelector: {} })]))).toEqual([
      'all',
    ]);
  });

  it('applies no policy when neither side has a selector', () => {
    expect(
      policiesForDomain(domain({ tier: 'gold' }), [policy('p', { labels: { tier: 'gold' } })]),
    ).toEqual([]);
  });

  it('lists a policy selected both ways once', () => {
    const d = domain({ tier: 'gold' }, {});
    expect(names(policiesForDomain(d, [policy('both', { domainSelector: {} })]))).toEqual(['both']);
  });

  it('ignores policies of another namespace', () => {
    const d = domain({}, undefined, 'team-a');
    const ps = [
      policy('here', { domainSelector: {}, namespace: 'team-a' }),
      policy('there', { domainSelector: {}, namespace: 'team-b' }),
    ];
    expect(names(policiesForDomain(d, ps))).toEqual(['here']);
  });

  it('orders the result by priority, then by name', () => {
    const ps = [
      policy('b', { domainSelector: {}, priority: 1 }),
      policy('z', { domainSelector: {}, priority: 5 }),
      policy('a', { domainSelector: {}, priority: 1 }),
    ];
    expect(names(policiesForDomain(domain(), ps))).toEqual(['z', 'a', 'b']);
  });
});

describe('effective relay limits', () => {
  it('uses the defaults when no policy applies', () => {
    expect(effectiveRelayLimits([])).toEqual(DEFAULT_RELAY_LIMITS);
  });

  it('takes a field set by a policy and defaults the rest', () => {
    const limits = effectiveRelayLimits([policy('p', { relay: { maxInFlight: 32 } })]);
    expect(limits).toEqual({ ...DEFAULT_RELAY_LIMITS, maxInFlight: 32 });
  });

  it('lets a higher-priority policy override a field', () => {
    const limits = effectiveRelayLimits([
      policy('base', { priority: 0, relay: { maxMessageBytes: 1000 } }),
      policy('vip', { priority: 10, relay: { maxMessageBytes: 5000 } }),
    ]);
    expect(limits.maxMessageBytes).toBe(5000);
  });

  it('keeps fields of a lower-priority policy that the higher one does not set', () => {
    const limits = effectiveRelayLimits([
      policy('vip', { priority: 10, relay: { maxMessageBytes: 5000 } }),
      policy('base', { priority: 0, relay: { maxMessageBytes: 1000, sendBurst: 9 } }),
    ]);
    expect(limits).toEqual({ ...DEFAULT_RELAY_LIMITS, maxMessageBytes: 5000, sendBurst: 9 });
  });

  it('breaks priority ties by policy name so input order does not matter', () => {
    const a = policy('alpha', { priority: 3, relay: { retentionSeconds: 600 } });
    const b = policy('beta', { priority: 3, relay: { retentionSeconds: 900 } });
    expect(effectiveRelayLimits([a, b]).retentionSeconds).toBe(600);
    expect(effectiveRelayLimits([b, a]).retentionSeconds).toBe(600);
  });

  it('ranks a negative priority below the default priority', () => {
    const limits = effectiveRelayLimits([
      policy('fallback', { priority: -1, relay: { sendRatePerSecond: 1 } }),
      policy('normal', { relay: { sendRatePerSecond: 50 } }),
    ]);
    expect(limits.sendRatePerSecond).toBe(50);
  });

  it('does not modify the defaults', () => {
    effectiveRelayLimits([policy('p', { relay: { maxInFlight: 1 } })]);
    expect(DEFAULT_RELAY_LIMITS.maxInFlight).toBe(256);
  });
});
