import { z } from 'zod';
import { ArchiveError } from './archive-errors.js';

/**
 * One archived message, as segments and chunks hold it: the envelope the relay delivered
 * (id, sender, recipients, createdAt, ttl) and the payload bytes exactly as sent, plus when
 * the bridge archived it. Records follow each other in the content of a file:
 *
 *     u32 BE  length of what follows (meta length field + meta + data)
 *     u16 BE  meta length M
 *     M bytes meta, JSON {id, from: {identity, device}, to, createdAt, ttl?, archivedAt}
 *     data    the payload, the rest of the record
 */
export interface ArchivedMessage {
  id: string;
  from: { identity: string; device: string };
  to: string[];
  /** Milliseconds since the epoch, as the relay stamped it. */
  createdAt: number;
  ttl?: number;
  /** Milliseconds since the epoch, when the bridge received it. */
  archivedAt: number;
  data: Buffer;
}

const metaSchema = z.strictObject({
  id: z.string().min(1).max(256),
  from: z.strictObject({
    identity: z.string().min(1).max(256),
    device: z.string().min(1).max(256),
  }),
  to: z.array(z.string().min(1).max(300)).min(1).max(10_000),
  createdAt: z.int().min(0),
  ttl: z.int().min(0).optional(),
  archivedAt: z.int().min(0),
});

const MAX_META_BYTES = 0xffff;

/** The key the archive de-duplicates on, as the relay does: sender device and message id. */
export function messageKey(message: Pick<ArchivedMessage, 'id' | 'from'>): string {
  return `${message.from.device}|${message.id}`;
}

export function encodeRecord(message: ArchivedMessage): Buffer {
  const meta = Buffer.from(
    JSON.stringify({
      id: message.id,
      from: { identity: message.from.identity, device: message.from.device },
      to: message.to,
      createdAt: message.createdAt,
      ...(message.ttl === undefined ? {} : { ttl: message.ttl }),
      archivedAt: message.archivedAt,
    }),
    'utf8',
  );
  if (meta.length > MAX_META_BYTES) {
    throw new ArchiveError('ARCHIVE_TOO_LARGE', `message ${message.id}: envelope over 64 KiB`);
  }
  const head = Buffer.alloc(6);
  head.writeUInt32BE(2 + meta.length + message.data.length);
  head.writeUInt16BE(meta.length, 4);
  return Buffer.concat([head, meta, message.data]);
}

export function encodeRecords(messages: readonly ArchivedMessage[]): Buffer {
  return Buffer.concat(messages.map(encodeRecord));
}

/** The records of a file's content, in order; `where` names the file in errors. */
export function* decodeRecords(content: Buffer, where: string): Generator<ArchivedMessage> {
  let offset = 0;
  while (offset < content.length) {
    if (offset + 6 > content.length) {
      throw new ArchiveError('ARCHIVE_MALFORMED', `${where}: a record is cut at byte ${offset}`);
    }
    const length = content.readUInt32BE(offset);
    const metaLength = content.readUInt16BE(offset + 4);
    const end = offset + 4 + length;
    if (length < 2 + metaLength || end > content.length) {
      throw new ArchiveError(
        'ARCHIVE_MALFORMED',
        `${where}: the record at byte ${offset} is invalid`,
      );
    }
    let meta: z.infer<typeof metaSchema>;
    try {
      meta = metaSchema.parse(
        JSON.parse(content.subarray(offset + 6, offset + 6 + metaLength).toString('utf8')),
      );
    } catch {
      throw new ArchiveError(
        'ARCHIVE_MALFORMED',
        `${where}: the record at byte ${offset} has an invalid envelope`,
      );
    }
    yield { ...meta, data: Buffer.from(content.subarray(offset + 6 + metaLength, end)) };
    offset = end;
  }
}
