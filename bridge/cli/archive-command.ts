import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { CliError, ExitCode } from '../../client/cli/cli-error.js';
import {
  ManagerClient,
  ManagerHttpError,
  ManagerUnreachable,
} from '../../client/cli/manager-client.js';
import { ArchiveError, isArchiveError } from '../archive/archive-errors.js';
import { ArchiveKeyring } from '../archive/archive-keys.js';
import { ArchiveReader, DEFAULT_READER_LIMITS } from '../archive/archive-reader.js';
import type { ArchivedMessage } from '../archive/archive-record.js';
import type { RestorePoint } from '../archive/manifest.js';
import { STORE_FLAGS, STORE_HELP, storeFromOptions } from '../store/store-options.js';

export const ARCHIVE_HELP = `grove archive — read the Data Bridge's archives

Usage:
  grove archive list    STORE --password-file FILE [--domain D] [--workspace W]
  grove archive verify  STORE --password-file FILE [--domain D] [--workspace W]
  grove archive export  STORE --password-file FILE [--domain D] --workspace W [--segment N | --until TIME]
  grove archive restore --domain D --workspace W --to NEW --owner MEMBER [--name NAME]
                        [--segment N | --until TIME] [--no-wait] [--timeout S] [--manager URL]

STORE:
${STORE_HELP}
  --password-file FILE  the archive password (or GROVE_ARCHIVE_PASSWORD)
  --max-file-bytes N    largest file read (default 1 GiB)

list prints one JSON object per workspace (manifest, segments with ranges, sizes, SHA-256);
verify checks every file (authentication, SHA-256, counts) and prints one report per
workspace, exiting 1 with the first problem's code; export prints the messages as JSON lines
{id, from, to, createdAt, ttl?, archivedAt, data} ("encoding":"base64" when not UTF-8).

restore asks the Manager (--manager or GROVE_MANAGER_URL, admin token in GROVE_ADMIN_TOKEN or
--token-file FILE) to restore workspace W of the domain's archive into the new workspace NEW:
MEMBER becomes its owner and receives the archived messages on its devices, in order, sent by
the domain's Data Bridge (which reads its own archive: no STORE or password here); the other
members are listed as suspended until re-invited. It prints the job, its progress and the
outcome as JSON lines and exits 1 with the error code when the restore fails.
`;

type Out = (line: string) => void;

async function passwordFrom(file: string | undefined, env: NodeJS.ProcessEnv): Promise<string> {
  if (file !== undefined) {
    try {
      return (await readFile(file, 'utf8')).replace(/\r?\n$/, '');
    } catch (error) {
      throw new CliError(
        'CREDENTIALS_MISSING',
        `cannot read the archive password ${file}: ${(error as Error).message}`,
      );
    }
  }
  const fromEnv = env.GROVE_ARCHIVE_PASSWORD;
  if (fromEnv === undefined || fromEnv === '') {
    throw new CliError(
      'CREDENTIALS_MISSING',
      'no archive password: give --password-file FILE (or GROVE_ARCHIVE_PASSWORD)',
    );
  }
  return fromEnv;
}

/** `--segment N` or `--until TIME` (RFC 3339 or ms since the epoch); 'latest' without either. */
export function restorePointOf(
  segment: string | undefined,
  until: string | undefined,
): RestorePoint {
  if (segment !== undefined && until !== undefined) {
    throw new CliError('USAGE', 'give --segment or --until, not both', ExitCode.usage);
  }
  if (segment !== undefined) {
    const number = Number(segment);
    if (!Number.isInteger(number) || number < 1)
      throw new CliError('USAGE', '--segment must be a segment number', ExitCode.usage);
    return { throughSegment: number };
  }
  if (until !== undefined) {
    const ms = /^\d+$/.test(until) ? Number(until) : Date.parse(until);
    if (!Number.isFinite(ms))
      throw new CliError(
        'USAGE',
        '--until must be an RFC 3339 time or ms since the epoch',
        ExitCode.usage,
      );
    return { until: ms };
  }
  return 'latest';
}

export function messageLine(message: ArchivedMessage): Record<string, unknown> {
  const text = message.data.toString('utf8');
  const utf8 = Buffer.from(text, 'utf8').equals(message.data);
  return {
    id: message.id,
    from: message.from,
    to: message.to,
    createdAt: message.createdAt,
    ...(message.ttl === undefined ? {} : { ttl: message.ttl }),
    archivedAt: message.archivedAt,
    data: utf8 ? text : message.data.toString('base64'),
    ...(utf8 ? {} : { encoding: 'base64' }),
  };
}

async function domainOf(reader: ArchiveReader, given: string | undefined): Promise<string> {
  if (given !== undefined) return given;
  const domains = await reader.domains();
  if (domains.length === 1 && domains[0] !== undefined) return domains[0];
  if (domains.length === 0)
    throw new ArchiveError('ARCHIVE_NOT_FOUND', `${reader.description} holds no archive`);
  throw new CliError(
    'USAGE',
    `the store holds several domains (${domains.join(', ')}): give --domain`,
    ExitCode.usage,
  );
}

const restoreJobOut = z.looseObject({
  id: z.string(),
  state: z.enum(['pending', 'running', 'succeeded', 'failed']),
  delivered: z.int(),
  total: z.int().optional(),
  error: z.looseObject({ code: z.string(), message: z.string() }).optional(),
});

/** `grove archive restore`: a restore job through the Manager, followed to its end. */
async function restoreCommand(
  args: string[],
  out: Out,
  env: NodeJS.ProcessEnv,
  sleep: (ms: number) => Promise<void>,
): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      manager: { type: 'string' },
      'token-file': { type: 'string' },
      domain: { type: 'string' },
      workspace: { type: 'string' },
      to: { type: 'string' },
      owner: { type: 'string' },
      name: { type: 'string' },
      segment: { type: 'string' },
      until: { type: 'string' },
      'no-wait': { type: 'boolean' },
      timeout: { type: 'string' },
    },
  });
  const usage = (message: string) => new CliError('USAGE', message, ExitCode.usage);
  const managerUrl = values.manager ?? env.GROVE_MANAGER_URL;
  if (managerUrl === undefined || managerUrl === '')
    throw usage('missing --manager URL (or GROVE_MANAGER_URL)');
  let token = env.GROVE_ADMIN_TOKEN;
  if (values['token-file'] !== undefined) {
    token = (await readFile(values['token-file'], 'utf8')).trim();
  }
  if (token === undefined || token === '')
    throw usage('no admin token: set GROVE_ADMIN_TOKEN or give --token-file FILE');
  for (const flag of ['domain', 'workspace', 'to', 'owner'] as const) {
    if (values[flag] === undefined) throw usage(`restore needs --${flag}`);
  }
  const point = restorePointOf(values.segment, values.until);
  const timeoutMs = (values.timeout === undefined ? 3600 : Number(values.timeout)) * 1000;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
    throw usage('--timeout must be a positive number of seconds');
  const domain = values.domain ?? '';
  const manager = new ManagerClient(managerUrl, token);
  const path = `/v1/admin/domains/${encodeURIComponent(domain)}/restores`;
  const job = await manager.request('POST', path, restoreJobOut, {
    body: {
      sourceWorkspace: values.workspace,
      newWorkspace: values.to,
      owner: values.owner,
      ...(values.name === undefined ? {} : { name: values.name }),
      ...(point !== 'latest' && 'throughSegment' in point ? { segment: point.throughSegment } : {}),
      ...(point !== 'latest' && 'until' in point
        ? { until: new Date(point.until).toISOString() }
        : {}),
    },
  });
  out(JSON.stringify(job));
  if (values['no-wait'] === true) return;
  const deadline = Date.now() + timeoutMs;
  let shown = `${job.state}/${String(job.delivered)}`;
  for (;;) {
    await sleep(250);
    const current = await manager.request(
      'GET',
      `${path}/${encodeURIComponent(job.id)}`,
      restoreJobOut,
    );
    const now = `${current.state}/${String(current.delivered)}`;
    if (now !== shown) {
      shown = now;
      out(JSON.stringify(current));
    }
    if (current.state === 'succeeded') return;
    if (current.state === 'failed') {
      throw new CliError(
        current.error?.code ?? 'ARCHIVE_RESTORE_FAILED',
        current.error?.message ?? `restore ${job.id} failed`,
      );
    }
    if (Date.now() > deadline) {
      throw new CliError(
        'TIMEOUT',
        `restore ${job.id} is still ${current.state} after ${String(timeoutMs / 1000)} s (${String(current.delivered)} delivered); it goes on: follow it with GET ${path}/${job.id}`,
        ExitCode.timeout,
      );
    }
  }
}

/** `grove archive list|verify|export|restore`: see ARCHIVE_HELP. */
export async function archiveCommand(
  args: string[],
  out: Out,
  env: NodeJS.ProcessEnv = process.env,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
): Promise<void> {
  const [action, ...rest] = args;
  if (action === 'restore') {
    try {
      await restoreCommand(rest, out, env, sleep);
    } catch (error) {
      if (error instanceof ManagerHttpError) throw new CliError(error.code, error.message);
      if (error instanceof ManagerUnreachable)
        throw new CliError('MANAGER_UNREACHABLE', error.message);
      throw error;
    }
    return;
  }
  if (action !== 'list' && action !== 'verify' && action !== 'export') {
    throw new CliError(
      'USAGE',
      `grove archive list|verify|export|restore …\n${ARCHIVE_HELP}`,
      ExitCode.usage,
    );
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      ...STORE_FLAGS,
      'password-file': { type: 'string' },
      domain: { type: 'string' },
      workspace: { type: 'string' },
      segment: { type: 'string' },
      until: { type: 'string' },
      'max-file-bytes': { type: 'string' },
    },
  });
  const maxFileBytes =
    values['max-file-bytes'] === undefined
      ? DEFAULT_READER_LIMITS.maxFileBytes
      : Number(values['max-file-bytes']);
  if (!Number.isInteger(maxFileBytes) || maxFileBytes < 1)
    throw new CliError('USAGE', '--max-file-bytes must be a positive integer', ExitCode.usage);
  const store = storeFromOptions(values, env);
  try {
    const reader = new ArchiveReader(
      store,
      new ArchiveKeyring(await passwordFrom(values['password-file'], env)),
      { maxFileBytes },
    );
    const domain = await domainOf(reader, values.domain);
    await reader.openDomain(domain);
    const workspaces =
      values.workspace === undefined ? await reader.workspaces(domain) : [values.workspace];
    if (action === 'export') {
      if (values.workspace === undefined)
        throw new CliError('USAGE', 'export needs --workspace', ExitCode.usage);
      for await (const message of reader.messages(
        domain,
        values.workspace,
        restorePointOf(values.segment, values.until),
      )) {
        out(JSON.stringify(messageLine(message)));
      }
      return;
    }
    if (action === 'list') {
      for (const workspace of workspaces) {
        const manifest = await reader.manifest(domain, workspace);
        out(
          JSON.stringify({
            domain,
            workspace,
            manifest: manifest.number,
            createdAt: manifest.createdAt,
            updatedAt: manifest.updatedAt,
            messages: manifest.segments.reduce((sum, segment) => sum + segment.count, 0),
            bytes: manifest.segments.reduce((sum, segment) => sum + segment.bytes, 0),
            segments: manifest.segments,
            pruned: manifest.pruned.length,
          }),
        );
      }
      return;
    }
    let firstProblem: { code: string; message: string } | undefined;
    let messages = 0;
    for (const workspace of workspaces) {
      const report = await reader.verifyWorkspace(domain, workspace);
      messages += report.messages;
      firstProblem ??= report.problems[0];
      out(JSON.stringify({ domain, ...report, ok: report.problems.length === 0 }));
    }
    if (firstProblem !== undefined) throw new CliError(firstProblem.code, firstProblem.message);
    out(JSON.stringify({ ok: true, domain, workspaces: workspaces.length, messages }));
  } catch (error) {
    if (isArchiveError(error)) throw new CliError(error.code, error.message);
    throw error;
  } finally {
    await store.close();
  }
}
