// GROVE_LOG_LEVEL (set by the Helm chart's logLevel) decides what the processes log; a value
// that is not a level stops the process at start with a usage error instead of being ignored.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { runGrove } from '../test/support/grove-cli.js';
import { ManagerProcess, stopAll, writeManagerConfig } from '../test/support/manager-process.js';
import { RedisServer } from '../test/support/redis-server.js';
import { makeDomain } from '../test/support/relay-process.js';

let redis: RedisServer;
let configFile: string;

beforeAll(async () => {
  redis = await RedisServer.start({ appendonly: false });
  configFile = writeManagerConfig({
    redisPort: redis.port,
    domains: [{ domain: await makeDomain('acme') }],
  });
}, 60_000);

afterAll(async () => {
  await stopAll(() => redis.stop());
});

describe('GROVE_LOG_LEVEL', () => {
  it('stops the Manager at start with USAGE when it is not a level', async () => {
    const run = await runGrove(['manager', '--config', configFile, '--metrics-port', '0'], {
      env: { GROVE_LOG_LEVEL: 'verbose' },
    });
    expect(run.code).toBe(2);
    expect(JSON.parse(run.stderr.trim().split('\n').at(-1) ?? '')).toEqual({
      error: {
        code: 'USAGE',
        message:
          'GROVE_LOG_LEVEL must be one of debug, info, warn, error (any case), got "verbose"',
      },
    });
  });

  it('leaves out the entries below the level: warn writes no info lines', async () => {
    const manager = await ManagerProcess.start({
      configFile,
      redisUrl: redis.url,
      env: { GROVE_LOG_LEVEL: 'warn' },
    });
    try {
      expect((await fetch(`${manager.url}/readyz`)).status).toBe(200);
      const levels = manager.process.lines
        .filter((line) => line.startsWith('{'))
        .map((line) => (JSON.parse(line) as { level: string }).level);
      expect(levels.filter((level) => level === 'info')).toEqual([]);
    } finally {
      await manager.terminate();
    }
  });
});
