import { describe, expect, it } from '@jest/globals';
import { EventEmitter } from 'node:events';
import { loggerOf, type LogFields, type LogLevel } from '../logger.js';
import type { RedisClient } from './connection.js';
import { RedisHealth, redactRedisUrl } from './redis-health.js';

/** A connection as RedisHealth sees it: a status and ioredis's events. */
function fakeClient(status = 'connecting') {
  const emitter = new EventEmitter() as EventEmitter & { status: string };
  emitter.status = status;
  return emitter;
}

function setup() {
  const entries: { level: LogLevel; message: string; fields?: LogFields }[] = [];
  let now = 1000;
  const changes: boolean[] = [];
  const health = new RedisHealth(
    loggerOf((level, message, fields) =>
      entries.push({ level, message, ...(fields ? { fields } : {}) }),
    ),
    { target: 'redis://r:6379', now: () => now, onChange: (up) => changes.push(up) },
  );
  return { health, entries, changes, advance: (ms: number) => (now += ms) };
}

describe('RedisHealth', () => {
  it('logs an outage once when lost and once when back, with its duration', () => {
    const { health, entries, changes, advance } = setup();
    const commands = fakeClient();
    const subscriber = fakeClient();
    health.watch(commands as unknown as RedisClient, 'commands');
    health.watch(subscriber as unknown as RedisClient, 'subscriber');
    commands.emit('ready');
    subscriber.emit('ready');
    expect(entries).toEqual([]);
    expect(health.state.up).toBe(true);

    advance(10);
    commands.emit('error', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
    commands.emit('close');
    subscriber.emit('close');
    // Every reconnect attempt fails and closes again: nothing more is logged.
    for (let i = 0; i < 5; i++) {
      commands.emit(
        'error',
        Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
      );
      commands.emit('close');
    }
    advance(4200);
    commands.emit('ready');
    expect(health.state.up).toBe(false);
    subscriber.emit('ready');

    expect(entries).toEqual([
      {
        level: 'warn',
        message:
          'lost the connection to Redis; requests fail with STORAGE_UNAVAILABLE until it is back',
        fields: { redis: 'redis://r:6379', connection: 'commands', error: 'read ECONNRESET' },
      },
      {
        level: 'info',
        message: 'Redis is available again',
        fields: { redis: 'redis://r:6379', downMs: 4200 },
      },
    ]);
    expect(changes).toEqual([false, true, false, true]);
  });

  it('says once that Redis cannot be reached at start, and when it connected', () => {
    const { health, entries, advance } = setup();
    const client = fakeClient();
    health.watch(client as unknown as RedisClient, 'commands');
    client.emit(
      'error',
      Object.assign(new Error('getaddrinfo ENOTFOUND r'), { code: 'ENOTFOUND' }),
    );
    client.emit(
      'error',
      Object.assign(new Error('getaddrinfo ENOTFOUND r'), { code: 'ENOTFOUND' }),
    );
    advance(3000);
    client.emit('ready');
    expect(entries.map((e) => [e.level, e.message, e.fields])).toEqual([
      [
        'warn',
        'cannot reach Redis yet; retrying',
        { redis: 'redis://r:6379', error: 'getaddrinfo ENOTFOUND r' },
      ],
      ['info', 'connected to Redis', { redis: 'redis://r:6379', waitedMs: 3000 }],
    ]);
  });

  it('says nothing when Redis answers at once', () => {
    const { health, entries } = setup();
    const client = fakeClient();
    health.watch(client as unknown as RedisClient, 'commands');
    client.emit('ready');
    expect(entries).toEqual([]);
  });
});

describe('redactRedisUrl', () => {
  it('hides a password in the URL', () => {
    expect(redactRedisUrl('redis://user:secret@host:6379/0')).toBe('redis://user:***@host:6379/0');
    expect(redactRedisUrl('rediss://:secret@host')).toBe('rediss://:***@host');
    expect(redactRedisUrl('redis://host:6379')).toBe('redis://host:6379');
  });
});
