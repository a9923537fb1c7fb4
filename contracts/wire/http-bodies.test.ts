import { describe, expect, it } from '@jest/globals';
import { decodeIdList, encodeIdentityRecord, encodeIdList } from './directory-records.js';
import { decodeErrorBody, encodeErrorBody } from './error-body.js';
import {
  decodePresenceQuery,
  encodePollQuery,
  encodePollReply,
  encodePresenceQuery,
  pollQuerySchema,
  presenceQuerySchema,
} from './long-poll.js';

describe('error bodies', () => {
  it('read back what was answered, with or without details', () => {
    expect(decodeErrorBody(encodeErrorBody('NOT_FOUND', 'no member x'))).toEqual({
      code: 'NOT_FOUND',
      message: 'no member x',
    });
    const details = { issues: [{ path: 'body.id' }] };
    expect(decodeErrorBody(encodeErrorBody('VALIDATION_FAILED', 'bad', details))).toEqual({
      code: 'VALIDATION_FAILED',
      message: 'bad',
      details,
    });
  });

  it('are undefined for anything else', () => {
    for (const body of [{}, null, 'text', { error: { code: 1 } }]) {
      expect(decodeErrorBody(body)).toBeUndefined();
    }
  });
});

describe('long-poll requests and replies', () => {
  it('read back a poll query', () => {
    const query = { wait: 25, epoch: 'e1', ack: 7, drops: 2 };
    const parsed = pollQuerySchema.parse(
      Object.fromEntries(new URLSearchParams(encodePollQuery(query))),
    );
    expect(parsed).toEqual(query);
    expect(encodePollQuery({ wait: 0, epoch: undefined })).toBe('wait=0');
  });

  it('read back a presence query', () => {
    const identities = ['alice', 'bob@x'];
    const query = presenceQuerySchema.parse(
      Object.fromEntries(new URLSearchParams(encodePresenceQuery(identities))),
    );
    expect(decodePresenceQuery(query)).toEqual(identities);
  });

  it('splice frames into a reply', () => {
    const frames = ['{"t":"skip","seq":3,"reason":"expired"}', '{"t":"pong"}'];
    const state = { epoch: 'e1', head: 3, drops: 0, resync: false };
    expect(JSON.parse(encodePollReply(state, frames))).toEqual({
      ...state,
      messages: frames.map((frame): unknown => JSON.parse(frame)),
    });
    expect(JSON.parse(encodePollReply({ ...state, told: 1 }, []))).toEqual({
      ...state,
      told: 1,
      messages: [],
    });
  });
});

describe('directory records', () => {
  it('read back an id list, and nothing from what is not one', () => {
    expect(decodeIdList(encodeIdList(['alice', 'bob']))).toEqual(['alice', 'bob']);
    expect(decodeIdList(encodeIdList([]))).toEqual([]);
    expect(decodeIdList(null)).toEqual([]);
    expect(decodeIdList('{}')).toEqual([]);
  });

  it('write an identity record', () => {
    expect(JSON.parse(encodeIdentityRecord({ displayName: 'Bob' }))).toEqual({
      displayName: 'Bob',
    });
  });
});
