import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DEFAULT_RELAY_LIMITS } from '../../crds/relay-limits.js';
import { loadOrCreateDomainKeys } from '../../local/domain-keys.js';
import { waitFor } from '../../test/support/ports.js';
import { runGrove, type CliRun } from '../../test/support/grove-cli.js';
import { tokenFor, type RelayProcess, type TestDomain } from '../../test/support/relay-process.js';
import { startRelayStack, type RelayStack } from '../../test/support/relay-stack.js';
import { GroveClient } from '../sdk/grove-client.js';

const root = join(fileURLToPath(import.meta.url), '..', '..', '..');
const bin = join(root, 'bin', 'grove.js');

type Run = CliRun;

/** Runs `grove ARGS` to completion. */
function grove(args: string[], timeoutMs = 30_000): Promise<Run> {
  return runGrove(args, { timeoutMs });
}

/** The JSON objects of each output line. */
function lines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('grove CLI', () => {
  let stack: RelayStack;
  let relay: RelayProcess;
  let domain: TestDomain;
  let dir: string;
  let configFile: string;
  const running: ChildProcess[] = [];

  const token = (identity: string, device: string) => tokenFor(domain, identity, device);
  const connection = async (identity: string, device: string) => [
    '--relay',
    relay.url,
    '--token',
    await token(identity, device),
  ];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'grove-cli-'));
    // The key `grove token issue` signs with: the relay must trust it.
    const keys = await loadOrCreateDomainKeys(join(dir, 'data'), 'example');
    const key = keys.at(-1);
    if (key === undefined) throw new Error('no domain key');
    domain = { name: 'example', key, limits: { ...DEFAULT_RELAY_LIMITS } };
    stack = await startRelayStack({
      domains: [domain],
      seed: {
        example: { identities: { alice: ['a1'], bob: ['b1', 'b2', 'b3', 'b4'], carol: ['c1'] } },
      },
    });
    relay = stack.relay();
    configFile = join(dir, 'grove.yaml');
    writeFileSync(
      configFile,
      `apiVersion: grove.dev/v1alpha1
kind: Domain
metadata:
  name: example
spec:
  relayPools: [local]
  tokenTTLSeconds: 600
---
apiVersion: grove.dev/v1alpha1
kind: RelayPool
metadata:
  name: local
spec:
  redis:
    external:
      url: ${stack.redis.url}
---
apiVersion: grove.dev/v1alpha1
kind: LocalStack
metadata:
  name: local
spec:
  dataDir: ./data
  relayPool: local
  relays:
    - port: 1
  seed:
    - domain: example
      members:
        - identity: alice
          devices: [a1]
        - identity: bob
          devices: [b1, b2, b3, b4]
        - identity: carol
          devices: [c1]
`,
    );
  });

  afterAll(async () => {
    for (const child of running) child.kill('SIGKILL');
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('token issue', () => {
    it('prints a token the relay accepts, and the raw token with --raw', async () => {
      const common = ['token', 'issue', '--config', configFile, '--domain', 'example'];
      const [json, raw] = await Promise.all([
        grove([...common, '--identity', 'alice', '--device', 'a1']),
        grove([...common, '--identity', 'bob', '--device', 'b1', '--ttl', '120', '--raw']),
      ]);
      expect([json.code, json.stderr]).toEqual([0, '']);
      const [issued, ...rest] = lines(json.stdout);
      expect(rest).toEqual([]);
      expect(issued).toEqual({
        token: expect.any(String),
        domain: 'example',
        identity: 'alice',
        device: 'a1',
        expiresIn: 600,
      });
      expect([raw.code, raw.stderr]).toEqual([0, '']);
      expect(raw.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);

      for (const value of [String(issued?.['token']), raw.stdout.trim()]) {
        const client = new GroveClient({
          relays: [relay.url],
          token: value,
          transport: 'websocket',
        });
        stack.track(client);
        await client.start();
        await client.close();
      }
    });

    it('refuses a device the config does not seed, and a domain it does not hold', async () => {
      const common = ['token', 'issue', '--config', configFile];
      const [device, domainRun] = await Promise.all([
        grove([...common, '--domain', 'example', '--identity', 'alice', '--device', 'b1']),
        grove([...common, '--domain', 'elsewhere', '--identity', 'alice', '--device', 'a1']),
      ]);
      expect(device.code).toBe(1);
      expect(lines(device.stderr)).toMatchObject([{ error: { code: 'UNKNOWN_DEVICE' } }]);
      expect(domainRun.code).toBe(1);
      expect(lines(domainRun.stderr)).toMatchObject([{ error: { code: 'UNKNOWN_DOMAIN' } }]);
      expect(device.stdout + domainRun.stdout).toBe('');
    });
  });

  describe('send and listen', () => {
    it('send prints exactly {"id","recipients"}; listen --count prints each message as one JSON line', async () => {
      const file = join(dir, 'note.txt');
      writeFileSync(file, 'from a file\n');
      const alice = await connection('alice', 'a1');
      const first = await grove([
        'send',
        ...alice,
        '--to',
        'device:b1',
        '--data',
        'hello bob',
        '--id',
        'cli-1',
      ]);
      const second = await grove(['send', ...alice, '--to', 'device:b1', '--data', `@${file}`]);
      expect([first.code, first.stderr]).toEqual([0, '']);
      expect(first.stdout).toBe('{"id":"cli-1","recipients":1}\n');
      expect([second.code, second.stderr]).toEqual([0, '']);
      const receipt = lines(second.stdout);
      expect(receipt).toEqual([{ id: expect.stringMatching(/^[0-9A-Z]{26}$/), recipients: 1 }]);
      expect(Object.keys(receipt[0] ?? {})).toEqual(['id', 'recipients']);

      const listened = await grove(['listen', ...(await connection('bob', 'b1')), '--count', '2']);
      expect([listened.code, listened.stderr]).toEqual([0, '']);
      const messages = lines(listened.stdout);
      expect(messages).toEqual([
        {
          id: 'cli-1',
          from: { identity: 'alice', device: 'a1' },
          to: ['device:b1'],
          data: 'hello bob',
          createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        },
        {
          id: receipt[0]?.['id'],
          from: { identity: 'alice', device: 'a1' },
          to: ['device:b1'],
          data: 'from a file\n',
          createdAt: expect.any(String),
        },
      ]);
      expect(Object.keys(messages[0] ?? {})).toEqual(['id', 'from', 'to', 'data', 'createdAt']);
    });

    it('listen acknowledges what it printed: the next listen gets only newer messages', async () => {
      const alice = await connection('alice', 'a1');
      const bob = await connection('bob', 'b2');
      for (const id of ['ack-1', 'ack-2']) {
        expect(
          (await grove(['send', ...alice, '--to', 'device:b2', '--data', id, '--id', id])).code,
        ).toBe(0);
      }
      const firstListen = await grove(['listen', ...bob, '--count', '1']);
      expect(lines(firstListen.stdout).map((m) => m['id'])).toEqual(['ack-1']);
      const secondListen = await grove(['listen', ...bob, '--count', '1']);
      expect(lines(secondListen.stdout).map((m) => m['id'])).toEqual(['ack-2']);
    });

    it('prints data that is not UTF-8 as base64 with "encoding":"base64"', async () => {
      const file = join(dir, 'binary.bin');
      const bytes = Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x41]);
      writeFileSync(file, bytes);
      const sent = await grove([
        'send',
        ...(await connection('alice', 'a1')),
        '--to',
        'device:b3',
        '--data',
        `@${file}`,
      ]);
      expect(sent.code).toBe(0);
      const listened = await grove(['listen', ...(await connection('bob', 'b3')), '--count', '1']);
      expect(listened.code).toBe(0);
      const [message] = lines(listened.stdout);
      expect(message).toMatchObject({ data: bytes.toString('base64'), encoding: 'base64' });
      expect(Buffer.from(String(message?.['data']), 'base64')).toEqual(bytes);
    });

    it('listen --timeout exits 3 with a TIMEOUT error when fewer messages arrive', async () => {
      const started = Date.now();
      const run = await grove([
        'listen',
        ...(await connection('bob', 'b4')),
        '--count',
        '1',
        '--timeout',
        '1',
      ]);
      expect(run.code).toBe(3);
      expect(run.stdout).toBe('');
      expect(lines(run.stderr)).toEqual([
        { error: { code: 'TIMEOUT', message: 'received 0 of 1 messages within 1 s' } },
      ]);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    });

    it('send exits 1 with the relay code when the relay refuses the message', async () => {
      const run = await grove([
        'send',
        ...(await connection('alice', 'a1')),
        '--to',
        'identity:nobody',
        '--data',
        'x',
      ]);
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
      expect(lines(run.stderr)).toMatchObject([{ error: { code: 'UNKNOWN_RECIPIENT' } }]);
    });

    it('exits 1 with CONNECTION_REFUSED when the relay refuses the token', async () => {
      const [send, listen] = await Promise.all([
        grove([
          'send',
          '--relay',
          relay.url,
          '--token',
          'not-a-jwt',
          '--to',
          'device:b1',
          '--data',
          'x',
        ]),
        grove(['listen', '--relay', relay.url, '--token', 'not-a-jwt', '--count', '1']),
      ]);
      for (const run of [send, listen]) {
        expect(run.code).toBe(1);
        expect(lines(run.stderr)).toEqual([
          { error: { code: 'CONNECTION_REFUSED', message: expect.stringContaining('4100') } },
        ]);
      }
    });
  });

  describe('usage errors', () => {
    it('exit 2 with a USAGE error as JSON on stderr and nothing on stdout', async () => {
      const relayOptions = ['--relay', 'ws://127.0.0.1:1', '--token', 't'];
      const cases: string[][] = [
        ['send', ...relayOptions, '--data', 'x'],
        ['send', ...relayOptions, '--to', 'bob', '--data', 'x'],
        ['send', ...relayOptions, '--to', 'device:b1', '--data', 'x', '--id', 'not ok'],
        ['send', ...relayOptions, '--to', 'device:b1', '--data', '@/nonexistent/file'],
        ['send', ...relayOptions, '--to', 'device:b1', '--data', 'x', '--bogus'],
        ['send', ...relayOptions, '--to'],
        ['send', ...relayOptions, '--to', 'device:b1', '--data', 'x', 'stray'],
        ['send', '--relay', 'ftp://relay', '--token', 't', '--to', 'device:b1', '--data', 'x'],
        ['listen', ...relayOptions, '--count', 'zero'],
        ['listen', ...relayOptions, '--timeout', '-1'],
        ['listen', ...relayOptions, '--transport', 'carrier-pigeon'],
        ['presence', ...relayOptions, '--watch', 'bob'],
        ['token', 'revoke'],
        ['token', 'issue', '--config', configFile],
        ['launch'],
      ];
      const runs = await Promise.all(cases.map((args) => grove(args)));
      runs.forEach((run, i) => {
        const args = cases[i]?.join(' ');
        expect([args, run.code, run.stdout]).toEqual([args, 2, '']);
        expect([args, lines(run.stderr)]).toEqual([
          args,
          [{ error: { code: 'USAGE', message: expect.any(String) } }],
        ]);
      });
    });
  });

  describe('presence', () => {
    it('presence --watch prints online and offline lines', async () => {
      const carol = new GroveClient({
        relays: [relay.url],
        token: await token('carol', 'c1'),
        transport: 'websocket',
      });
      stack.track(carol);
      await carol.start();
      const child = spawn(
        process.execPath,
        [
          bin,
          'presence',
          ...(await connection('alice', 'a1')),
          '--watch',
          'identity:carol',
          '--timeout',
          '20',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      running.push(child);
      let stdout = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      const exited = new Promise<number | null>((resolve) =>
        child.on('exit', (code) => resolve(code)),
      );
      await waitFor(() => stdout.includes('"online"'), 'the online line', 20_000);
      await carol.close();
      await waitFor(() => stdout.includes('"offline"'), 'the offline line');
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(lines(stdout)).toEqual([
        { identity: 'carol', device: 'c1', state: 'online', status: 'active' },
        { identity: 'carol', device: 'c1', state: 'offline', status: null },
      ]);
    });
  });
});
