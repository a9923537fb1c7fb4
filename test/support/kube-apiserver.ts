import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';
import { ServiceProcess } from './service-process.js';

/** Paths of the binaries that scripts/k8s-binaries.sh builds. */
export interface KubeBinaries {
  etcd: string;
  kubeApiServer: string;
  kubeControllerManager: string;
  helm: string;
}

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const binariesScript = join(repoRoot, 'scripts/k8s-binaries.sh');

const envNames = {
  etcd: 'ETCD_BIN',
  kubeApiServer: 'KUBE_APISERVER_BIN',
  kubeControllerManager: 'KUBE_CONTROLLER_MANAGER_BIN',
  helm: 'HELM_BIN',
} as const satisfies Record<keyof KubeBinaries, string>;

/**
 * Where the Kubernetes binaries are: the ETCD_BIN, KUBE_APISERVER_BIN,
 * KUBE_CONTROLLER_MANAGER_BIN, HELM_BIN environment variables when set, otherwise the
 * cache paths `scripts/k8s-binaries.sh --print-env` reports (it never builds). Does not
 * check that the files exist; {@link requireKubeBinaries} does.
 */
export function kubeBinaries(env: NodeJS.ProcessEnv = process.env): KubeBinaries {
  const fromEnv = (key: keyof KubeBinaries): string | undefined => {
    const value = env[envNames[key]];
    return value === undefined || value === '' ? undefined : value;
  };
  const keys = Object.keys(envNames) as (keyof KubeBinaries)[];
  let printed: Map<string, string> | undefined;
  const fromScript = (key: keyof KubeBinaries): string => {
    if (printed === undefined) {
      // stderr is ignored: the script notes binaries that are not built yet there.
      const output = execFileSync('bash', [binariesScript, '--print-env'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      printed = new Map(
        output
          .split('\n')
          .map((line) => /^([A-Z_]+)=(.*)$/.exec(line))
          .filter((match) => match !== null)
          .map((match) => [match[1] ?? '', match[2] ?? '']),
      );
    }
    const value = printed.get(envNames[key]);
    if (value === undefined)
      throw new Error(`${binariesScript} --print-env printed no ${envNames[key]}`);
    return value;
  };
  const entries = keys.map((key) => [key, fromEnv(key) ?? fromScript(key)] as const);
  return Object.fromEntries(entries) as unknown as KubeBinaries;
}

/** Like {@link kubeBinaries}, but fails with the command to run when a binary is missing. */
export function requireKubeBinaries(
  which: readonly (keyof KubeBinaries)[] = ['etcd', 'kubeApiServer', 'kubeControllerManager'],
  overrides: Partial<KubeBinaries> = {},
): KubeBinaries {
  const binaries: KubeBinaries = { ...kubeBinaries(), ...overrides };
  const missing = which.filter((key) => !existsSync(binaries[key]));
  if (missing.length > 0) {
    throw new Error(
      `missing Kubernetes binaries (${missing.map((key) => binaries[key]).join(', ')}); ` +
        `build them once with scripts/k8s-binaries.sh (a cold build takes about 11 minutes on 2 cores), ` +
        `or point ${missing.map((key) => envNames[key]).join(', ')} at existing binaries`,
    );
  }
  return binaries;
}

export interface KubeApiServerOptions {
  /** Also start kube-controller-manager (garbage collection, namespace deletion, …). */
  controllerManager?: boolean;
  /** kube-controller-manager's --controllers; the default is the small set below. */
  controllers?: readonly string[];
  /** Extra kube-apiserver flags (e.g. --feature-gates=…), appended last. */
  apiServerArgs?: readonly string[];
  /** Keep the temp dir (certificates, logs, etcd data) after stop(), to debug a failure. */
  keepDir?: boolean;
  /** How long to wait for each process to become healthy. */
  startTimeoutMs?: number;
  binaries?: Partial<KubeBinaries>;
  /**
   * Runs once the API server is up, before kube-controller-manager starts: install CRDs here.
   * The garbage collector rediscovers resource types only every 30 s, and owners of a type it
   * did not know when their dependents appeared are retried with a growing backoff, so
   * owner-reference cleanup of custom resources is only prompt for CRDs installed first.
   */
  beforeControllerManager?: (server: KubeApiServer) => Promise<void>;
}

/**
 * What the operator's tests need with no pods: owner-reference garbage collection, namespace
 * deletion, and the default ServiceAccount (plus its token controller) in each namespace.
 */
export const defaultControllers = [
  'garbage-collector-controller',
  'namespace-controller',
  'serviceaccount-controller',
  'serviceaccount-token-controller',
] as const;

function openssl(cwd: string, args: string[]): void {
  const result = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (result.error !== undefined) {
    throw new Error(
      `cannot run openssl (Debian: apt-get install openssl): ${result.error.message}`,
    );
  }
  if (result.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${result.stderr}`);
}

/** Creates an ECDSA P-256 key (fast to generate, accepted by every component) and a CSR. */
function keyAndCsr(dir: string, name: string, subject: string): void {
  openssl(dir, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`]);
  openssl(dir, ['req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`]);
}

function signWithCa(dir: string, name: string, extensions: string[]): void {
  writeFileSync(join(dir, `${name}.ext`), `${extensions.join('\n')}\n`);
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '30',
    '-sha256',
    '-extfile',
    `${name}.ext`,
    '-out',
    `${name}.crt`,
  ]);
}

interface Pki {
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  saPublicKey: string;
  saPrivateKey: string;
  adminCert: string;
  adminKey: string;
  controllerManagerCert: string;
  controllerManagerKey: string;
}

function generatePki(dir: string): Pki {
  mkdirSync(dir, { recursive: true });
  openssl(dir, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key']);
  openssl(dir, [
    'req',
    '-x509',
    '-new',
    '-key',
    'ca.key',
    '-subj',
    '/CN=grove-test-ca',
    '-days',
    '30',
    '-sha256',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
    '-out',
    'ca.crt',
  ]);
  keyAndCsr(dir, 'apiserver', '/CN=kube-apiserver');
  signWithCa(dir, 'apiserver', [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth',
    // 10.0.0.1 is the `kubernetes` Service IP in --service-cluster-ip-range=10.0.0.0/24.
    'subjectAltName=IP:127.0.0.1,DNS:localhost,IP:10.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local',
  ]);
  const clientExtensions = [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=clientAuth',
  ];
  keyAndCsr(dir, 'admin', '/O=system:masters/CN=grove-admin');
  signWithCa(dir, 'admin', clientExtensions);
  // With --use-service-account-credentials=false every controller acts as this one user,
  // and the garbage collector must be able to delete any kind: system:masters covers that.
  keyAndCsr(dir, 'controller-manager', '/O=system:masters/CN=system:kube-controller-manager');
  signWithCa(dir, 'controller-manager', clientExtensions);
  openssl(dir, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'sa.key']);
  openssl(dir, ['ec', '-in', 'sa.key', '-pubout', '-out', 'sa.pub']);
  const path = (file: string): string => join(dir, file);
  return {
    caCert: path('ca.crt'),
    caKey: path('ca.key'),
    serverCert: path('apiserver.crt'),
    serverKey: path('apiserver.key'),
    saPublicKey: path('sa.pub'),
    saPrivateKey: path('sa.key'),
    adminCert: path('admin.crt'),
    adminKey: path('admin.key'),
    controllerManagerCert: path('controller-manager.crt'),
    controllerManagerKey: path('controller-manager.key'),
  };
}

function kubeconfig(server: string, ca: string, cert: string, key: string, user: string): string {
  const b64 = (file: string): string => readFileSync(file).toString('base64');
  // Certificates are embedded so the file stays valid wherever it is copied.
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: grove-test',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority-data: ${b64(ca)}`,
    'users:',
    `- name: ${user}`,
    '  user:',
    `    client-certificate-data: ${b64(cert)}`,
    `    client-key-data: ${b64(key)}`,
    'contexts:',
    '- name: grove-test',
    '  context:',
    '    cluster: grove-test',
    `    user: ${user}`,
    'current-context: grove-test',
    '',
  ].join('\n');
}

/** A server of the harness, started again on restarts; its output goes to a log file. */
class Daemon {
  private process: ServiceProcess | undefined;

  constructor(
    readonly name: string,
    private readonly binary: string,
    private readonly args: readonly string[],
    readonly logFile: string,
  ) {}

  start(): void {
    this.process = ServiceProcess.spawn({
      name: this.name,
      command: this.binary,
      args: this.args,
      logFile: this.logFile,
    });
  }

  async waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
    if (this.process === undefined) throw new Error(`${this.name} was not started`);
    await this.process.waitUntil(check, `${this.name} to become ready`, timeoutMs, 200);
  }

  /** Signals the process and waits for it to exit, escalating to SIGKILL after graceMs. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<void> {
    const stopping = this.process;
    this.process = undefined;
    await stopping?.stop(signal, graceMs);
  }
}

/** GET over HTTPS with a client certificate; resolves to the status code (0 if unreachable). */
function httpsStatus(url: string, tls: { ca: Buffer; cert: Buffer; key: Buffer }): Promise<number> {
  return new Promise((resolveStatus) => {
    const req = request(url, { ...tls, agent: false, timeout: 5_000 }, (res) => {
      res.resume();
      resolveStatus(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolveStatus(0));
    req.end();
  });
}

/** GET over HTTPS without verifying the server (kube-controller-manager's own cert). */
function insecureHttpsStatus(url: string): Promise<number> {
  return new Promise((resolveStatus) => {
    const req = request(url, { rejectUnauthorized: false, agent: false, timeout: 5_000 }, (res) => {
      res.resume();
      resolveStatus(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolveStatus(0));
    req.end();
  });
}

async function httpOk(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    return response.ok;
  } catch {
    return false;
  }
}

/**
 * A real etcd + kube-apiserver (+ optionally kube-controller-manager) on free loopback ports,
 * for tier-3 tests of the operator. No kubelet, so no pods ever run.
 */
export class KubeApiServer {
  private constructor(
    readonly dir: string,
    readonly port: number,
    readonly etcdUrl: string,
    readonly pki: Readonly<Pki>,
    readonly kubeconfigPath: string,
    private readonly etcd: Daemon,
    private readonly apiServer: Daemon,
    private readonly controllerManager: Daemon | undefined,
    private readonly keepDir: boolean,
    private readonly startTimeoutMs: number,
  ) {}

  /** The API server's base URL, e.g. https://127.0.0.1:41234. */
  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  get apiServerLog(): string {
    return this.apiServer.logFile;
  }

  static async start(options: KubeApiServerOptions = {}): Promise<KubeApiServer> {
    const binaries = requireKubeBinaries(
      options.controllerManager === true
        ? ['etcd', 'kubeApiServer', 'kubeControllerManager']
        : ['etcd', 'kubeApiServer'],
      options.binaries,
    );
    const startTimeoutMs = options.startTimeoutMs ?? 60_000;
    const dir = mkdtempSync(join(tmpdir(), 'grove-kube-'));
    const daemons: Daemon[] = [];
    try {
      const pki = generatePki(join(dir, 'pki'));
      const [etcdClientPort, etcdPeerPort, apiPort] = [
        await freePort(),
        await freePort(),
        await freePort(),
      ];
      const etcdUrl = `http://127.0.0.1:${etcdClientPort}`;
      const peerUrl = `http://127.0.0.1:${etcdPeerPort}`;

      const etcd = new Daemon(
        'etcd',
        binaries.etcd,
        [
          '--name=grove-test',
          `--data-dir=${join(dir, 'etcd')}`,
          `--listen-client-urls=${etcdUrl}`,
          `--advertise-client-urls=${etcdUrl}`,
          `--listen-peer-urls=${peerUrl}`,
          `--initial-advertise-peer-urls=${peerUrl}`,
          `--initial-cluster=grove-test=${peerUrl}`,
          // Test data is thrown away: skipping fsync makes every write much faster.
          '--unsafe-no-fsync',
          '--log-level=warn',
        ],
        join(dir, 'etcd.log'),
      );
      daemons.push(etcd);
      etcd.start();
      await etcd.waitUntil(async () => httpOk(`${etcdUrl}/health`), startTimeoutMs);

      const apiServer = new Daemon(
        'kube-apiserver',
        binaries.kubeApiServer,
        [
          `--etcd-servers=${etcdUrl}`,
          '--bind-address=127.0.0.1',
          '--advertise-address=127.0.0.1',
          `--secure-port=${apiPort}`,
          `--cert-dir=${join(dir, 'apiserver-certs')}`,
          `--tls-cert-file=${pki.serverCert}`,
          `--tls-private-key-file=${pki.serverKey}`,
          `--client-ca-file=${pki.caCert}`,
          '--authorization-mode=Node,RBAC',
          `--service-account-key-file=${pki.saPublicKey}`,
          `--service-account-signing-key-file=${pki.saPrivateKey}`,
          '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
          '--service-cluster-ip-range=10.0.0.0/24',
          // The `kubernetes` Endpoints may not hold a loopback address: validation rejects
          // it and the reconciler would log errors forever. Nothing in these tests needs it.
          '--endpoint-reconciler-type=none',
          '--profiling=false',
          ...(options.apiServerArgs ?? []),
        ],
        join(dir, 'kube-apiserver.log'),
      );

      const controllerManagerPort = await freePort();
      const controllerManager =
        options.controllerManager === true
          ? new Daemon(
              'kube-controller-manager',
              binaries.kubeControllerManager,
              [
                `--kubeconfig=${join(dir, 'controller-manager.kubeconfig')}`,
                `--controllers=${(options.controllers ?? defaultControllers).join(',')}`,
                '--use-service-account-credentials=false',
                `--service-account-private-key-file=${pki.saPrivateKey}`,
                `--root-ca-file=${pki.caCert}`,
                // One instance: skip the lease wait. A free port instead of the fixed 10257,
                // which parallel test runs would fight over; /healthz there says it is up.
                '--leader-elect=false',
                '--bind-address=127.0.0.1',
                `--secure-port=${controllerManagerPort}`,
                `--cert-dir=${join(dir, 'controller-manager-certs')}`,
                '--profiling=false',
              ],
              join(dir, 'kube-controller-manager.log'),
            )
          : undefined;

      const kubeconfigPath = join(dir, 'admin.kubeconfig');
      const server = new KubeApiServer(
        dir,
        apiPort,
        etcdUrl,
        pki,
        kubeconfigPath,
        etcd,
        apiServer,
        controllerManager,
        options.keepDir === true,
        startTimeoutMs,
      );
      daemons.push(apiServer);
      await server.launchApiServer();
      writeFileSync(
        kubeconfigPath,
        kubeconfig(server.url, pki.caCert, pki.adminCert, pki.adminKey, 'grove-admin'),
        { mode: 0o600 },
      );
      await options.beforeControllerManager?.(server);
      if (controllerManager !== undefined) {
        writeFileSync(
          join(dir, 'controller-manager.kubeconfig'),
          kubeconfig(
            server.url,
            pki.caCert,
            pki.controllerManagerCert,
            pki.controllerManagerKey,
            'system:kube-controller-manager',
          ),
          { mode: 0o600 },
        );
        daemons.push(controllerManager);
        controllerManager.start();
        // /healthz is open to anyone (--authorization-always-allow-paths) and serves a
        // self-signed certificate; it answers once the controllers have been started.
        await controllerManager.waitUntil(
          async () =>
            (await insecureHttpsStatus(`https://127.0.0.1:${controllerManagerPort}/healthz`)) ===
            200,
          startTimeoutMs,
        );
      }
      return server;
    } catch (error) {
      await Promise.all(daemons.map((daemon) => daemon.stop('SIGKILL')));
      if (options.keepDir !== true) rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** Status of GET `path` as the admin user (0 when the server does not answer). */
  async adminGetStatus(path: string): Promise<number> {
    return httpsStatus(`${this.url}${path}`, {
      ca: readFileSync(this.pki.caCert),
      cert: readFileSync(this.pki.adminCert),
      key: readFileSync(this.pki.adminKey),
    });
  }

  private async launchApiServer(): Promise<void> {
    this.apiServer.start();
    // /readyz turns 200 only after etcd is reachable and the post-start hooks (RBAC
    // bootstrap roles, system priority levels, …) have finished.
    await this.apiServer.waitUntil(
      async () => (await this.adminGetStatus('/readyz')) === 200,
      this.startTimeoutMs,
    );
  }

  /**
   * Stops the kube-apiserver process only and starts it again on the same port with the same
   * certificates and etcd: clients and watches see the connection drop, then the same server.
   *
   * The default is a graceful stop (SIGTERM: the listener closes at once, open connections
   * are drained) cut short with SIGKILL after `graceMs`, as a kubelet does after a pod's grace
   * period: with watches open (a controller manager or an informer always has some), the
   * API server waits for them up to --request-timeout (60 s) before it exits on its own.
   * `signal: 'SIGKILL'` simulates a crash. `downMs` keeps the port closed that much longer.
   */
  async restartApiServer(
    options: { signal?: NodeJS.Signals; graceMs?: number; downMs?: number } = {},
  ): Promise<void> {
    await this.apiServer.stop(options.signal ?? 'SIGTERM', options.graceMs ?? 5_000);
    if (options.downMs !== undefined && options.downMs > 0) {
      await new Promise((resolveDelay) => setTimeout(resolveDelay, options.downMs));
    }
    await this.launchApiServer();
  }

  /** Kills every process this harness started and removes its temp dir. */
  async stop(): Promise<void> {
    // SIGKILL: all state is thrown away, so a graceful shutdown would only cost time.
    await this.controllerManager?.stop('SIGKILL');
    await this.apiServer.stop('SIGKILL');
    await this.etcd.stop('SIGKILL');
    if (!this.keepDir) rmSync(this.dir, { recursive: true, force: true });
  }
}
