import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { z } from 'zod';
import { ArchiveError } from './archive-errors.js';
import { kdfSchema, type ArchiveKeyring, type KdfParams } from './archive-keys.js';

/**
 * The one container of every archive file (segments, open-segment chunks, manifests):
 *
 *     "GRVARCH\0"  magic, 8 bytes
 *     u8           format version (1)
 *     u32 BE       header length H (at most 64 KiB)
 *     H bytes      header, JSON (plaintext, so a file says what it is without the password)
 *     blocks       u32 BE length L, then L bytes: AES-256-GCM ciphertext and its 16-byte tag
 *
 * Each block holds up to `blockBytes` of the file's content, deflated when that is smaller
 * (a flag byte inside the ciphertext says which). Block i is sealed with the file's key, the
 * nonce `noncePrefix ‖ u32(i)` and as associated data SHA-256(magic ‖ version ‖ H ‖ header) ‖
 * u32(i) ‖ final flag: a changed header, a changed, reordered or dropped block, or a file cut
 * after a block all fail authentication. The last block carries final = 1 (an empty file has
 * one empty final block).
 */

export const MAGIC = Buffer.from('GRVARCH\0', 'latin1');
export const FORMAT_VERSION = 1;
const PREAMBLE_BYTES = MAGIC.length + 1 + 4;
const MAX_HEADER_BYTES = 64 * 1024;
const TAG_BYTES = 16;
export const DEFAULT_BLOCK_BYTES = 1024 * 1024;
const MAX_BLOCK_BYTES = 16 * 1024 * 1024;

export const fileKinds = ['segment', 'chunk', 'manifest', 'root'] as const;
export type FileKind = (typeof fileKinds)[number];

export const fileHeaderSchema = z.strictObject({
  kind: z.enum(fileKinds),
  domain: z.string().min(1).max(253),
  /** Empty for the root file of a domain. */
  workspace: z.string().max(253),
  /** Which one of its kind: the segment, chunk or manifest number (0 for the root). */
  number: z.int().min(0),
  createdAt: z.iso.datetime({ offset: true }),
  cipher: z.literal('aes-256-gcm'),
  kdf: kdfSchema,
  /** base64 of 16 random bytes: the file key is HKDF(master, fileSalt). */
  fileSalt: z.base64().length(24),
  /** base64 of 8 random bytes: the first 8 of each block's 12-byte nonce. */
  noncePrefix: z.base64().length(12),
  blockBytes: z.int().min(1024).max(MAX_BLOCK_BYTES),
  compression: z.enum(['deflate-raw', 'none']),
});
export type FileHeader = z.infer<typeof fileHeaderSchema>;

/** What identifies a file: a reader checks that the header says the same (no swapped files). */
export interface FileIdentity {
  kind: FileKind;
  domain: string;
  workspace: string;
  number: number;
}

function u32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32BE(value);
  return buffer;
}

function blockAad(headerDigest: Buffer, index: number, final: boolean): Buffer {
  return Buffer.concat([headerDigest, u32(index), Buffer.from([final ? 1 : 0])]);
}

function nonceOf(prefix: Buffer, index: number): Buffer {
  return Buffer.concat([prefix, u32(index)]);
}

export interface EncodeOptions {
  keyring: ArchiveKeyring;
  kdf: KdfParams;
  now: Date;
  blockBytes?: number;
  compression?: FileHeader['compression'];
}

/** Encrypts `content` into one archive file. */
export function encodeArchiveFile(
  identity: FileIdentity,
  content: Uint8Array,
  options: EncodeOptions,
): Buffer {
  const header: FileHeader = {
    ...identity,
    createdAt: options.now.toISOString(),
    cipher: 'aes-256-gcm',
    kdf: options.kdf,
    fileSalt: randomBytes(16).toString('base64'),
    noncePrefix: randomBytes(8).toString('base64'),
    blockBytes: options.blockBytes ?? DEFAULT_BLOCK_BYTES,
    compression: options.compression ?? 'deflate-raw',
  };
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const preamble = Buffer.concat([
    MAGIC,
    Buffer.from([FORMAT_VERSION]),
    u32(headerBytes.length),
    headerBytes,
  ]);
  const digest = createHash('sha256').update(preamble).digest();
  const key = options.keyring.fileKey(
    header.kdf,
    Buffer.from(header.fileSalt, 'base64'),
    describe(identity),
  );
  const prefix = Buffer.from(header.noncePrefix, 'base64');
  const parts: Buffer[] = [preamble];
  const blockCount = Math.max(1, Math.ceil(content.length / header.blockBytes));
  for (let index = 0; index < blockCount; index++) {
    const plain = content.subarray(index * header.blockBytes, (index + 1) * header.blockBytes);
    let body: Buffer = Buffer.concat([Buffer.from([0]), plain]);
    if (header.compression === 'deflate-raw' && plain.length > 0) {
      const deflated = deflateRawSync(plain);
      if (deflated.length < plain.length) body = Buffer.concat([Buffer.from([1]), deflated]);
    }
    const cipher = createCipheriv('aes-256-gcm', key, nonceOf(prefix, index));
    cipher.setAAD(blockAad(digest, index, index === blockCount - 1));
    const sealed = Buffer.concat([cipher.update(body), cipher.final(), cipher.getAuthTag()]);
    parts.push(u32(sealed.length), sealed);
  }
  return Buffer.concat(parts);
}

export function describe(identity: FileIdentity): string {
  const where =
    identity.workspace === '' ? identity.domain : `${identity.domain}/${identity.workspace}`;
  return `${identity.kind} ${identity.number} of ${where}`;
}

/** Reads the plaintext header of a file without the password (for `grove archive list`). */
export function readFileHeader(file: Uint8Array, where: string): FileHeader {
  const bytes = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  if (bytes.length < PREAMBLE_BYTES || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new ArchiveError('ARCHIVE_MALFORMED', `${where} is not a Grove archive file`);
  }
  const version = bytes.readUInt8(MAGIC.length);
  if (version !== FORMAT_VERSION) {
    throw new ArchiveError(
      'ARCHIVE_UNSUPPORTED_VERSION',
      `${where} has format version ${version}; this grove reads version ${FORMAT_VERSION}`,
    );
  }
  const headerLength = bytes.readUInt32BE(MAGIC.length + 1);
  if (headerLength > MAX_HEADER_BYTES || PREAMBLE_BYTES + headerLength > bytes.length) {
    throw new ArchiveError(
      'ARCHIVE_MALFORMED',
      `${where}: header length ${headerLength} is invalid`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(
      bytes.subarray(PREAMBLE_BYTES, PREAMBLE_BYTES + headerLength).toString('utf8'),
    );
  } catch {
    throw new ArchiveError('ARCHIVE_MALFORMED', `${where}: the header is not JSON`);
  }
  const parsed = fileHeaderSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ArchiveError(
      'ARCHIVE_MALFORMED',
      `${where}: invalid header: ${issue === undefined ? '' : `${issue.path.join('.')}: ${issue.message}`}`,
    );
  }
  return parsed.data;
}

export interface DecodedFile {
  header: FileHeader;
  content: Buffer;
}

/**
 * Decrypts and authenticates a whole file. `expected` is what the caller asked for: a header
 * that names another file (a segment copied over another) is ARCHIVE_TAMPERED.
 * `maxContentBytes` bounds what is inflated (ARCHIVE_TOO_LARGE past it).
 */
export function decodeArchiveFile(
  file: Uint8Array,
  keyring: ArchiveKeyring,
  expected: FileIdentity | { kind: FileKind },
  maxContentBytes: number,
): DecodedFile {
  const where = 'domain' in expected ? describe(expected) : `${expected.kind} file`;
  const header = readFileHeader(file, where);
  if (
    header.kind !== expected.kind ||
    ('domain' in expected &&
      (header.domain !== expected.domain ||
        header.workspace !== expected.workspace ||
        header.number !== expected.number))
  ) {
    throw new ArchiveError(
      'ARCHIVE_TAMPERED',
      `${where}: the file's header names ${describe(header)} instead`,
    );
  }
  const bytes = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  const headerLength = bytes.readUInt32BE(MAGIC.length + 1);
  const digest = createHash('sha256')
    .update(bytes.subarray(0, PREAMBLE_BYTES + headerLength))
    .digest();
  const key = keyring.fileKey(header.kdf, Buffer.from(header.fileSalt, 'base64'), where);
  const prefix = Buffer.from(header.noncePrefix, 'base64');
  const parts: Buffer[] = [];
  let total = 0;
  let offset = PREAMBLE_BYTES + headerLength;
  for (let index = 0; ; index++) {
    if (offset + 4 > bytes.length) {
      throw new ArchiveError('ARCHIVE_TAMPERED', `${where} is cut short after block ${index}`);
    }
    const length = bytes.readUInt32BE(offset);
    offset += 4;
    if (
      length < TAG_BYTES + 1 ||
      length > header.blockBytes * 2 + 1024 ||
      offset + length > bytes.length
    ) {
      throw new ArchiveError('ARCHIVE_TAMPERED', `${where}: block ${index} has an invalid length`);
    }
    const sealed = bytes.subarray(offset, offset + length);
    offset += length;
    const final = offset === bytes.length;
    const decipher = createDecipheriv('aes-256-gcm', key, nonceOf(prefix, index));
    decipher.setAAD(blockAad(digest, index, final));
    decipher.setAuthTag(sealed.subarray(length - TAG_BYTES));
    let body: Buffer;
    try {
      body = Buffer.concat([
        decipher.update(sealed.subarray(0, length - TAG_BYTES)),
        decipher.final(),
      ]);
    } catch {
      throw new ArchiveError(
        'ARCHIVE_TAMPERED',
        `${where}: block ${index} fails authentication (the file was changed or cut)`,
      );
    }
    let plain: Buffer = body.subarray(1);
    if (body[0] === 1) {
      try {
        plain = inflateRawSync(plain, { maxOutputLength: header.blockBytes });
      } catch {
        throw new ArchiveError('ARCHIVE_MALFORMED', `${where}: block ${index} does not inflate`);
      }
    }
    total += plain.length;
    if (total > maxContentBytes) {
      throw new ArchiveError(
        'ARCHIVE_TOO_LARGE',
        `${where} holds more than ${maxContentBytes} bytes, the bound of this reader`,
      );
    }
    parts.push(plain);
    if (final) return { header, content: Buffer.concat(parts) };
  }
}
