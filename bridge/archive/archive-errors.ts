/** One archive error: what it means and the CLI exit code it ends a command with. */
export interface ArchiveErrorSpec {
  readonly meaning: string;
}

/**
 * Every error the archive format, the archive stores and the bridge report. docs/errors.md
 * lists each of them under "Archive" (archive-errors.test.ts checks both ways).
 */
export const archiveErrors = {
  ARCHIVE_WRONG_PASSWORD: { meaning: 'the password does not open this archive' },
  ARCHIVE_TAMPERED: {
    meaning: 'a file failed authentication or its SHA-256 differs from the manifest',
  },
  ARCHIVE_MALFORMED: { meaning: 'a file is not a Grove archive file, or its header is invalid' },
  ARCHIVE_UNSUPPORTED_VERSION: { meaning: 'the file was written by a newer format version' },
  ARCHIVE_NOT_FOUND: { meaning: 'no archive (manifest) or file at that place' },
  ARCHIVE_MISSING_SEGMENT: { meaning: 'the manifest lists a segment that is not in the store' },
  ARCHIVE_TOO_LARGE: { meaning: 'a file or a restore is over its size bound' },
  ARCHIVE_RESTORE_FAILED: {
    meaning: 'a restore could not deliver the archived messages (a relay refused or failed)',
  },
  ARCHIVE_CONFLICT: { meaning: 'another writer changed the archive at the same time' },
  ARCHIVE_STORE_UNAVAILABLE: { meaning: 'the archive store (filesystem or S3) failed or is down' },
} as const satisfies Record<string, ArchiveErrorSpec>;

export type ArchiveErrorCode = keyof typeof archiveErrors;

/** A typed archive failure: `code` is stable (docs/errors.md), the message says where. */
export class ArchiveError extends Error {
  constructor(
    readonly code: ArchiveErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ArchiveError';
  }
}

export function isArchiveError(error: unknown, code?: ArchiveErrorCode): error is ArchiveError {
  return error instanceof ArchiveError && (code === undefined || error.code === code);
}
