import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  BucketAlreadyOwnedByYou,
  CreateBucketCommand,
  DeleteObjectCommand,
  ListBucketsCommand,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { freePort } from './ports.js';
import { ServiceProcess } from './service-process.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const buildScript = join(repoRoot, 'scripts/s3-server.sh');

/**
 * Where SeaweedFS's `weed` is: SEAWEEDFS_BIN when set, otherwise the cache path that
 * `scripts/s3-server.sh --print-env` reports (it never builds). Does not check the file.
 */
export function seaweedfsBinary(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.SEAWEEDFS_BIN;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  // stderr is ignored: the script notes there that the binary is not built yet.
  const output = execFileSync('bash', [buildScript, '--print-env'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const match = /^SEAWEEDFS_BIN=(.*)$/m.exec(output);
  if (match?.[1] === undefined)
    throw new Error(`${buildScript} --print-env printed no SEAWEEDFS_BIN`);
  return match[1];
}

export interface S3ServerOptions {
  /** Buckets to create once the server is up (default: one, `grove-test`). */
  buckets?: readonly string[];
  accessKeyId?: string;
  secretAccessKey?: string;
  /** Keep the temp dir (data, log, config) after stop(), to debug a failure. */
  keepDir?: boolean;
  /** How long start() and restart() wait for the server (default 60 s). */
  startTimeoutMs?: number;
  /** The `weed` binary; default {@link seaweedfsBinary}. */
  binary?: string;
}

/** The loopback ports one `weed server` listens on (HTTP and gRPC of each part). */
interface Ports {
  master: number;
  masterGrpc: number;
  volume: number;
  volumeGrpc: number;
  filer: number;
  filerGrpc: number;
  s3: number;
  s3Grpc: number;
}

async function freePorts(): Promise<Ports> {
  const taken = new Set<number>();
  const next = async (): Promise<number> => {
    for (;;) {
      const port = await freePort();
      if (!taken.has(port)) {
        taken.add(port);
        return port;
      }
    }
  };
  return {
    master: await next(),
    masterGrpc: await next(),
    volume: await next(),
    volumeGrpc: await next(),
    filer: await next(),
    filerGrpc: await next(),
    s3: await next(),
    s3Grpc: await next(),
  };
}

async function httpStatus(url: string): Promise<number> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    await response.body?.cancel();
    return response.status;
  } catch {
    return 0;
  }
}

/**
 * A real S3-compatible object store for a test: SeaweedFS (`weed server -filer -s3`: master,
 * volume server, filer and S3 gateway in one process) on free loopback ports, with its data in
 * a temp dir, static credentials (SigV4) and path-style addressing. Build the binary once with
 * `scripts/s3-server.sh` (`npm test` does).
 *
 * kill() stops it (SIGKILL by default: a crash) and keeps its data; restart() starts it again
 * on the same ports and data dir; stop() kills it and removes the temp dir. Write
 * `afterAll(() => server?.stop())`: a watchdog also kills it if the test process dies.
 *
 * After a restart the master refuses new writes for a 15 s warm-up (fixed in SeaweedFS: three
 * 5 s heartbeat pulses, so volume servers can report back), and the S3 gateway holds a PUT
 * until then; restart() waits for it by default, so a restart takes about 17 s.
 */
export class S3Server {
  private process: ServiceProcess | undefined;

  readonly region = 'us-east-1';

  /** The key start() and restart() write and delete in the first bucket to see writes work. */
  static readonly probeKey = '.grove-s3-server-probe';

  private constructor(
    readonly dir: string,
    private readonly ports: Ports,
    readonly accessKeyId: string,
    readonly secretAccessKey: string,
    readonly buckets: readonly string[],
    private readonly binary: string,
    private readonly keepDir: boolean,
    private readonly startTimeoutMs: number,
  ) {}

  /** The S3 endpoint, e.g. http://127.0.0.1:41234 (path-style: /<bucket>/<key>). */
  get endpoint(): string {
    return `http://127.0.0.1:${this.ports.s3}`;
  }

  get port(): number {
    return this.ports.s3;
  }

  /** The first bucket of the options (`grove-test` by default). */
  get bucket(): string {
    const first = this.buckets[0];
    if (first === undefined) throw new Error('S3Server was started with no bucket');
    return first;
  }

  get dataDir(): string {
    return join(this.dir, 'data');
  }

  get logFile(): string {
    return join(this.dir, 'weed.log');
  }

  get running(): boolean {
    return this.process?.running ?? false;
  }

  get credentials(): { accessKeyId: string; secretAccessKey: string } {
    return { accessKeyId: this.accessKeyId, secretAccessKey: this.secretAccessKey };
  }

  /** What an `S3Client` needs to talk to this server; `overrides` are merged in last. */
  clientConfig(overrides: S3ClientConfig = {}): S3ClientConfig {
    return {
      endpoint: this.endpoint,
      region: this.region,
      forcePathStyle: true,
      credentials: this.credentials,
      ...overrides,
    };
  }

  static async start(options: S3ServerOptions = {}): Promise<S3Server> {
    const binary = options.binary ?? seaweedfsBinary();
    if (!existsSync(binary)) {
      throw new Error(
        `missing SeaweedFS (${binary}); build it once with scripts/s3-server.sh ` +
          `(a cold build takes 8 to 13 minutes), or point SEAWEEDFS_BIN at one`,
      );
    }
    const ports = await freePorts();
    const dir = mkdtempSync(join(tmpdir(), 'grove-s3-'));
    const server = new S3Server(
      dir,
      ports,
      options.accessKeyId ?? 'grove-test-access-key',
      options.secretAccessKey ?? 'grove-test-secret-key',
      options.buckets ?? ['grove-test'],
      binary,
      options.keepDir === true,
      options.startTimeoutMs ?? 60_000,
    );
    mkdirSync(server.dataDir);
    // One identity with every action: the static credentials the tests sign requests with.
    // Requests without a valid signature are refused (403).
    writeFileSync(
      join(dir, 's3.json'),
      JSON.stringify({
        identities: [
          {
            name: 'grove',
            credentials: [{ accessKey: server.accessKeyId, secretKey: server.secretAccessKey }],
            actions: ['Admin', 'Read', 'Write', 'List', 'Tagging'],
          },
        ],
      }),
      { mode: 0o600 },
    );
    try {
      await server.launch();
      const client = new S3Client(server.clientConfig());
      try {
        for (const bucket of server.buckets) await createBucketIfMissing(client, bucket);
      } finally {
        client.destroy();
      }
      await server.waitWritable();
    } catch (error) {
      await server.stop();
      throw error;
    }
    return server;
  }

  private args(): string[] {
    const { ports } = this;
    return [
      'server',
      `-dir=${this.dataDir}`,
      // Loopback only, for every part; the default -ip is the host's address.
      '-ip=127.0.0.1',
      '-ip.bind=127.0.0.1',
      `-master.port=${ports.master}`,
      `-master.port.grpc=${ports.masterGrpc}`,
      // Otherwise it reports usage to a server outside this machine.
      '-master.telemetry=false',
      // A restarted single master waits this long for an election before it leads.
      '-master.electionTimeout=1s',
      // Small volumes (allocated lazily, 7 per bucket); as many as the disk allows.
      '-master.volumeSizeLimitMB=64',
      '-volume.max=0',
      `-volume.port=${ports.volume}`,
      `-volume.port.grpc=${ports.volumeGrpc}`,
      '-volume.preStopSeconds=0',
      '-filer',
      `-filer.port=${ports.filer}`,
      `-filer.port.grpc=${ports.filerGrpc}`,
      `-filer.localSocket=${join(this.dir, 'filer.sock')}`,
      '-s3',
      `-s3.port=${ports.s3}`,
      `-s3.port.grpc=${ports.s3Grpc}`,
      `-s3.localSocket=${join(this.dir, 's3.sock')}`,
      // The Iceberg catalog and Lance namespace servers would take fixed ports.
      '-s3.port.iceberg=0',
      '-s3.port.lance=0',
      `-s3.config=${join(this.dir, 's3.json')}`,
    ];
  }

  private async waitUntil(check: () => Promise<boolean>, what: string): Promise<void> {
    if (this.process === undefined) throw new Error('S3Server is not running');
    await this.process.waitUntil(check, what, this.startTimeoutMs, 200);
  }

  /** Starts the process and waits until the S3 API answers a signed request. */
  private async launch(): Promise<void> {
    if (this.running) throw new Error('S3Server is already running');
    this.process = ServiceProcess.spawn({
      name: 'weed',
      command: this.binary,
      args: this.args(),
      logFile: this.logFile,
    });
    const client = new S3Client(this.clientConfig({ maxAttempts: 1 }));
    try {
      await this.waitUntil(async () => {
        await client.send(new ListBucketsCommand({}));
        return true;
      }, `SeaweedFS S3 on port ${this.ports.s3}`);
    } finally {
      client.destroy();
    }
  }

  /**
   * Waits until a PUT goes through at once. Two things hold writes back for a few seconds:
   * the master's warm-up after a restart (no file ids assigned), and, after any start, the
   * filer's lock ring (each S3 write takes a lock, refused until the filer has registered with
   * the master). So: one file id from each bucket's collection (SeaweedFS keeps a bucket's
   * objects in a collection of its name; this also grows its volumes up front), then a PUT
   * and a DELETE of {@link S3Server.probeKey} in the first bucket.
   */
  async waitWritable(): Promise<void> {
    for (const bucket of this.buckets) {
      const url = `http://127.0.0.1:${this.ports.master}/dir/assign?collection=${encodeURIComponent(bucket)}`;
      await this.waitUntil(
        async () => (await httpStatus(url)) === 200,
        `SeaweedFS master on port ${this.ports.master} to accept writes to ${bucket}`,
      );
    }
    const bucket = this.buckets[0];
    if (bucket === undefined) return;
    const client = new S3Client(this.clientConfig({ maxAttempts: 1 }));
    try {
      await this.waitUntil(async () => {
        await client.send(
          new PutObjectCommand({ Bucket: bucket, Key: S3Server.probeKey, Body: 'probe' }),
        );
        await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: S3Server.probeKey }));
        return true;
      }, `a PUT to SeaweedFS S3 on port ${this.ports.s3}`);
    } finally {
      client.destroy();
    }
  }

  /**
   * Stops the server and keeps its data: SIGKILL (the default) is a crash, and loses nothing
   * that was acknowledged (it is in the page cache). SIGTERM is a graceful stop, which in
   * SeaweedFS 4.53 takes about 17 s (the filer waits 15 s on a metadata-log flush), so it is
   * cut short with SIGKILL after `graceMs`.
   */
  async kill(signal: NodeJS.Signals = 'SIGKILL', graceMs = 20_000): Promise<void> {
    const stopping = this.process;
    this.process = undefined;
    await stopping?.stop(signal, graceMs);
    this.removeGrpcSockets();
  }

  /**
   * Starts the server again on the same ports and data (after kill(); if it is still running,
   * kills it first). `waitWritable: false` returns as soon as the S3 API answers, during the
   * master's warm-up, when a PUT is held for up to 15 s.
   */
  async restart(options: { waitWritable?: boolean } = {}): Promise<void> {
    if (this.running) await this.kill();
    await this.launch();
    if (options.waitWritable !== false) await this.waitWritable();
  }

  /** Kills the server and removes its temp dir (unless keepDir). */
  async stop(): Promise<void> {
    await this.kill();
    if (!this.keepDir) rmSync(this.dir, { recursive: true, force: true });
  }

  /** SeaweedFS also serves each gRPC port on /tmp/seaweedfs-<part>-grpc-<port>.sock. */
  private removeGrpcSockets(): void {
    const { ports } = this;
    const sockets: [string, number][] = [
      ['master', ports.masterGrpc],
      ['volume', ports.volumeGrpc],
      ['filer', ports.filerGrpc],
      ['s3', ports.s3Grpc],
    ];
    for (const [part, port] of sockets) {
      rmSync(`/tmp/seaweedfs-${part}-grpc-${port}.sock`, { force: true });
    }
  }
}

async function createBucketIfMissing(client: S3Client, bucket: string): Promise<void> {
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (error) {
    if (!(error instanceof BucketAlreadyOwnedByYou)) throw error;
  }
}
