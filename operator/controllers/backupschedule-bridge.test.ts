import { describe, expect, it } from '@jest/globals';
import {
  bridgeServiceAccountIn,
  parseBridgeServiceAccount,
  type BridgeDeps,
} from './backupschedule-bridge.js';

const deps = (flag: string | undefined): BridgeDeps => ({
  managerUrl: 'http://manager',
  register: () => Promise.resolve(),
  enroll: () => Promise.reject(new Error('not in this test')),
  status: () => Promise.reject(new Error('not in this test')),
  ...(flag === undefined ? {} : parseBridgeServiceAccount(flag)),
});

describe('the Data Bridge ServiceAccount', () => {
  it('reads NAME or NAMESPACE/NAME and refuses anything else', () => {
    expect(parseBridgeServiceAccount('grove-bridge')).toEqual({
      serviceAccountName: 'grove-bridge',
    });
    expect(parseBridgeServiceAccount('grove-system/grove-bridge')).toEqual({
      serviceAccountName: 'grove-bridge',
      serviceAccountNamespace: 'grove-system',
    });
    expect(() => parseBridgeServiceAccount('a/b/c')).toThrow(/NAME or NAMESPACE\/NAME/);
    expect(() => parseBridgeServiceAccount('Grove_Bridge')).toThrow(/NAME or NAMESPACE\/NAME/);
    expect(() => parseBridgeServiceAccount('Not_A_Namespace/x')).toThrow(/not a namespace/);
  });

  it('runs bridges outside the chart’s namespace as their namespace’s default account', () => {
    // The chart makes its bridge ServiceAccount in the release namespace only: naming it in a
    // pod of another namespace would leave the Deployment without pods.
    const chart = deps('grove-system/grove-bridge');
    expect(bridgeServiceAccountIn(chart, 'grove-system')).toBe('grove-bridge');
    expect(bridgeServiceAccountIn(chart, 'team-a')).toBeUndefined();
    expect(bridgeServiceAccountIn(deps('grove-bridge'), 'team-a')).toBe('grove-bridge');
    expect(bridgeServiceAccountIn(deps(undefined), 'team-a')).toBeUndefined();
  });
});
