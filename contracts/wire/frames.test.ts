import { describe, expect, it } from '@jest/globals';
import { base64DecodedLength, clientFrame, decodeClientFrame, decodeHotFrame } from './frames.js';

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

/** What decodeClientFrame did with the schema alone, before `send` and `ack` were hand-decoded. */
function schemaOnly(text: string): unknown {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, message: 'frame is not valid JSON' };
  }
  const parsed = clientFrame.safeParse(json);
  if (parsed.success) return { ok: true, frame: parsed.data };
  const issue = parsed.error.issues[0];
  const path = issue?.path.join('.') ?? '';
  const { t, id } = (typeof json === 'object' && json !== null ? json : {}) as Record<
    string,
    unknown
  >;
  const validId = t === 'send' && typeof id === 'string' && /^[A-Za-z0-9._-]{1,64}$/.test(id);
  return {
    ok: false,
    message: `${path === '' ? 'frame' : path}: ${issue?.message ?? 'invalid'}`,
    ...(validId ? { id } : {}),
  };
}

/** Deterministic PRNG (mulberry32): the generated table is the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const sendBase = { t: 'send', id: '01J0ABC', to: ['device:b1'], data: 'aGk=' };
const ackBase = { t: 'ack', upTo: 7 };

/** Values a field is set to in the table: each one valid for some field and invalid for others. */
const fieldValues: unknown[] = [
  undefined,
  null,
  true,
  0,
  -0,
  1,
  -1,
  1.5,
  5,
  2 ** 53 - 1,
  2 ** 53,
  1e21,
  '',
  '3',
  'm1',
  'a'.repeat(64),
  'a'.repeat(65),
  'has space',
  'aGk=',
  'aGk==',
  'aGk===',
  'aGk-',
  'not base64!',
  'device:b1',
  'identity:bob',
  'workspace:w',
  'device:B1',
  'group:x',
  'device:',
  `device:${'a'.repeat(128)}`,
  `device:${'a'.repeat(129)}`,
  [],
  ['device:b1'],
  ['device:b1', 'identity:bob', 'workspace:w'],
  ['device:b1', 5],
  ['b1'],
  ['device:b1', null],
  Array.from({ length: 1000 }, (_, i) => `device:d${i}`),
  Array.from({ length: 1001 }, (_, i) => `device:d${i}`),
  {},
  { x: 1 },
];

/** Valid and invalid `send`/`ack` frames: every field set to every value, plus random mixes. */
function frameTable(): unknown[] {
  const frames: unknown[] = [sendBase, ackBase, { ...sendBase, ttl: 5 }];
  for (const base of [sendBase, ackBase] as Record<string, unknown>[]) {
    for (const field of [...Object.keys(base), 'ttl', 'extra']) {
      for (const value of fieldValues) {
        // An undefined value leaves the field out (JSON has no undefined).
        frames.push(JSON.parse(JSON.stringify({ ...base, [field]: value })) as unknown);
      }
    }
  }
  const random = prng(11);
  const pick = <T>(values: T[]): T => values[Math.floor(random() * values.length)] as T;
  for (let n = 0; n < 2000; n++) {
    const frame: Record<string, unknown> = { t: pick(['send', 'ack', 'ack', 'send', 'ping', 5]) };
    for (const field of ['id', 'to', 'data', 'ttl', 'upTo', 'extra']) {
      const value = random() < 0.6 ? { ...sendBase, ...ackBase, ttl: 9 }[field] : pick(fieldValues);
      if (value !== undefined && random() < 0.9) frame[field] = value;
    }
    frames.push(frame);
  }
  frames.push(null, [], 'send', 42, [sendBase], { t: ['send'] });
  return frames;
}

describe('hand-written send and ack decoding', () => {
  const table = frameTable();

  it('the table holds both valid and invalid frames of both types', () => {
    const kinds = new Set(
      table.map((frame) => {
        const parsed = clientFrame.safeParse(frame);
        const t = (frame as { t?: unknown } | null)?.t;
        return `${String(t)}:${parsed.success ? 'valid' : 'invalid'}`;
      }),
    );
    for (const kind of ['send:valid', 'send:invalid', 'ack:valid', 'ack:invalid'])
      expect(kinds).toContain(kind);
  });

  it('accepts exactly the send and ack frames the schema accepts, decoded the same', () => {
    for (const frame of table) {
      const parsed = clientFrame.safeParse(frame);
      const expected =
        parsed.success && (parsed.data.t === 'send' || parsed.data.t === 'ack')
          ? parsed.data
          : undefined;
      const actual = decodeHotFrame(frame);
      if (JSON.stringify(actual) !== JSON.stringify(expected))
        throw new Error(`differs on ${JSON.stringify(frame).slice(0, 200)}`);
      expect(actual).toStrictEqual(expected);
    }
  });

  it('leaves every result and error message of decodeClientFrame as the schema alone gave them', () => {
    for (const frame of table) {
      const text = JSON.stringify(frame);
      expect(decodeClientFrame(text)).toStrictEqual(schemaOnly(text));
    }
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
