import { CliError, ExitCode } from '../../client/cli/cli-error.js';
import type { ArchiveStore } from './archive-store.js';
import { FilesystemStore } from './filesystem-store.js';
import { S3Store } from './s3-store.js';

/** The flags that choose an archive store, shared by `grove bridge` and `grove archive`. */
export const STORE_FLAGS = {
  path: { type: 'string' },
  's3-bucket': { type: 'string' },
  's3-prefix': { type: 'string' },
  's3-endpoint': { type: 'string' },
  's3-region': { type: 'string' },
  's3-path-style': { type: 'boolean' },
} as const;

export const STORE_HELP = `  --path DIR            archive store: a folder (a PersistentVolumeClaim)
  --s3-bucket B         archive store: an S3 bucket, with --s3-prefix P (a folder, e.g. grove/),
                        --s3-endpoint URL (S3-compatible servers), --s3-region R, --s3-path-style;
                        credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (a Secret)`;

/** The store the flags name: exactly one of --path and --s3-bucket. */
export function storeFromOptions(
  values: Record<string, string | boolean | undefined>,
  env: NodeJS.ProcessEnv,
): ArchiveStore {
  const text = (name: string): string | undefined => {
    const value = values[name];
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
  const path = text('path');
  const bucket = text('s3-bucket');
  if ((path === undefined) === (bucket === undefined)) {
    throw new CliError(
      'USAGE',
      'give the archive store: --path DIR or --s3-bucket BUCKET (one of them)',
      ExitCode.usage,
    );
  }
  if (path !== undefined) return new FilesystemStore(path);
  let prefix = text('s3-prefix') ?? '';
  if (prefix !== '' && !prefix.endsWith('/')) prefix = `${prefix}/`;
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  try {
    return new S3Store({
      bucket: bucket ?? '',
      prefix,
      endpoint: text('s3-endpoint'),
      region: text('s3-region') ?? env.AWS_REGION,
      forcePathStyle: values['s3-path-style'] === true ? true : undefined,
      credentials:
        accessKeyId !== undefined && secretAccessKey !== undefined
          ? { accessKeyId, secretAccessKey }
          : undefined,
    });
  } catch (error) {
    throw new CliError('USAGE', `--s3-prefix: ${(error as Error).message}`, ExitCode.usage);
  }
}
