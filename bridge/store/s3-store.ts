import {
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { ArchiveError } from '../archive/archive-errors.js';
import { checkKey, checkPrefix, type ArchiveStore, type StoredFile } from './archive-store.js';

export interface S3StoreOptions {
  bucket: string;
  /** Folder inside the bucket ('' or ending in '/'). */
  prefix: string;
  /** e.g. https://s3.eu-west-1.amazonaws.com or http://seaweedfs:8333; AWS's when omitted. */
  endpoint?: string | undefined;
  region?: string | undefined;
  /** Path-style URLs (bucket in the path): what most S3-compatible servers need. */
  forcePathStyle?: boolean | undefined;
  credentials?: { accessKeyId: string; secretAccessKey: string } | undefined;
  /** Milliseconds one request may take (default 30 s): a dead server must not hang a cycle. */
  requestTimeoutMs?: number | undefined;
  /** Attempts per request, with the SDK's backoff (default 3). */
  maxAttempts?: number | undefined;
}

/**
 * Archive files as objects of an S3-compatible bucket. Creates are conditional puts
 * (`If-None-Match: *`): the store refuses the second write of a name (412), so a file once
 * written is never replaced, and two bridges writing the same archive cannot both win. Each
 * PUT carries its SHA-256 (`x-amz-checksum-sha256`), which the server checks before storing.
 */
export class S3Store implements ArchiveStore {
  readonly description: string;
  private readonly client: S3Client;

  constructor(private readonly options: S3StoreOptions) {
    checkPrefix(options.prefix);
    this.description = `s3://${options.bucket}/${options.prefix}${
      options.endpoint === undefined ? '' : ` (${options.endpoint})`
    }`;
    const timeout = options.requestTimeoutMs ?? 30_000;
    this.client = new S3Client({
      region: options.region ?? 'us-east-1',
      ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
      forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
      ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
      maxAttempts: options.maxAttempts ?? 3,
      requestHandler: { requestTimeout: timeout, connectionTimeout: Math.min(timeout, 5_000) },
    });
  }

  private objectKey(key: string): string {
    checkKey(key);
    return `${this.options.prefix}${key}`;
  }

  private failure(action: string, key: string, error: unknown): ArchiveError {
    const status =
      error instanceof S3ServiceException ? ` (HTTP ${error.$metadata.httpStatusCode ?? '?'})` : '';
    return new ArchiveError(
      'ARCHIVE_STORE_UNAVAILABLE',
      `${this.description}: cannot ${action} ${key}: ${(error as Error).name}: ${(error as Error).message}${status}`,
      { cause: error },
    );
  }

  async create(key: string, body: Buffer): Promise<boolean> {
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.options.bucket,
          Key: this.objectKey(key),
          Body: body,
          IfNoneMatch: '*',
          ChecksumSHA256: createHash('sha256').update(body).digest('base64'),
        }),
      );
      return true;
    } catch (error) {
      const status =
        error instanceof S3ServiceException ? error.$metadata.httpStatusCode : undefined;
      // 412: the name exists. 409: a concurrent conditional write of the same name is in flight.
      if (status === 412 || status === 409) return false;
      throw this.failure('write', key, error);
    }
  }

  async get(key: string, maxBytes: number): Promise<Buffer | undefined> {
    try {
      const object = await this.client.send(
        new GetObjectCommand({ Bucket: this.options.bucket, Key: this.objectKey(key) }),
      );
      if (object.ContentLength !== undefined && object.ContentLength > maxBytes) {
        await object.Body?.transformToWebStream().cancel();
        throw new ArchiveError(
          'ARCHIVE_TOO_LARGE',
          `${this.description}: ${key} is ${object.ContentLength} bytes, over the bound of ${maxBytes}`,
        );
      }
      if (object.Body === undefined) return Buffer.alloc(0);
      return Buffer.from(await object.Body.transformToByteArray());
    } catch (error) {
      if (error instanceof ArchiveError) throw error;
      if (error instanceof NoSuchKey) return undefined;
      if (error instanceof S3ServiceException && error.$metadata.httpStatusCode === 404)
        return undefined;
      throw this.failure('read', key, error);
    }
  }

  async list(prefix: string): Promise<StoredFile[]> {
    checkPrefix(prefix);
    const files: StoredFile[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.options.bucket,
            Prefix: `${this.options.prefix}${prefix}`,
            ContinuationToken: token,
          }),
        );
        for (const object of page.Contents ?? []) {
          if (object.Key === undefined) continue;
          files.push({ key: object.Key.slice(this.options.prefix.length), size: object.Size ?? 0 });
        }
        token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
      } while (token !== undefined);
    } catch (error) {
      throw this.failure('list', prefix, error);
    }
    return files.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async folders(prefix: string): Promise<string[]> {
    checkPrefix(prefix);
    const names: string[] = [];
    const start = `${this.options.prefix}${prefix}`;
    let token: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.options.bucket,
            Prefix: start,
            Delimiter: '/',
            ContinuationToken: token,
          }),
        );
        for (const common of page.CommonPrefixes ?? []) {
          if (common.Prefix !== undefined) names.push(common.Prefix.slice(start.length, -1));
        }
        token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
      } while (token !== undefined);
    } catch (error) {
      throw this.failure('list', prefix, error);
    }
    return names.sort();
  }

  async delete(keys: readonly string[]): Promise<void> {
    // DeleteObjects takes at most 1000 keys per request.
    for (let start = 0; start < keys.length; start += 1000) {
      const batch = keys.slice(start, start + 1000);
      try {
        const answer = await this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.options.bucket,
            Delete: { Objects: batch.map((key) => ({ Key: this.objectKey(key) })), Quiet: true },
          }),
        );
        const failed = (answer.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
        if (failed.length > 0) {
          const first = failed[0];
          throw new Error(
            `${failed.length} not deleted, e.g. ${first?.Key ?? ''}: ${first?.Message ?? ''}`,
          );
        }
      } catch (error) {
        throw this.failure('delete', batch[0] ?? '', error);
      }
    }
  }

  close(): Promise<void> {
    this.client.destroy();
    return Promise.resolve();
  }
}
