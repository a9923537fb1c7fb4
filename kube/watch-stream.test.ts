import { describe, expect, it } from '@jest/globals';
import { LineSplitter, parseWatchLine } from './watch-stream.js';

const added = JSON.stringify({
  type: 'ADDED',
  object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', resourceVersion: '5' } },
});
const bookmark = JSON.stringify({
  type: 'BOOKMARK',
  object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { resourceVersion: '9' } },
});

describe('watch stream', () => {
  it('splits lines that arrive cut at every possible position', () => {
    const stream = `${added}\n${bookmark}\n`;
    for (let cut = 0; cut <= stream.length; cut += 1) {
      const splitter = new LineSplitter();
      const lines = [
        ...splitter.push(Buffer.from(stream.slice(0, cut))),
        ...splitter.push(Buffer.from(stream.slice(cut))),
        ...splitter.end(),
      ];
      expect(lines).toEqual([added, bookmark]);
    }
  });

  it('keeps a multi-byte character intact when a chunk ends inside it', () => {
    const line = JSON.stringify({
      type: 'ADDED',
      object: { kind: 'ConfigMap', metadata: { name: 'a' }, data: { greeting: 'grüß 🌲' } },
    });
    const bytes = Buffer.from(`${line}\n`);
    const emoji = bytes.indexOf(Buffer.from('🌲'));
    const splitter = new LineSplitter();
    const lines = [
      ...splitter.push(bytes.subarray(0, emoji + 2)),
      ...splitter.push(bytes.subarray(emoji + 2)),
    ];
    expect(lines).toEqual([line]);
  });

  it('hands back a last line without a newline at the end of the stream', () => {
    const splitter = new LineSplitter();
    expect(splitter.push(`${added}\n\n${bookmark}`)).toEqual([added]);
    expect(splitter.end()).toEqual([bookmark]);
    expect(splitter.end()).toEqual([]);
  });

  it('refuses a runaway line instead of buffering without bound', () => {
    const splitter = new LineSplitter(10);
    expect(() => splitter.push('x'.repeat(11))).toThrow(/longer than 10/);
  });

  it('parses events and bookmarks', () => {
    expect(parseWatchLine(added)).toEqual({
      kind: 'event',
      event: {
        type: 'ADDED',
        object: {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'a', resourceVersion: '5' },
        },
      },
    });
    const parsed = parseWatchLine(bookmark);
    expect(parsed.kind === 'event' && parsed.event.type).toBe('BOOKMARK');
  });

  it('turns an ERROR event into its Status', () => {
    const line = JSON.stringify({
      type: 'ERROR',
      object: {
        kind: 'Status',
        apiVersion: 'v1',
        status: 'Failure',
        message: 'too old resource version: 1 (200)',
        reason: 'Expired',
        code: 410,
      },
    });
    expect(parseWatchLine(line)).toEqual({
      kind: 'error',
      status: {
        kind: 'Status',
        status: 'Failure',
        message: 'too old resource version: 1 (200)',
        reason: 'Expired',
        code: 410,
      },
    });
  });

  it('rejects garbage with the offending text in the message', () => {
    expect(() => parseWatchLine('{"type":"ADDED"')).toThrow(/invalid JSON.*\{"type":"ADDED"/);
    expect(() => parseWatchLine('{"type":"ADDED","object":[]}')).toThrow(/not an event/);
    expect(() => parseWatchLine('{"type":"WHAT","object":{"metadata":{}}}')).toThrow(
      /unknown event type WHAT/,
    );
    expect(() => parseWatchLine('{"type":"ADDED","object":{}}')).toThrow(/without metadata/);
  });
});
