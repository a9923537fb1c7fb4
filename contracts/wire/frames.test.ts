import { describe, expect, it } from '@jest/globals';
import { base64DecodedLength, decodeClientFrame } from './frames.js';

function failure(text: string): string {
  const result = decodeClientFrame(text);
  if (result.ok) throw new Error(`expected ${text} to be refused`);
  return result.message;
}

describe('decodeClientFrame', () => {
  it('accepts every client frame type', () => {
    const frames = [
      { t: 'hello', token: 'x.y.z', epoch: 'e1', status: 'idle' },
      {
        t: 'send',
        id: '01J0ABC',
        to: ['device:b1', 'identity:bob', 'workspace:w'],
        data: 'aGk=',
        ttl: 5,
      },
      { t: 'ack', upTo: 0 },
      { t: 'watch', identities: ['bob'] },
      { t: 'unwatch', identities: ['bob'] },
      { t: 'status', status: 'active' },
      { t: 'ping' },
    ];
    for (const frame of frames) {
      const result = decodeClientFrame(JSON.stringify(frame));
      expect(result).toEqual({ ok: true, frame });
    }
  });

  it('drops fields that are not part of the frame', () => {
    expect(decodeClientFrame('{"t":"ping","extra":1}')).toEqual({ ok: true, frame: { t: 'ping' } });
  });

  it('refuses text that is not JSON', () => {
    expect(failure('not json')).toBe('frame is not valid JSON');
    expect(failure('')).toBe('frame is not valid JSON');
    expect(failure('{"t":"ping"')).toBe('frame is not valid JSON');
  });

  it('refuses JSON that is not an object of a known type', () => {
    expect(failure('{"t":"launch"}')).toMatch(/^t: /);
    expect(failure('{}')).toMatch(/^t: /);
    expect(failure('[]')).toMatch(/^frame: /);
    expect(failure('null')).toMatch(/^frame: /);
    expect(failure('42')).toMatch(/^frame: /);
  });

  it('names the offending field when a field has the wrong type or shape', () => {
    expect(failure('{"t":"ack","upTo":"3"}')).toMatch(/^upTo: /);
    expect(failure('{"t":"ack","upTo":-1}')).toMatch(/^upTo: /);
    expect(failure('{"t":"ack","upTo":1.5}')).toMatch(/^upTo: /);
    expect(failure('{"t":"hello","token":""}')).toMatch(/^token: /);
    expect(failure(JSON.stringify({ t: 'hello', token: 'x'.repeat(8193) }))).toMatch(/^token: /);
    expect(failure('{"t":"status","status":"away"}')).toMatch(/^status: /);
    expect(failure('{"t":"watch","identities":[]}')).toMatch(/^identities: /);
    expect(failure('{"t":"watch","identities":["Bob"]}')).toMatch(/^identities\.0: /);
  });

  it('refuses send frames with a bad id, recipient, data or ttl', () => {
    const send = { t: 'send', id: 'm1', to: ['device:b1'], data: 'aGk=' };
    const refuse = (patch: object) => failure(JSON.stringify({ ...send, ...patch }));
    expect(refuse({ id: '' })).toMatch(/^id: message id/);
    expect(refuse({ id: 'a'.repeat(65) })).toMatch(/^id: /);
    expect(refuse({ id: 'has space' })).toMatch(/^id: /);
    expect(refuse({ to: [] })).toMatch(/^to: /);
    expect(refuse({ to: 'device:b1' })).toMatch(/^to: /);
    expect(refuse({ to: ['b1'] })).toBe(
      'to.0: recipient must be device:ID, identity:ID or workspace:ID',
    );
    expect(refuse({ to: ['group:x'] })).toMatch(/^to\.0: recipient must be/);
    expect(refuse({ to: ['device:'] })).toMatch(/^to\.0: /);
    expect(refuse({ to: ['device:B1'] })).toMatch(/^to\.0: /);
    expect(refuse({ to: Array.from({ length: 1001 }, (_, i) => `device:d${i}`) })).toMatch(/^to: /);
    expect(refuse({ data: 'not base64!' })).toBe('data: data must be standard base64');
    expect(refuse({ data: 'aGk-' })).toMatch(/^data: /);
    expect(refuse({ data: 5 })).toMatch(/^data: /);
    expect(refuse({ ttl: 0 })).toMatch(/^ttl: /);
    expect(refuse({ ttl: 1.5 })).toMatch(/^ttl: /);
  });

  it('returns the id of a send frame it refuses, so the sender can match the error', () => {
    const result = decodeClientFrame(
      JSON.stringify({ t: 'send', id: 'm7', to: ['nobody'], data: '' }),
    );
    expect(result).toMatchObject({ ok: false, id: 'm7' });
    expect(decodeClientFrame('{"t":"send","id":7}')).not.toHaveProperty('id');
    expect(decodeClientFrame('not json')).not.toHaveProperty('id');
  });
});

describe('base64DecodedLength', () => {
  it('equals the decoded byte count for every padding', () => {
    for (let n = 0; n <= 64; n++) {
      const data = Buffer.alloc(n, 0xab).toString('base64');
      expect(base64DecodedLength(data)).toBe(n);
    }
  });

  it('is 0 for the empty string', () => {
    expect(base64DecodedLength('')).toBe(0);
  });

  it('counts 1, 2 and 3 bytes for two, one and no padding characters', () => {
    expect(base64DecodedLength('YQ==')).toBe(1);
    expect(base64DecodedLength('YWI=')).toBe(2);
    expect(base64DecodedLength('YWJj')).toBe(3);
  });
});
