import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { e2eEnv } from './env.js';

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (killed after timeoutMs); never throws for a non-zero exit. */
export function runCommand(
  command: string,
  args: readonly string[],
  options: { timeoutMs?: number; input?: string; env?: Record<string, string> } = {},
): Promise<CommandResult> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`${command} ${args.join(' ')} did not finish within ${timeoutMs} ms: ${stderr}`),
      );
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    // A command that exits without reading its input (kubectl get) closes the pipe first:
    // EPIPE on stdin is not the command's failure, its exit code says that.
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

async function checked(
  command: string,
  args: readonly string[],
  options: { timeoutMs?: number; input?: string } = {},
): Promise<string> {
  const result = await runCommand(command, args, options);
  if (result.code !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} exited ${String(result.code)}: ${result.stderr.trim() || result.stdout.trim()}`,
    );
  }
  return result.stdout;
}

/** kubectl ARGS against the suite's cluster; throws with its stderr on failure. */
export function kubectl(
  args: readonly string[],
  options: { timeoutMs?: number; input?: string } = {},
): Promise<string> {
  const env = e2eEnv();
  return checked(
    env.kubectl,
    ['--kubeconfig', env.kubeconfig, '--request-timeout=30s', ...args],
    options,
  );
}

/** helm ARGS against the suite's cluster. */
export function helm(
  args: readonly string[],
  options: { timeoutMs?: number } = {},
): Promise<string> {
  const env = e2eEnv();
  return checked(env.helm, ['--kubeconfig', env.kubeconfig, ...args], options);
}

/** A Kubernetes object as kubectl prints it with -o json (the fields the suite reads). */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    generation?: number;
    resourceVersion?: string;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    finalizers?: string[];
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  data?: Record<string, string>;
}

export async function getObject(
  kind: string,
  name: string,
  namespace: string = e2eEnv().namespace,
): Promise<KubeObject | undefined> {
  const result = await runCommand(e2eEnv().kubectl, [
    '--kubeconfig',
    e2eEnv().kubeconfig,
    '--request-timeout=30s',
    '-n',
    namespace,
    'get',
    kind,
    name,
    '-o',
    'json',
    '--ignore-not-found',
  ]);
  if (result.code !== 0) throw new Error(`kubectl get ${kind} ${name}: ${result.stderr.trim()}`);
  return result.stdout.trim() === '' ? undefined : (JSON.parse(result.stdout) as KubeObject);
}

export async function mustGet(
  kind: string,
  name: string,
  namespace: string = e2eEnv().namespace,
): Promise<KubeObject> {
  const object = await getObject(kind, name, namespace);
  if (object === undefined) throw new Error(`${kind} ${namespace}/${name} not found`);
  return object;
}

export async function listObjects(
  kind: string,
  options: { namespace?: string; selector?: string } = {},
): Promise<KubeObject[]> {
  const args = ['-n', options.namespace ?? e2eEnv().namespace, 'get', kind, '-o', 'json'];
  if (options.selector !== undefined) args.push('-l', options.selector);
  const list = JSON.parse(await kubectl(args)) as { items: KubeObject[] };
  return list.items;
}

/** kubectl apply of a manifest given as text (YAML or JSON). */
export async function apply(manifest: string): Promise<void> {
  await kubectl(['apply', '-f', '-'], { input: manifest });
}

/**
 * Polls until `probe` returns a value that is not undefined; throws after timeoutMs with what
 * the last probe reported (`describe`, or the last error).
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  options: { timeoutMs?: number; intervalMs?: number; describe?: () => Promise<string> } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      let state = '';
      try {
        state = options.describe === undefined ? '' : `; now: ${await options.describe()}`;
      } catch (error) {
        state = `; (describe failed: ${String(error)})`;
      }
      const cause =
        lastError === undefined
          ? ''
          : `; last error: ${lastError instanceof Error ? lastError.message : JSON.stringify(lastError)}`;
      throw new Error(
        `timed out after ${options.timeoutMs ?? 120_000} ms waiting for ${what}${state}${cause}`,
      );
    }
    await sleep(options.intervalMs ?? 500);
  }
}

export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  observedGeneration?: number;
}

export function conditionOf(object: KubeObject, type: string): Condition | undefined {
  const conditions = (object.status?.conditions ?? []) as Condition[];
  return conditions.find((c) => c.type === type);
}

/** The object's Ready condition is True for its current generation. */
export function isReadyNow(object: KubeObject): boolean {
  const ready = conditionOf(object, 'Ready');
  return (
    ready?.status === 'True' && object.status?.observedGeneration === object.metadata.generation
  );
}

/** GET on the API server's proxy to a pod's port (works on any cluster, from anywhere). */
export function podProxyGet(pod: string, port: number, path: string): Promise<string> {
  const ns = e2eEnv().namespace;
  return kubectl(['get', '--raw', `/api/v1/namespaces/${ns}/pods/${pod}:${port}/proxy${path}`]);
}
