import { describe, expect, it } from '@jest/globals';
import { MAX_POOLS, PoolRotation } from './pool-rotation.js';

const HOME = ['ws://home-a', 'ws://home-b'];
const AWAY = ['ws://away-a'];

describe('PoolRotation', () => {
  it('tries the URLs of the home pool in turn and stays there while one welcomes', () => {
    const rotation = new PoolRotation([HOME, AWAY]);
    expect(rotation.current()).toBe('ws://home-a');
    expect(rotation.connectFailed()).toBeUndefined();
    expect(rotation.current()).toBe('ws://home-b');
    rotation.welcomed();
    rotation.linkLost();
    expect(rotation.current()).toBe('ws://home-a');
    expect(rotation.pool).toBe(0);
  });

  it('moves to the next pool once every URL of its pool failed failoverAfterRounds times', () => {
    const rotation = new PoolRotation([HOME, AWAY], { failoverAfterRounds: 2 });
    for (let i = 0; i < 3; i++) expect(rotation.connectFailed()).toBeUndefined();
    expect(rotation.connectFailed()).toEqual({ from: 0, to: 1, reason: 'unreachable' });
    expect(rotation.current()).toBe('ws://away-a');
    // And round again when that pool fails too.
    rotation.connectFailed();
    expect(rotation.connectFailed()).toEqual({ from: 1, to: 0, reason: 'unreachable' });
  });

  it('a welcome in between starts the count again', () => {
    const rotation = new PoolRotation([HOME, AWAY], { failoverAfterRounds: 1 });
    rotation.connectFailed();
    rotation.welcomed();
    expect(rotation.connectFailed()).toBeUndefined();
    expect(rotation.pool).toBe(0);
  });

  it('takes 4104 from one pool as "not here" while another pool has not said so, then as final', () => {
    const rotation = new PoolRotation([HOME, AWAY, ['ws://third']]);
    expect(rotation.unknownDeviceHere()).toEqual({ from: 0, to: 1, reason: 'unknown-device' });
    expect(rotation.unknownDeviceHere()).toEqual({ from: 1, to: 2, reason: 'unknown-device' });
    expect(rotation.unknownDeviceHere()).toBeUndefined();
  });

  it('with one pool, 4104 stays final', () => {
    expect(new PoolRotation([HOME]).unknownDeviceHere()).toBeUndefined();
  });

  it('returns home only after homeStableProbes good probes in a row', () => {
    const rotation = new PoolRotation([HOME, AWAY], {
      failoverAfterRounds: 1,
      homeStableProbes: 3,
    });
    expect(rotation.awayFromHome).toBe(false);
    rotation.connectFailed();
    rotation.connectFailed();
    expect(rotation.pool).toBe(1);
    expect(rotation.awayFromHome).toBe(true);
    expect(rotation.homeProbed(true)).toBeUndefined();
    expect(rotation.homeProbed(true)).toBeUndefined();
    // A failed probe starts the count again (the hysteresis).
    expect(rotation.homeProbed(false)).toBeUndefined();
    expect(rotation.homeProbed(true)).toBeUndefined();
    expect(rotation.homeProbed(true)).toBeUndefined();
    expect(rotation.homeProbed(true)).toEqual({ from: 1, to: 0, reason: 'home-back' });
    expect(rotation.current()).toBe('ws://home-a');
  });

  it('never probes a home pool that refused the device', () => {
    const rotation = new PoolRotation([HOME, AWAY], { homeStableProbes: 1 });
    rotation.unknownDeviceHere();
    expect(rotation.pool).toBe(1);
    expect(rotation.awayFromHome).toBe(false);
    expect(rotation.homeProbed(true)).toBeUndefined();
  });

  it('refuses an empty or oversized pool list', () => {
    expect(() => new PoolRotation([])).toThrow(/at least one relay pool/);
    expect(() => new PoolRotation([[]])).toThrow(/at least one relay pool/);
    expect(() => new PoolRotation(Array.from({ length: MAX_POOLS + 1 }, () => HOME))).toThrow(
      /at most/,
    );
  });

  it('lists every URL once, pools in order', () => {
    expect(new PoolRotation([HOME, [...AWAY, 'ws://home-a']]).relays).toEqual([
      'ws://home-a',
      'ws://home-b',
      'ws://away-a',
    ]);
  });
});
