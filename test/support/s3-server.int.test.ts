import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { S3Server } from './s3-server.js';

const MiB = 1024 * 1024;

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

async function getBytes(client: S3Client, bucket: string, key: string): Promise<Uint8Array> {
  const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  if (object.Body === undefined) throw new Error(`no body for ${key}`);
  return object.Body.transformToByteArray();
}

async function listKeys(client: S3Client, bucket: string, prefix?: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const object of page.Contents ?? []) if (object.Key !== undefined) keys.push(object.Key);
    token = page.NextContinuationToken;
  } while (token !== undefined);
  return keys;
}

/** The HTTP status an S3 call failed with (undefined if it did not fail that way). */
async function failureStatus(call: () => Promise<unknown>): Promise<number | undefined> {
  try {
    await call();
    return undefined;
  } catch (error) {
    if (error instanceof S3ServiceException) return error.$metadata.httpStatusCode;
    throw error;
  }
}

describe('S3Server (SeaweedFS S3 gateway)', () => {
  // Undefined when start() failed; afterAll must not throw over that.
  let started: S3Server | undefined;
  let client: S3Client;
  const s3 = (): S3Server => {
    if (started === undefined) throw new Error('S3Server did not start');
    return started;
  };

  beforeAll(async () => {
    started = await S3Server.start({ buckets: ['grove-archive', 'grove-other'] });
    client = new S3Client(started.clientConfig());
  }, 90_000);

  afterAll(async () => {
    if (started !== undefined) client.destroy();
    await started?.stop();
  });

  it('listens on loopback and creates the requested buckets', () => {
    expect(s3().endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(s3().bucket).toBe('grove-archive');
    expect(s3().running).toBe(true);
  });

  it('takes a first PUT at once: start() waited for the filer and the volumes', async () => {
    const started = Date.now();
    await client.send(new PutObjectCommand({ Bucket: 'grove-other', Key: 'first', Body: 'x' }));
    expect(Date.now() - started).toBeLessThan(1_000);
    await client.send(new DeleteObjectCommand({ Bucket: 'grove-other', Key: 'first' }));
  });

  it('refuses unsigned requests and a wrong secret', async () => {
    const unsigned = await fetch(`${s3().endpoint}/${s3().bucket}/`);
    await unsigned.body?.cancel();
    expect(unsigned.status).toBe(403);
    const wrong = new S3Client(
      s3().clientConfig({
        credentials: { accessKeyId: s3().accessKeyId, secretAccessKey: 'not-the-secret' },
        maxAttempts: 1,
      }),
    );
    try {
      expect(
        await failureStatus(() => wrong.send(new ListObjectsV2Command({ Bucket: s3().bucket }))),
      ).toBe(403);
    } finally {
      wrong.destroy();
    }
  });

  it('puts, gets, lists and deletes objects', async () => {
    const bucket = s3().bucket;
    const body = randomBytes(64 * 1024);
    await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'ws/1/segment-000001', Body: body }),
    );
    await client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: 'ws/1/manifest.json',
        Body: '{"version":1}',
        ContentType: 'application/json',
        Metadata: { 'grove-format': '1' },
      }),
    );
    await client.send(new PutObjectCommand({ Bucket: 'grove-other', Key: 'x', Body: 'y' }));

    expect(sha256(await getBytes(client, bucket, 'ws/1/segment-000001'))).toBe(sha256(body));
    const head = await client.send(
      new HeadObjectCommand({ Bucket: bucket, Key: 'ws/1/manifest.json' }),
    );
    expect(head.ContentLength).toBe(13);
    expect(head.ContentType).toBe('application/json');
    expect(head.Metadata).toEqual({ 'grove-format': '1' });
    expect(await listKeys(client, bucket, 'ws/1/')).toEqual([
      'ws/1/manifest.json',
      'ws/1/segment-000001',
    ]);
    expect(await listKeys(client, 'grove-other')).toEqual(['x']);

    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'ws/1/manifest.json' }));
    await expect(
      client.send(new GetObjectCommand({ Bucket: bucket, Key: 'ws/1/manifest.json' })),
    ).rejects.toBeInstanceOf(NoSuchKey);
    const deleted = await client.send(
      new DeleteObjectsCommand({
        Bucket: bucket,
        Delete: { Objects: [{ Key: 'ws/1/segment-000001' }] },
      }),
    );
    expect(deleted.Errors ?? []).toEqual([]);
    expect(await listKeys(client, bucket, 'ws/1/')).toEqual([]);
  });

  it('paginates a listing', async () => {
    const bucket = s3().bucket;
    const keys = Array.from({ length: 25 }, (_, i) => `page/${String(i).padStart(3, '0')}`);
    for (const key of keys)
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: key }));
    const first = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: 'page/', MaxKeys: 10 }),
    );
    expect(first.Contents?.map((object) => object.Key)).toEqual(keys.slice(0, 10));
    expect(first.IsTruncated).toBe(true);
    expect(await listKeys(client, bucket, 'page/')).toEqual(keys);
  });

  it('assembles a multipart upload larger than 5 MiB', async () => {
    const bucket = s3().bucket;
    const key = 'multipart/archive.bin';
    // Every part but the last must be at least 5 MiB.
    const parts = [randomBytes(5 * MiB), randomBytes(5 * MiB), randomBytes(MiB + 123)];
    const upload = await client.send(
      new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }),
    );
    const uploadId = upload.UploadId;
    if (uploadId === undefined) throw new Error('no UploadId');
    const etags: { ETag: string; PartNumber: number }[] = [];
    for (const [index, part] of parts.entries()) {
      const uploaded = await client.send(
        new UploadPartCommand({
          Bucket: bucket,
          Key: key,
          UploadId: uploadId,
          PartNumber: index + 1,
          Body: part,
        }),
      );
      etags.push({ ETag: uploaded.ETag ?? '', PartNumber: index + 1 });
    }
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        UploadId: uploadId,
        MultipartUpload: { Parts: etags },
      }),
    );
    const whole = Buffer.concat(parts);
    const read = await getBytes(client, bucket, key);
    expect(read.length).toBe(whole.length);
    expect(sha256(read)).toBe(sha256(whole));
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    // A multipart ETag is "<md5 of the part md5s>-<part count>".
    expect(head.ETag).toMatch(/-3"$/);
  }, 60_000);

  it('aborts a multipart upload, leaving no object', async () => {
    const bucket = s3().bucket;
    const key = 'multipart/aborted.bin';
    const upload = await client.send(
      new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }),
    );
    await client.send(
      new UploadPartCommand({
        Bucket: bucket,
        Key: key,
        UploadId: upload.UploadId,
        PartNumber: 1,
        Body: randomBytes(MiB),
      }),
    );
    await client.send(
      new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: upload.UploadId }),
    );
    expect(await listKeys(client, bucket, 'multipart/aborted')).toEqual([]);
  });

  it('supports a conditional put (If-None-Match: *): the second write is refused with 412', async () => {
    const bucket = s3().bucket;
    const key = 'conditional/once';
    await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'first', IfNoneMatch: '*' }),
    );
    expect(
      await failureStatus(() =>
        client.send(
          new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'second', IfNoneMatch: '*' }),
        ),
      ),
    ).toBe(412);
    expect(Buffer.from(await getBytes(client, bucket, key)).toString()).toBe('first');
  });

  it('keeps its data across a kill -9 and a restart on the same ports', async () => {
    const bucket = s3().bucket;
    const body = randomBytes(300 * 1024);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'durable/before', Body: body }));
    const endpoint = s3().endpoint;

    await s3().kill();
    expect(s3().running).toBe(false);
    const down = new S3Client(s3().clientConfig({ maxAttempts: 1 }));
    try {
      await expect(
        down.send(new GetObjectCommand({ Bucket: bucket, Key: 'durable/before' })),
      ).rejects.toThrow();
    } finally {
      down.destroy();
    }

    await s3().restart();
    expect(s3().endpoint).toBe(endpoint);
    expect(sha256(await getBytes(client, bucket, 'durable/before'))).toBe(sha256(body));
    expect(await listKeys(client, 'grove-other')).toEqual(['x']);
    // Writable again at once: restart() waited out the master's warm-up.
    const started = Date.now();
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'durable/after', Body: 'z' }));
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await listKeys(client, bucket, 'durable/')).toEqual(['durable/after', 'durable/before']);
    // The harness's write probe leaves nothing behind.
    expect(await listKeys(client, bucket)).not.toContain(S3Server.probeKey);
  }, 90_000);
});
