import { describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { ArchiveError } from './archive-errors.js';
import {
  decodeArchiveFile,
  encodeArchiveFile,
  FORMAT_VERSION,
  MAGIC,
  readFileHeader,
  type FileIdentity,
} from './archive-file.js';
import { ArchiveKeyring } from './archive-keys.js';
import { decodeRecords, encodeRecords, type ArchivedMessage } from './archive-record.js';

// A cheap KDF cost: the format is the same, the tests fast.
const cost = { N: 1024, r: 8, p: 1 };
const identity: FileIdentity = { kind: 'segment', domain: 'acme', workspace: 'team', number: 7 };
const now = new Date('2026-01-02T03:04:05.000Z');

function message(index: number, data: Buffer = Buffer.from(`payload ${index}`)): ArchivedMessage {
  return {
    id: `01J${index.toString().padStart(23, '0')}`,
    from: { identity: 'alice', device: 'a1' },
    to: ['workspace:team'],
    createdAt: 1_700_000_000_000 + index,
    archivedAt: 1_700_000_000_500 + index,
    data,
  };
}

function code(call: () => unknown): string | undefined {
  try {
    call();
    return undefined;
  } catch (error) {
    if (error instanceof ArchiveError) return error.code;
    throw error;
  }
}

describe('archive files', () => {
  const keyring = new ArchiveKeyring('correct horse battery staple');
  const kdf = keyring.newKdf(cost);

  it('round-trips records byte for byte, across several blocks', () => {
    const messages = [
      message(1),
      message(2, randomBytes(5000)),
      message(3, Buffer.alloc(0)),
      { ...message(4), ttl: 60 },
    ];
    const content = encodeRecords(messages);
    const file = encodeArchiveFile(identity, content, { keyring, kdf, now, blockBytes: 1024 });
    const decoded = decodeArchiveFile(file, keyring, identity, 1 << 20);
    expect(decoded.content.equals(content)).toBe(true);
    expect([...decodeRecords(decoded.content, 'test')]).toEqual(messages);
    expect(decoded.header).toMatchObject({
      ...identity,
      createdAt: now.toISOString(),
      cipher: 'aes-256-gcm',
    });
  });

  it('is self-describing: magic, version and a readable header without the password', () => {
    const file = encodeArchiveFile(identity, Buffer.from('x'), { keyring, kdf, now });
    expect(file.subarray(0, 8).equals(MAGIC)).toBe(true);
    expect(file[8]).toBe(FORMAT_VERSION);
    const header = readFileHeader(file, 'test');
    expect(header.kdf).toEqual(kdf);
    expect(header.kdf.algorithm).toBe('scrypt');
  });

  it('opens an empty file (one empty final block)', () => {
    const file = encodeArchiveFile(identity, Buffer.alloc(0), { keyring, kdf, now });
    expect(decodeArchiveFile(file, keyring, identity, 10).content.length).toBe(0);
  });

  it('compresses content that deflates, keeps random content as it is', () => {
    const text = Buffer.from('the same words again and again '.repeat(2000));
    const small = encodeArchiveFile(identity, text, { keyring, kdf, now });
    expect(small.length).toBeLessThan(text.length / 10);
    const noise = randomBytes(60_000);
    const big = encodeArchiveFile(identity, noise, { keyring, kdf, now });
    expect(big.length).toBeLessThan(noise.length + 1000);
    expect(decodeArchiveFile(big, keyring, identity, 1 << 20).content.equals(noise)).toBe(true);
  });

  it('says ARCHIVE_WRONG_PASSWORD for another password', () => {
    const file = encodeArchiveFile(identity, Buffer.from('secret'), { keyring, kdf, now });
    expect(code(() => decodeArchiveFile(file, new ArchiveKeyring('wrong'), identity, 100))).toBe(
      'ARCHIVE_WRONG_PASSWORD',
    );
  });

  it('says ARCHIVE_TAMPERED for any changed byte after the header, a cut, or a swapped file', () => {
    const content = encodeRecords([message(1), message(2, randomBytes(3000))]);
    const file = encodeArchiveFile(identity, content, { keyring, kdf, now, blockBytes: 1024 });
    const headerEnd = 13 + file.readUInt32BE(9);
    for (const position of [
      headerEnd + 4,
      headerEnd + 40,
      file.length - 1,
      Math.floor((headerEnd + file.length) / 2),
    ]) {
      const changed = Buffer.from(file);
      changed[position] = (changed[position] ?? 0) ^ 0x01;
      expect(code(() => decodeArchiveFile(changed, keyring, identity, 1 << 20))).toBe(
        'ARCHIVE_TAMPERED',
      );
    }
    // Cut at a block boundary: the last block left was not sealed as the final one.
    const firstBlockEnd = headerEnd + 4 + file.readUInt32BE(headerEnd);
    expect(
      code(() => decodeArchiveFile(file.subarray(0, firstBlockEnd), keyring, identity, 1 << 20)),
    ).toBe('ARCHIVE_TAMPERED');
    expect(
      code(() => decodeArchiveFile(file.subarray(0, file.length - 3), keyring, identity, 1 << 20)),
    ).toBe('ARCHIVE_TAMPERED');
    expect(code(() => decodeArchiveFile(file, keyring, { ...identity, number: 8 }, 1 << 20))).toBe(
      'ARCHIVE_TAMPERED',
    );
  });

  it('authenticates the header: a changed header field fails', () => {
    const file = encodeArchiveFile(identity, Buffer.from('data'), { keyring, kdf, now });
    const text = file
      .toString('latin1')
      .replace('2026-01-02T03:04:05.000Z', '2026-01-02T03:04:06.000Z');
    expect(code(() => decodeArchiveFile(Buffer.from(text, 'latin1'), keyring, identity, 100))).toBe(
      'ARCHIVE_TAMPERED',
    );
  });

  it('refuses what is not an archive file, and newer versions', () => {
    expect(code(() => readFileHeader(Buffer.from('hello world, not an archive'), 'x'))).toBe(
      'ARCHIVE_MALFORMED',
    );
    const file = encodeArchiveFile(identity, Buffer.from('data'), { keyring, kdf, now });
    const newer = Buffer.from(file);
    newer[8] = FORMAT_VERSION + 1;
    expect(code(() => readFileHeader(newer, 'x'))).toBe('ARCHIVE_UNSUPPORTED_VERSION');
  });

  it('bounds what it inflates', () => {
    const file = encodeArchiveFile(identity, Buffer.alloc(10_000), { keyring, kdf, now });
    expect(code(() => decodeArchiveFile(file, keyring, identity, 9_999))).toBe('ARCHIVE_TOO_LARGE');
  });

  it('refuses KDF parameters a crafted header could use to exhaust memory', () => {
    const file = encodeArchiveFile(identity, Buffer.from('data'), { keyring, kdf, now });
    const text = file.toString('latin1').replace(`"N":${cost.N}`, `"N":${2 ** 24}`);
    const patched = Buffer.from(text, 'latin1');
    expect(code(() => readFileHeader(patched, 'x'))).toBe('ARCHIVE_MALFORMED');
  });
});
