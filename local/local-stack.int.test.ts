// The README's promise, end to end: `grove local` (what `npm start` runs) starts Redis, two
// relays and the Manager from one config file; two devices enroll with activation codes from
// `grove admin` and exchange a message; Ctrl-C stops everything cleanly.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { freePort, waitFor } from '../test/support/ports.js';
import { runGrove, type CliRun } from '../test/support/grove-cli.js';
import { pinnedNode } from '../test/support/service-process.js';

const root = join(fileURLToPath(import.meta.url), '..', '..');

function grove(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 30_000,
): Promise<CliRun> {
  return runGrove(args, { env, timeoutMs });
}

describe('local stack', () => {
  let dir: string;
  let stack: ChildProcess | undefined;
  let output = '';
  let managerUrl = '';
  let managerMetricsPort = 0;
  let redisPort = 0;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'grove-local-'));
    let relay0: number, relay1: number, managerPort: number;
    [redisPort, relay0, relay1, managerPort, managerMetricsPort] = [
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    managerUrl = `http://127.0.0.1:${managerPort}`;
    const config = readFileSync(join(root, 'config', 'local.yaml'), 'utf8')
      .replaceAll('6390', String(redisPort))
      .replaceAll('8443', String(relay0))
      .replaceAll('8444', String(relay1))
      .replace('dataDir: ../.grove/data', `dataDir: ${join(dir, 'data')}`)
      .concat(`  manager:\n    port: ${managerPort}\n    metricsPort: ${managerMetricsPort}\n`);
    writeFileSync(join(dir, 'local.yaml'), config);
    stack = spawn(
      pinnedNode(),
      [join(root, 'bin', 'grove.js'), 'local', '--config', join(dir, 'local.yaml')],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    stack.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    stack.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await waitFor(
      () => output.includes('Press Ctrl-C to stop.'),
      'the local stack',
      60_000,
      100,
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}\n${output}`);
    });
  }, 90_000);

  afterAll(() => {
    if (stack?.exitCode === null) stack.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints the Manager URL and a bootstrap token it keeps in a 0600 file', () => {
    const tokenFile = join(dir, 'data', 'manager', 'bootstrap-token');
    const token = readFileSync(tokenFile, 'utf8').trim();
    expect(output).toContain(`Manager: ${managerUrl}/`);
    expect(output).toContain(token);
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
  });

  it("serves the Manager's /metrics on its metrics port only", async () => {
    const metricsUrl = `http://127.0.0.1:${managerMetricsPort}/metrics`;
    expect(output).toContain(`metrics ${metricsUrl}`);
    expect(await (await fetch(metricsUrl)).text()).toContain('grove_manager_http_requests_total');
    expect((await fetch(`${managerUrl}/metrics`)).status).toBe(404);
  });

  it("keeps Redis behind a password of its own (0600 file, never on redis-server's command line) and its AOF files at 0600", async () => {
    const redisDir = join(dir, 'data', 'redis');
    const passwordFile = join(redisDir, 'password');
    const password = readFileSync(passwordFile, 'utf8').trim();
    expect(password).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    expect(statSync(passwordFile).mode & 0o777).toBe(0o600);
    expect(statSync(redisDir).mode & 0o777).toBe(0o700);
    const files = (sub: string): string[] =>
      readdirSync(join(redisDir, sub), { withFileTypes: true }).flatMap((entry) =>
        entry.isDirectory() ? files(join(sub, entry.name)) : [join(sub, entry.name)],
      );
    const aof = files('.').filter((file) => file.includes('appendonly'));
    expect(aof.length).toBeGreaterThan(0);
    expect(
      files('.').map((file) => [file, (statSync(join(redisDir, file)).mode & 0o777).toString(8)]),
    ).toEqual(files('.').map((file) => [file, '600']));

    // A client without the password, at the protocol level: every command is refused.
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect(redisPort, '127.0.0.1', () =>
        socket.write('SET probe x\r\nGET probe\r\n'),
      );
      let text = '';
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        if (text.split('\r\n').length > 2) {
          socket.end();
          resolve(text);
        }
      });
      socket.on('error', reject);
    });
    expect(reply.split('\r\n').slice(0, 2)).toEqual([
      '-NOAUTH Authentication required.',
      '-NOAUTH Authentication required.',
    ]);
    const authed = new Redis(redisPort, '127.0.0.1', { password, maxRetriesPerRequest: 1 });
    try {
      const info = await authed.info('server');
      const pid = /process_id:(\d+)/.exec(info)?.[1];
      expect(pid).toBeDefined();
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      expect(argv).not.toContain(password);
      expect(argv).not.toContain('requirepass');
      // Files Redis makes later (an AOF rewrite replaces them all) are 0600 too.
      await authed.bgrewriteaof();
      await waitFor(
        async () => /aof_rewrite_in_progress:0/.test(await authed.info('persistence')),
        'the AOF rewrite',
        20_000,
        100,
      );
      expect(
        files('.').map((file) => [file, (statSync(join(redisDir, file)).mode & 0o777).toString(8)]),
      ).toEqual(files('.').map((file) => [file, '600']));
    } finally {
      authed.disconnect();
    }
  });

  it('takes two devices from activation codes to a delivered message, as the README shows', async () => {
    const token = readFileSync(join(dir, 'data', 'manager', 'bootstrap-token'), 'utf8').trim();
    const env = { GROVE_MANAGER_URL: managerUrl, GROVE_ADMIN_TOKEN: token };
    const enroll = async (member: string) => {
      const code = await grove(
        ['admin', 'codes', 'issue', '--domain', 'example', '--member', member, '--raw'],
        env,
      );
      expect([code.code, code.stderr]).toEqual([0, '']);
      const enrolled = await grove(
        [
          'enroll',
          '--manager',
          managerUrl,
          '--state',
          join(dir, member),
          '--code',
          code.stdout.trim(),
        ],
        env,
      );
      expect([enrolled.code, enrolled.stderr]).toEqual([0, '']);
      return JSON.parse(enrolled.stdout) as { identityId: string; relays: string[] };
    };
    const alice = await enroll('alice');
    const bob = await enroll('bob');
    expect([alice.identityId, bob.identityId]).toEqual(['alice', 'bob']);
    expect(alice.relays).toHaveLength(2);
    const sent = await grove([
      'send',
      '--state',
      join(dir, 'alice'),
      '--to',
      'identity:bob',
      '--data',
      'hello',
    ]);
    expect([sent.code, sent.stderr]).toEqual([0, '']);
    const heard = await grove([
      'listen',
      '--state',
      join(dir, 'bob'),
      '--count',
      '1',
      '--timeout',
      '20',
    ]);
    expect(heard.code).toBe(0);
    expect(JSON.parse(heard.stdout)).toMatchObject({ data: 'hello', from: { identity: 'alice' } });
  }, 120_000);

  it('stops the Manager, the relays and Redis on Ctrl-C', async () => {
    const exited = new Promise<number | null>((resolve) =>
      stack?.once('exit', (code) => resolve(code)),
    );
    stack?.kill('SIGINT');
    expect(await exited).toBe(0);
  }, 60_000);
});
