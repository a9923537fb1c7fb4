import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import type { DomainSigningKey } from '../contracts/auth/device-token.js';
import { RedisManagerStore } from '../manager/store/redis-manager-store.js';
import { connectRedis } from '../contracts/redis/connection.js';
import { bootstrapTokenFile, loadOrCreateBootstrapToken } from './bootstrap-token.js';
import { loadLocalConfig } from './config.js';
import { seedDomain } from './seed.js';
import { loadOrCreateDomainKeys } from './domain-keys.js';
import {
  loadOrCreateRedisPassword,
  redisPasswordFile,
  restrictRedisFiles,
  withPrivateUmask,
  writeRedisConf,
} from './redis-auth.js';
import { localRelayConfigs } from './relay-configs.js';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');

async function sleep(ms: number) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`${what} did not come up within ${timeoutMs / 1000} s`);
}

function pipeWithPrefix(child: ChildProcess, prefix: string) {
  for (const stream of [child.stdout, child.stderr]) {
    let buffered = '';
    stream?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) process.stderr.write(`[${prefix}] ${line}\n`);
    });
  }
}

/**
 * `grove local` (npm start): redis-server with AOF in the data folder, the directory seeded
 * from the config, and the relay processes; Ctrl-C drains the relays and stops Redis.
 */
export async function runLocalStack(configFile: string): Promise<void> {
  const config = await loadLocalConfig(configFile);
  const spec = config.stack.spec;
  const dataDir = spec.dataDir;
  const redisDir = path.join(dataDir, 'redis');
  await mkdir(redisDir, { recursive: true, mode: 0o700 });
  // Redis asks for a password (made once, kept 0600 beside the AOF), and its files are 0600.
  const redisPassword = await loadOrCreateRedisPassword(redisDir);
  const redisConf = await writeRedisConf(redisDir, redisPassword);
  await restrictRedisFiles(redisDir);
  const children: { name: string; child: ChildProcess }[] = [];
  let stopping = false;

  const stopAll = async (exitCode: number) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write('grove: stopping: the Manager and relays (draining), then Redis\n');
    const relays = children.filter((c) => c.name !== 'redis');
    await Promise.all(relays.map(({ child }) => stopChild(child, 'SIGTERM', 40_000)));
    const redis = children.find((c) => c.name === 'redis');
    if (redis !== undefined) await stopChild(redis.child, 'SIGTERM', 10_000);
    process.exit(exitCode);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  const redisUrl = `redis://127.0.0.1:${spec.redis.port}`;
  const probe = new Redis(redisUrl, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  probe.on('error', () => undefined);
  if (
    await probe.connect().then(
      () => true,
      () => false,
    )
  ) {
    probe.disconnect();
    throw new Error(
      `port ${spec.redis.port} is already in use (another local stack?): stop it, or set spec.redis.port in ${config.file}`,
    );
  }
  // The config file first (redis-server's rule): it holds requirepass, so the password is in
  // no argv. umask 077: the AOF files redis-server creates (and rewrites) are 0600.
  const redis = withPrivateUmask(() =>
    spawn(
      'redis-server',
      [
        redisConf,
        '--port',
        String(spec.redis.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        redisDir,
        '--appendonly',
        'yes',
        '--appendfsync',
        spec.redis.appendfsync,
        '--save',
        '',
        '--maxmemory-policy',
        'noeviction',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    ),
  );
  redis.on('error', (error) => {
    process.stderr.write(
      `grove: cannot start redis-server (${error.message}); install it: apt-get install redis-server\n`,
    );
    void stopAll(1);
  });
  children.push({ name: 'redis', child: redis });
  pipeWithPrefix(redis, 'redis');
  await waitUntil('redis-server', async () => {
    const client = new Redis(redisUrl, {
      lazyConnect: true,
      password: redisPassword,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.ping();
      return true;
    } finally {
      client.disconnect();
    }
  });

  const keys = new Map<string, DomainSigningKey[]>();
  for (const domain of config.domains) {
    keys.set(domain.metadata.name, await loadOrCreateDomainKeys(dataDir, domain.metadata.name));
  }
  const commands = connectRedis(
    { url: redisUrl, cluster: false, password: redisPassword },
    'commands',
  );
  const store = new RedisManagerStore(commands);
  for (const seed of spec.seed) await seedDomain(store, commands, seed, new Date());
  const bootstrapToken = await loadOrCreateBootstrapToken(dataDir);
  // A token revoked through the API stays revoked (the Manager never makes it again).
  const bootstrapRevoked =
    (await store.ensureBootstrapToken(bootstrapToken, new Date())) === 'revoked';
  commands.disconnect();

  const configsDir = path.join(dataDir, 'relays');
  await mkdir(configsDir, { recursive: true });
  for (const relay of localRelayConfigs(config, keys)) {
    const file = path.join(configsDir, `${relay.name}.json`);
    await writeFile(file, `${JSON.stringify(relay.config, null, 2)}\n`, { mode: 0o600 });
    const child = spawn(
      process.execPath,
      [path.join(root, 'bin', 'grove.js'), 'relay', '--config', file],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        // The password from the environment, not the config file.
        env: { ...process.env, GROVE_REDIS_PASSWORD: redisPassword },
      },
    );
    children.push({ name: relay.name, child });
    pipeWithPrefix(child, relay.name);
    child.on('exit', (code, signal) => {
      if (stopping) return;
      process.stderr.write(
        `grove: ${relay.name} exited (${signal ?? String(code)}); stopping the stack\n`,
      );
      void stopAll(1);
    });
    const port = relay.config.port ?? 0;
    await waitUntil(`relay ${relay.name}`, async () => {
      const response = await fetch(`http://127.0.0.1:${port}/readyz`);
      return response.ok;
    });
  }
  const managerPort = spec.manager.port;
  const manager = spawn(
    process.execPath,
    [
      path.join(root, 'bin', 'grove.js'),
      'manager',
      '--config',
      config.file,
      '--host',
      '127.0.0.1',
      '--port',
      String(managerPort),
      '--metrics-port',
      String(spec.manager.metricsPort),
      '--redis',
      redisUrl,
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        GROVE_BOOTSTRAP_TOKEN: bootstrapToken,
        GROVE_REDIS_PASSWORD: redisPassword,
      },
    },
  );
  children.push({ name: 'manager', child: manager });
  pipeWithPrefix(manager, 'manager');
  manager.on('exit', (code, signal) => {
    if (stopping) return;
    process.stderr.write(`grove: manager exited (${signal ?? String(code)}); stopping the stack\n`);
    void stopAll(1);
  });
  await waitUntil('manager', async () => {
    const response = await fetch(`http://127.0.0.1:${managerPort}/readyz`);
    return response.ok;
  });
  redis.on('exit', (code) => {
    if (stopping) return;
    process.stderr.write(`grove: redis-server exited (${String(code)}); stopping the stack\n`);
    void stopAll(1);
  });

  const seed = spec.seed[0];
  const first = seed?.members.find((m) => m.devices.length > 0);
  const other = seed?.members.find((m) => m !== first && m.devices.length > 0);
  const lines = [
    '',
    'Grove local stack is running.',
    `  Redis:   ${redisUrl} (AOF in ${redisDir}; password in ${redisPasswordFile(redisDir)})`,
    ...spec.relays.map(
      (relay) =>
        `  Relay:   ws://127.0.0.1:${relay.port}  (${relay.name}; metrics http://127.0.0.1:${relay.metricsPort}/metrics)`,
    ),
    `  Manager: http://127.0.0.1:${managerPort}/  (admin web UI and API; metrics http://127.0.0.1:${spec.manager.metricsPort}/metrics)`,
    `  Admin token (bootstrap, server-admin): ${bootstrapToken}`,
    `    (kept in ${bootstrapTokenFile(dataDir)})`,
    ...(bootstrapRevoked
      ? ['    REVOKED: it no longer works; delete that file for a new one at the next start']
      : []),
    '',
  ];
  if (seed !== undefined && first !== undefined && other !== undefined) {
    const tokenPath = path.relative(process.cwd(), bootstrapTokenFile(dataDir));
    const stateDir = (member: typeof first) =>
      path.relative(process.cwd(), path.join(dataDir, '..', 'devices', member.identity));
    const enroll = (member: typeof first) =>
      `  npm run -s grove -- enroll --manager "$GROVE_MANAGER_URL" --state ${stateDir(member)} --code "$(npm run -s grove -- admin codes issue --domain ${seed.domain} --member ${member.identity} --raw)"`;
    lines.push(
      'Try it, in another terminal: enroll two devices, then send from one to the other.',
      `  export GROVE_MANAGER_URL=http://127.0.0.1:${managerPort} GROVE_ADMIN_TOKEN=$(cat ${tokenPath})`,
      enroll(first),
      enroll(other),
      `  npm run -s grove -- send --state ${stateDir(first)} --to identity:${other.identity} --data 'hello'`,
      `  npm run -s grove -- listen --state ${stateDir(other)} --count 1`,
      `Admin web UI: http://127.0.0.1:${managerPort}/ (sign in with the admin token above).`,
      '',
    );
  }
  lines.push('Press Ctrl-C to stop.', '');
  process.stdout.write(lines.join('\n'));
}

async function stopChild(
  child: ChildProcess,
  signal: NodeJS.Signals,
  timeoutMs: number,
): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
}
