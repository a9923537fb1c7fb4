import { describe, expect, it } from '@jest/globals';
import type { Policy } from '../../crds/policy.js';
import { DEFAULT_RELAY_LIMITS } from '../../crds/relay-limits.js';
import { effectivePolicy } from './effective-policy.js';

const policy = (name: string, priority: number, spec: Partial<Policy['spec']>): Policy => ({
  apiVersion: 'grove.dev/v1alpha1',
  kind: 'Policy',
  metadata: { name },
  spec: { priority, ...spec },
});

describe('effective policy', () => {
  it('takes each field from the highest-priority Policy that sets it, defaults for the rest', () => {
    const result = effectivePolicy([
      policy('low', 0, { relay: { maxInFlight: 10 }, identity: { contactSearch: false } }),
      policy('high', 5, { relay: { maxMessageBytes: 2048 }, device: { lockoutAttempts: 3 } }),
    ]);
    expect(result.relay).toEqual({
      ...DEFAULT_RELAY_LIMITS,
      maxInFlight: 10,
      maxMessageBytes: 2048,
    });
    expect(result.identity).toEqual({ contactSearch: false, backupIntervalHours: 24 });
    expect(result.device).toEqual({ requirePassword: false, lockoutAttempts: 3 });
  });

  it('breaks a priority tie by the alphabetically first name', () => {
    const result = effectivePolicy([
      policy('zeta', 1, { device: { requirePassword: false } }),
      policy('alpha', 1, { device: { requirePassword: true } }),
    ]);
    expect(result.device.requirePassword).toBe(true);
  });
});
