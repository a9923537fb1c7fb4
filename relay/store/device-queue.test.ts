import { describe, expect, it } from '@jest/globals';
import { parseEntry } from './device-queue.js';

describe('parseEntry', () => {
  it('reads an inline entry: seq, expiry, size and the JSON body', () => {
    const body =
      '{"createdAt":1,"id":"m1","from":{"identity":"a","device":"a1"},"to":["device:b1"],"data":"aGk="}';
    expect(parseEntry(`12:1700000000000:2:I${body}`)).toEqual({
      seq: 12,
      expiresAt: 1_700_000_000_000,
      bytes: 2,
      body,
    });
  });

  it('reads an entry with a payload reference up to the newline, and the body after it', () => {
    const body =
      '{"createdAt":1,"id":"m2","from":{"identity":"a","device":"a1"},"to":["workspace:w"]}';
    const ref = 'g:{p:acme:a1:m2}';
    expect(parseEntry(`3:99:10000:R${ref}\n${body}`)).toEqual({
      seq: 3,
      expiresAt: 99,
      bytes: 10000,
      payloadRef: ref,
      body,
    });
  });

  it('keeps colons and newlines inside an inline body', () => {
    const body = '{"createdAt":5,"id":"a:b","to":["device:x"],"data":""}\n';
    expect(parseEntry(`1:2:0:I${body}`).body).toBe(body);
  });

  it('has no payload reference for an inline entry', () => {
    expect(parseEntry('1:2:3:I{}')).not.toHaveProperty('payloadRef');
  });
});
