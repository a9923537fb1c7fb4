// A connection through Redis Sentinel, against real processes: a primary, a replica, two
// Sentinels, and the client in a process of its own (ioredis prints to that process's stderr).

import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { sleep, waitFor } from '../../test/support/ports.js';
import { RedisSentinelGroup } from '../../test/support/redis-sentinel.js';
import { pinnedNode } from '../../test/support/service-process.js';

const here = dirname(fileURLToPath(import.meta.url));
let group: RedisSentinelGroup;

beforeAll(async () => {
  group = await RedisSentinelGroup.start({ replicas: 1, sentinels: 2 });
}, 60_000);

afterAll(async () => {
  await group.stop();
});

describe('redis connection › through Sentinel', () => {
  it('prints nothing outside the logs when a Sentinel its failover detector listens to goes away', async () => {
    // Connects, says when the failover detector listens, then answers each line on stdin
    // with the result of a PING.
    const script = [
      `const { connectRedis } = await import(${JSON.stringify(join(here, 'connection.ts'))});`,
      `const client = connectRedis(${JSON.stringify(group.target)}, 'commands');`,
      "client.once('failoverSubscribed', () => console.log('subscribed'));",
      "process.stdin.on('data', () => client.ping().then((r) => console.log(r), (e) => console.log(String(e))));",
    ].join('\n');
    const child = spawn(pinnedNode(), ['--import', 'tsx', '--input-type=module', '-e', script], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    try {
      await waitFor(() => stdout.includes('subscribed'), 'the failover detector listening', 20_000);
      const [gone] = group.sentinels;
      if (gone === undefined) throw new Error('no sentinel');
      await gone.kill();
      // The detector's connection to it closes; its reconnects (every 4-6 s) are refused.
      await sleep(7000);
      child.stdin.write('ping\n');
      await waitFor(() => stdout.includes('PONG'), 'a PING answered', 5000);
      expect(stderr).not.toContain('Unhandled error event');
      expect(stderr).toBe('');
    } finally {
      child.kill('SIGKILL');
    }
  }, 40_000);
});
