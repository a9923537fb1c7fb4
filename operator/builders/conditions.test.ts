import { describe, expect, it } from '@jest/globals';
import { changedConditions, setConditions } from './conditions.js';

const t0 = new Date('2026-01-01T00:00:00.000Z');
const t1 = new Date('2026-01-01T00:05:00.000Z');

describe('conditions', () => {
  it('keeps lastTransitionTime while the status holds and moves it when the status flips', () => {
    const first = setConditions(
      undefined,
      [{ type: 'Ready', status: 'False', reason: 'ReplicasNotReady', message: '0/2' }],
      1,
      t0,
    );
    const same = setConditions(
      first,
      [{ type: 'Ready', status: 'False', reason: 'ReplicasNotReady', message: '1/2' }],
      2,
      t1,
    );
    expect(same[0]).toMatchObject({
      lastTransitionTime: '2026-01-01T00:00:00Z',
      message: '1/2',
      observedGeneration: 2,
    });
    const flipped = setConditions(
      same,
      [{ type: 'Ready', status: 'True', reason: 'AllReplicasReady', message: '2/2' }],
      2,
      t1,
    );
    expect(flipped[0]?.lastTransitionTime).toBe('2026-01-01T00:05:00Z');
  });

  it('orders Ready, Progressing, Degraded, Paused first and removes what it is told to', () => {
    const conditions = setConditions(
      [
        {
          type: 'Paused',
          status: 'True',
          reason: 'Paused',
          message: '',
          lastTransitionTime: '2026-01-01T00:00:00Z',
        },
      ],
      [
        { type: 'Degraded', status: 'False', reason: 'AsExpected', message: '' },
        { type: 'Custom', status: 'True', reason: 'X', message: '' },
        { type: 'Ready', status: 'True', reason: 'Ok', message: '' },
      ],
      3,
      t0,
      ['Paused'],
    );
    expect(conditions.map((c) => c.type)).toEqual(['Ready', 'Degraded', 'Custom']);
  });

  it('reports a condition as changed when its status or reason changes, not its message', () => {
    const before = setConditions(
      undefined,
      [{ type: 'Ready', status: 'False', reason: 'A', message: 'x' }],
      1,
      t0,
    );
    const message = setConditions(
      before,
      [{ type: 'Ready', status: 'False', reason: 'A', message: 'y' }],
      1,
      t1,
    );
    const reason = setConditions(
      before,
      [{ type: 'Ready', status: 'False', reason: 'B', message: 'x' }],
      1,
      t1,
    );
    expect(changedConditions(before, message)).toEqual([]);
    expect(changedConditions(before, reason).map((c) => c.reason)).toEqual(['B']);
    expect(changedConditions(undefined, before)).toHaveLength(1);
  });
});
