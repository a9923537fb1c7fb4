import { describe, expect, it } from '@jest/globals';
import { parseRecipient, type RecipientRef } from '../../contracts/wire/recipient.js';
import { resolveFanOut } from './addressing.js';

const identities: Record<string, string[]> = {
  alice: ['a1', 'a2'],
  bob: ['b1'],
  carol: ['c1'],
  dave: [],
};
const workspaces: Record<string, string[]> = {
  design: ['alice', 'bob', 'carol'],
  pair: ['bob', 'carol'],
  empty: [],
};
const lookup = {
  devicesOfIdentity: (identity: string) => identities[identity],
  membersOfWorkspace: (workspace: string) => workspaces[workspace],
  identityOfDevice: (device: string) =>
    Object.entries(identities).find(([, devices]) => devices.includes(device))?.[0],
};
const alice = { identity: 'alice', device: 'a1' };
const refs = (...values: string[]): RecipientRef[] => values.map(parseRecipient);
const devicesOf = (result: ReturnType<typeof resolveFanOut>) => result.devices.map((d) => d.device);

describe('resolveFanOut', () => {
  it('resolves a device to itself with its identity', () => {
    const result = resolveFanOut(refs('device:b1'), lookup, alice);
    expect(result).toEqual({ devices: [{ identity: 'bob', device: 'b1' }], unknown: [] });
  });

  it('takes the union of every reference, each device once, in first-seen order', () => {
    const result = resolveFanOut(
      refs('device:c1', 'workspace:design', 'identity:bob', 'device:b1', 'workspace:pair'),
      lookup,
      alice,
    );
    expect(devicesOf(result)).toEqual(['c1', 'a2', 'b1']);
    expect(result.devices).toContainEqual({ identity: 'alice', device: 'a2' });
    expect(result.unknown).toEqual([]);
  });

  it("leaves out the sender's device when reached through its identity or a workspace", () => {
    expect(devicesOf(resolveFanOut(refs('identity:alice'), lookup, alice))).toEqual(['a2']);
    expect(devicesOf(resolveFanOut(refs('workspace:design'), lookup, alice))).toEqual([
      'a2',
      'b1',
      'c1',
    ]);
  });

  it('includes the sender when it names its own device', () => {
    expect(devicesOf(resolveFanOut(refs('device:a1'), lookup, alice))).toEqual(['a1']);
    expect(devicesOf(resolveFanOut(refs('identity:alice', 'device:a1'), lookup, alice))).toEqual([
      'a2',
      'a1',
    ]);
  });

  it('reports every unknown reference and still resolves the known ones', () => {
    const result = resolveFanOut(
      refs('device:zz', 'identity:bob', 'identity:nobody', 'workspace:nowhere'),
      lookup,
      alice,
    );
    expect(result.unknown).toEqual(['device:zz', 'identity:nobody', 'workspace:nowhere']);
    expect(devicesOf(result)).toEqual(['b1']);
  });

  it('treats an identity without devices and an empty workspace as known but reaching no one', () => {
    const result = resolveFanOut(refs('identity:dave', 'workspace:empty'), lookup, alice);
    expect(result).toEqual({ devices: [], unknown: [] });
  });
});
