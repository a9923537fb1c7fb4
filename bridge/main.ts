import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { CliError, ExitCode } from '../client/cli/cli-error.js';
import { GroveClient } from '../client/sdk/grove-client.js';
import { stopOnSignals } from '../contracts/graceful-shutdown.js';
import { jsonLogger, type Logger } from '../contracts/logger.js';
import { isArchiveError } from './archive/archive-errors.js';
import { ArchiveKeyring } from './archive/archive-keys.js';
import { DomainArchive } from './archive/domain-archive.js';
import { DEFAULT_ARCHIVE_LIMITS } from './archive/workspace-archive.js';
import { runArchiveCycle } from './process/archive-cycles.js';
import { Archiver, DEFAULT_ARCHIVER_OPTIONS } from './process/archiver.js';
import { createBridgeMetrics } from './process/bridge-metrics.js';
import { startBridgeServer } from './process/bridge-server.js';
import { CycleRunner } from './process/cycle-runner.js';
import { CycleSchedule, ScheduleError } from './process/cycle-schedule.js';
import { BridgeTokens, CredentialsError, readDeviceKey } from './process/device-credentials.js';
import { storeFromOptions, STORE_FLAGS, STORE_HELP } from './store/store-options.js';
import { MeteredStore } from './store/metered-store.js';
import { ArchiveReader } from './archive/archive-reader.js';
import { ManagerLink } from './process/manager-link.js';
import { RestoreRunner } from './process/restore-runner.js';

export const BRIDGE_HELP = `grove bridge — the Data Bridge: archives the workspaces its device belongs to

Usage:
  grove bridge --device-key FILE --password-file FILE (--path DIR | --s3-bucket B …)
               --schedule CRON [--time-zone TZ] [--keep-last N] [--max-age-days N]
               [--suspend] [--immediate] [--workspaces ID,…] [--relay URL,…]
               [--port 8080] [--host 0.0.0.0] [--max-segment-bytes N] [--manager-poll S]

  --device-key FILE     the bridge device's key (JSON: managerUrl, domain, deviceId, identityId,
                        privateJwk; a device.json of grove enroll), e.g. a mounted Secret
  --password-file FILE  the archive password (a mounted Secret; or GROVE_ARCHIVE_PASSWORD)
${STORE_HELP}
  --schedule CRON       archive cycles: 5-field cron or @daily, @hourly, …, in --time-zone (UTC)
  --keep-last N         sealed segments kept per workspace (default 7)
  --max-age-days N      sealed segments whose newest message is older are removed too
  --suspend             no scheduled cycles (messages are still archived into open segments)
  --immediate           one cycle at start
  --workspaces ID,…     archive only these workspaces (default: every one the bridge receives)
  --relay URL,…         relays to use instead of the Manager's list
  --manager-poll S      ask the Manager this often for workspaces to join and restores to run
                        (default 10)

Never put the key or the password on the command line: they are read from files.
`;

export interface BridgeOptions {
  deviceKeyFile: string;
  password: string;
  schedule: CycleSchedule;
  keepLast: number;
  maxAgeDays: number | undefined;
  suspend: boolean;
  immediate: boolean;
  workspaces: Set<string> | undefined;
  relays: string[] | undefined;
  port: number;
  host: string;
  maxSegmentBytes: number;
  managerPollMs: number;
  storeArgs: Record<string, string | boolean | undefined>;
}

const usage = (message: string) => new CliError('USAGE', message, ExitCode.usage);

function positiveInt(
  value: string | undefined,
  flag: string,
  fallback: number | undefined,
  max: number,
): number | undefined {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw usage(`--${flag} must be an integer from 1 to ${max}`);
  return n;
}

export async function parseBridgeArgs(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<BridgeOptions> {
  const { values } = parseArgs({
    args,
    options: {
      'device-key': { type: 'string' },
      'password-file': { type: 'string' },
      schedule: { type: 'string' },
      'time-zone': { type: 'string' },
      'keep-last': { type: 'string' },
      'max-age-days': { type: 'string' },
      suspend: { type: 'boolean' },
      immediate: { type: 'boolean' },
      workspaces: { type: 'string' },
      relay: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      'max-segment-bytes': { type: 'string' },
      'manager-poll': { type: 'string' },
      ...STORE_FLAGS,
    },
  });
  const deviceKeyFile = values['device-key'] ?? env.GROVE_BRIDGE_DEVICE_KEY;
  if (deviceKeyFile === undefined || deviceKeyFile === '') throw usage('missing --device-key FILE');
  if (values.schedule === undefined) throw usage('missing --schedule CRON');
  let schedule: CycleSchedule;
  try {
    schedule = new CycleSchedule(values.schedule, values['time-zone'] ?? 'UTC');
  } catch (error) {
    if (error instanceof ScheduleError)
      throw new CliError(error.code, error.message, ExitCode.usage);
    throw error;
  }
  let password = env.GROVE_ARCHIVE_PASSWORD;
  const passwordFile = values['password-file'];
  if (passwordFile !== undefined) {
    try {
      // A Secret's file often ends in a newline the password does not have.
      password = (await readFile(passwordFile, 'utf8')).replace(/\r?\n$/, '');
    } catch (error) {
      throw new CliError(
        'CREDENTIALS_MISSING',
        `cannot read the archive password ${passwordFile}: ${(error as Error).message}`,
      );
    }
  }
  if (password === undefined || password === '') {
    throw new CliError(
      'CREDENTIALS_MISSING',
      'no archive password: give --password-file FILE (or GROVE_ARCHIVE_PASSWORD)',
    );
  }
  const list = (value: string | undefined) =>
    value === undefined
      ? undefined
      : value
          .split(',')
          .map((item) => item.trim())
          .filter((item) => item !== '');
  return {
    deviceKeyFile,
    password,
    schedule,
    keepLast: positiveInt(values['keep-last'], 'keep-last', 7, 1000) ?? 7,
    maxAgeDays: positiveInt(values['max-age-days'], 'max-age-days', undefined, 36_500),
    suspend: values.suspend === true,
    immediate: values.immediate === true,
    workspaces: values.workspaces === undefined ? undefined : new Set(list(values.workspaces)),
    relays: list(values.relay),
    // 0: any free port (tests).
    port: values.port === '0' ? 0 : (positiveInt(values.port, 'port', 8080, 65_535) ?? 8080),
    host: values.host ?? '0.0.0.0',
    maxSegmentBytes:
      positiveInt(
        values['max-segment-bytes'],
        'max-segment-bytes',
        DEFAULT_ARCHIVE_LIMITS.maxSegmentBytes,
        1024 ** 3,
      ) ?? DEFAULT_ARCHIVE_LIMITS.maxSegmentBytes,
    managerPollMs: (positiveInt(values['manager-poll'], 'manager-poll', 10, 3600) ?? 10) * 1000,
    storeArgs: values,
  };
}

async function retrying<T>(
  log: Logger,
  what: string,
  attempt: () => Promise<T>,
  fatal: (error: unknown) => boolean,
): Promise<T> {
  for (let failures = 0; ; failures++) {
    try {
      return await attempt();
    } catch (error) {
      if (fatal(error)) throw error;
      const delay = Math.min(30_000, 1000 * 2 ** Math.min(failures, 5));
      log.warn(`${what} failed; retrying`, { error: (error as Error).message, retryInMs: delay });
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/** `grove bridge`: runs until SIGTERM; see BRIDGE_HELP and docs/bridge.md. */
export async function runBridge(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  const options = await parseBridgeArgs(args, env);
  const log = jsonLogger('bridge');
  const metrics = createBridgeMetrics();
  const clock = () => new Date();
  let key;
  try {
    key = await readDeviceKey(options.deviceKeyFile);
  } catch (error) {
    if (error instanceof CredentialsError) throw new CliError(error.code, error.message);
    throw error;
  }
  const keyring = new ArchiveKeyring(options.password);
  const store = new MeteredStore(storeFromOptions(options.storeArgs, env), (kind, bytes) =>
    metrics.bytesWritten.inc({ kind }, bytes),
  );
  // Made one after another below; the endpoints and the shutdown see what exists so far.
  const live: {
    archive?: DomainArchive;
    client?: GroveClient;
    archiver?: Archiver;
    runner?: CycleRunner;
    managerPoll?: NodeJS.Timeout;
  } = {};
  const server = await startBridgeServer(
    {
      registry: metrics.registry,
      notReady: () => {
        if (live.archive === undefined)
          return `the archive store ${store.description} is not open yet`;
        if (live.client?.connected !== true) return 'no relay connection';
        const writeError = live.archiver?.lastError;
        if (writeError !== undefined) return `archive writes fail: ${writeError.message}`;
        return undefined;
      },
      status: () => ({
        domain: key.domain,
        device: key.deviceId,
        store: store.description,
        connected: live.client?.connected ?? false,
        bufferedMessages: live.archiver?.bufferedMessages ?? 0,
        lastError: live.archiver?.lastError,
        ...(live.runner?.status() ?? {}),
      }),
      runCycle: () => {
        if (live.runner === undefined) return Promise.reject(new Error('the bridge is starting'));
        return live.runner.trigger('manual');
      },
    },
    options.port,
    options.host,
  );
  log.info('listening', {
    port: (server.address() as AddressInfo).port,
    store: store.description,
    domain: key.domain,
  });

  stopOnSignals(log, {
    graceMs: 60_000,
    stop: async () => {
      const { runner, archiver, client } = live;
      clearInterval(live.managerPoll);
      await runner?.stop();
      archiver?.stop();
      // The last buffered messages written (and acknowledged) before the link closes.
      if (archiver !== undefined) await archiver.exclusive(() => archiver.flushBuffered());
      await client?.close();
      await store.close();
      await new Promise((resolve) => server.close(resolve));
    },
  });

  const wrongPassword = (error: unknown) => isArchiveError(error, 'ARCHIVE_WRONG_PASSWORD');
  const openedArchive = await retrying(
    log,
    `opening the archive of ${key.domain} in ${store.description}`,
    () =>
      DomainArchive.open(
        store,
        keyring,
        key.domain,
        { ...DEFAULT_ARCHIVE_LIMITS, maxSegmentBytes: options.maxSegmentBytes },
        clock,
      ),
    wrongPassword,
  ).catch((error: unknown) => {
    if (isArchiveError(error)) throw new CliError(error.code, error.message);
    throw error;
  });
  live.archive = openedArchive;
  const tokens = new BridgeTokens(key);
  await retrying(
    log,
    `getting a relay token from ${key.managerUrl}`,
    () => tokens.current(),
    () => false,
  );
  const relays = options.relays ?? tokens.relays;
  if (relays.length === 0)
    throw new CliError('NO_RELAYS', 'the Manager lists no relays for the domain; give --relay');
  const groveClient = new GroveClient({
    relays,
    token: () => tokens.current(),
    refreshRelays:
      options.relays === undefined
        ? async () => (await tokens.current(true), tokens.relays)
        : undefined,
    ackMode: 'explicit',
    onMessage: (message) => live.archiver?.receive(message),
  });
  live.client = groveClient;
  const activeArchiver = new Archiver(
    openedArchive,
    (message) => groveClient.acknowledge(message),
    metrics,
    log,
    clock,
    { ...DEFAULT_ARCHIVER_OPTIONS, workspaces: options.workspaces },
  );
  live.archiver = activeArchiver;
  groveClient.on('connected', () => {
    metrics.connected.set(1);
    log.info('connected to a relay');
  });
  groveClient.on('disconnected', () => metrics.connected.set(0));
  groveClient.on('resync', ({ reason }: { reason: string }) =>
    log.warn('the relay lost messages for the bridge before it archived them', { reason }),
  );
  groveClient.on('fatal', (error: Error) => {
    log.error('the relay refused the bridge device for good', { error: error.message });
    process.exit(1);
  });
  const runner = new CycleRunner(
    options.schedule,
    { suspend: options.suspend, immediate: options.immediate },
    (trigger) =>
      runArchiveCycle(trigger, {
        archive: openedArchive,
        archiver: activeArchiver,
        retention: {
          keepLast: options.keepLast,
          maxAgeMs: options.maxAgeDays === undefined ? undefined : options.maxAgeDays * 86_400_000,
        },
        metrics,
        log,
        clock,
      }),
    log,
    clock,
    (next) => metrics.nextCycle.set(next === undefined ? 0 : next.getTime() / 1000),
  );
  live.runner = runner;
  await groveClient.start();
  runner.start();

  // Workspaces selected after the last sync (new, or labelled since) and restores to run.
  const link = new ManagerLink(key.managerUrl, tokens);
  const restores = new RestoreRunner({
    domain: key.domain,
    reader: new ArchiveReader(store, keyring),
    pending: () => link.restores(),
    report: (id, progress) => link.report(id, progress),
    send: (to, data, id) => groveClient.send(to, data, { id }),
    log,
    reportEveryMs: 1000,
  });
  let polling = false;
  // Logged when it changes: a device not registered as a bridge gets 403 every poll.
  let lastPollError: string | undefined;
  const pollManager = async () => {
    if (polling) return;
    polling = true;
    try {
      const synced = await link.sync();
      if (synced.added.length > 0) log.info('joined workspaces', { added: synced.added });
      await restores.poll();
      if (lastPollError !== undefined) log.info('the Manager answers the bridge again');
      lastPollError = undefined;
    } catch (error) {
      const message = (error as Error).message;
      if (message !== lastPollError) {
        log.warn('asking the Manager for workspaces and restores failed', { error: message });
      }
      lastPollError = message;
    } finally {
      polling = false;
    }
  };
  void pollManager();
  live.managerPoll = setInterval(() => void pollManager(), options.managerPollMs);
}
