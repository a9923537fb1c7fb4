import { StringDecoder } from 'node:string_decoder';
import type { KubeObject } from './kube-object.js';

/**
 * The API server streams a watch as newline-delimited JSON, one event per line. TCP delivers
 * it in arbitrary chunks: a line (or a multi-byte UTF-8 character) may be split anywhere.
 */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';

  constructor(private readonly maxLineBytes = 64 * 1024 * 1024) {}

  /** Feeds one chunk; returns the complete, non-blank lines it finished. */
  push(chunk: Buffer | string): string[] {
    this.pending += typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    const lines: string[] = [];
    let start = 0;
    for (;;) {
      const newline = this.pending.indexOf('\n', start);
      if (newline < 0) break;
      const line = this.pending.slice(start, newline).trim();
      if (line !== '') lines.push(line);
      start = newline + 1;
    }
    this.pending = this.pending.slice(start);
    if (this.pending.length > this.maxLineBytes) {
      throw new Error(`watch stream line longer than ${this.maxLineBytes} bytes without a newline`);
    }
    return lines;
  }

  /** At the end of the stream: the last line if it had no trailing newline. */
  end(): string[] {
    const rest = (this.pending + this.decoder.end()).trim();
    this.pending = '';
    return rest === '' ? [] : [rest];
  }
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';

export interface WatchEvent<T extends KubeObject = KubeObject> {
  type: WatchEventType;
  object: T;
}

/** The Status object of an ERROR event (or of a failed request). */
export interface KubeStatus {
  kind?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: unknown;
}

export type ParsedWatchLine =
  { kind: 'event'; event: WatchEvent } | { kind: 'error'; status: KubeStatus };

const eventTypes: ReadonlySet<string> = new Set(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK']);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parses one line of a watch stream; throws with the offending text when it is not an event. */
export function parseWatchLine(line: string): ParsedWatchLine {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new Error(`watch stream sent invalid JSON (${detail}): ${line.slice(0, 200)}`);
  }
  if (!isRecord(parsed) || typeof parsed.type !== 'string' || !isRecord(parsed.object)) {
    throw new Error(`watch stream sent a line that is not an event: ${line.slice(0, 200)}`);
  }
  const { type, object } = parsed;
  if (type === 'ERROR') {
    return {
      kind: 'error',
      status: {
        ...(typeof object.kind === 'string' && { kind: object.kind }),
        ...(typeof object.status === 'string' && { status: object.status }),
        ...(typeof object.message === 'string' && { message: object.message }),
        ...(typeof object.reason === 'string' && { reason: object.reason }),
        ...(typeof object.code === 'number' && { code: object.code }),
        ...(object.details !== undefined && { details: object.details }),
      },
    };
  }
  if (!eventTypes.has(type)) {
    throw new Error(`watch stream sent an unknown event type ${type}`);
  }
  if (!isRecord(object.metadata)) {
    throw new Error(`watch stream sent a ${type} event without metadata: ${line.slice(0, 200)}`);
  }
  return { kind: 'event', event: { type: type as WatchEventType, object: object as KubeObject } };
}
