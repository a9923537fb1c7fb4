import { describe, expect, it } from '@jest/globals';
import { decodeQueueEntry, encodeQueuedMessage } from './queue-entry.js';

describe('decodeQueueEntry', () => {
  it('reads an inline entry: seq, expiry, size and the JSON body', () => {
    const body =
      '{"createdAt":1,"id":"m1","from":{"identity":"a","device":"a1"},"to":["device:b1"],"data":"aGk="}';
    expect(decodeQueueEntry(`12:1700000000000:2:I${body}`)).toEqual({
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
    expect(decodeQueueEntry(`3:99:10000:R${ref}\n${body}`)).toEqual({
      seq: 3,
      expiresAt: 99,
      bytes: 10000,
      payloadRef: ref,
      body,
    });
  });

  it('keeps colons and newlines inside an inline body', () => {
    const body = '{"createdAt":5,"id":"a:b","to":["device:x"],"data":""}\n';
    expect(decodeQueueEntry(`1:2:0:I${body}`).body).toBe(body);
  });

  it('has no payload reference for an inline entry', () => {
    expect(decodeQueueEntry('1:2:3:I{}')).not.toHaveProperty('payloadRef');
  });

  it('reads back what encodeQueuedMessage stored after the header, with or without a reference', () => {
    const body =
      '{"createdAt":7,"id":"m3","from":{"identity":"a","device":"a1"},"to":["device:b1"]}';
    for (const message of [{ body }, { body, payloadRef: 'g:{p:acme:a1:m3}' }]) {
      expect(decodeQueueEntry(`4:5:6:${encodeQueuedMessage(message)}`)).toEqual({
        seq: 4,
        expiresAt: 5,
        bytes: 6,
        ...message,
      });
    }
  });

  it('reads the sender of an entry, and the counted payload reference with its charge', () => {
    const body =
      '{"createdAt":7,"id":"m 4","from":{"identity":"a","device":"a1"},"to":["device:b1"]}';
    const inline = encodeQueuedMessage({ body, sender: 'alice@x.org' });
    expect(inline).toBe(`ialice@x.org ${body}`);
    expect(decodeQueueEntry(`4:5:6:${inline}`)).toEqual({
      seq: 4,
      expiresAt: 5,
      bytes: 6,
      sender: 'alice@x.org',
      body,
    });
    const ref = 'g:{p:acme:a1:m4}';
    const byReference = encodeQueuedMessage({
      body,
      sender: 'alice',
      payloadRef: ref,
      payloadBytes: 12345,
    });
    expect(byReference).toBe(`palice 12345 ${ref}\n${body}`);
    expect(decodeQueueEntry(`4:5:6:${byReference}`)).toEqual({
      seq: 4,
      expiresAt: 5,
      bytes: 6,
      sender: 'alice',
      payloadRef: ref,
      body,
    });
  });
});
