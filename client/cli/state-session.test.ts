import { createPublicKey, verify } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import type { CliError } from './cli-error.js';
import {
  challengeString,
  generateDeviceKey,
  readDeviceState,
  writeDeviceState,
  type DeviceState,
} from './device-state.js';
import { ManagerClient, ManagerHttpError } from './manager-client.js';
import { isPermanentRefusal, StateSession } from './state-session.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

interface Call {
  url: string;
  body: Record<string, string>;
}

/** A Manager stand-in at the fetch boundary: answers POST /v1/token from a script. */
function fakeManager(answers: (() => { status: number; body: unknown })[]) {
  const calls: Call[] = [];
  const fetchFn = ((input: URL, init?: RequestInit) => {
    // ManagerClient always passes a URL and a JSON string body.
    calls.push({
      url: input.href,
      body: JSON.parse(typeof init?.body === 'string' ? init.body : 'null') as Record<
        string,
        string
      >,
    });
    const answer = answers.shift()?.() ?? {
      status: 500,
      body: { error: { code: 'X', message: 'no more' } },
    };
    return Promise.resolve(
      new Response(JSON.stringify(answer.body), {
        status: answer.status,
        headers: { 'content-type': 'application/json' },
      }),
    );
  }) as typeof fetch;
  return { calls, client: new ManagerClient('http://manager.test', undefined, { fetch: fetchFn }) };
}

async function session(
  now: Date,
  answers: (() => { status: number; body: unknown })[],
  overrides: Partial<DeviceState> = {},
) {
  const dir = mkdtempSync(join(tmpdir(), 'grove-session-test-'));
  dirs.push(dir);
  const state: DeviceState = {
    managerUrl: 'http://manager.test',
    domain: 'acme',
    deviceId: 'd-1',
    identityId: 'alice',
    relays: ['ws://old:1'],
    ...generateDeviceKey(),
    token: 'old.token.x',
    tokenExpiresAt: '2026-01-01T00:10:00.000Z',
    ...overrides,
  };
  await writeDeviceState(dir, state);
  const manager = fakeManager(answers);
  return {
    dir,
    state,
    calls: manager.calls,
    session: new StateSession(dir, state, manager.client, () => now),
  };
}

const issued = () => ({
  status: 200,
  body: { token: 'new.token.y', expiresAt: '2026-01-01T01:00:00.000Z', relays: ['ws://new:2'] },
});

describe('state session', () => {
  it('uses the saved token while more than a minute is left, without asking the Manager', async () => {
    const { session: s, calls } = await session(new Date('2026-01-01T00:05:00Z'), [issued]);
    expect(await s.token()).toBe('old.token.x');
    expect(calls).toHaveLength(0);
  });

  it('refreshes a token about to expire with a signed challenge and saves it', async () => {
    const now = new Date('2026-01-01T00:09:30Z');
    const { session: s, calls, dir, state } = await session(now, [issued]);
    expect(await s.token()).toBe('new.token.y');
    expect(calls).toHaveLength(1);
    const [call] = calls;
    expect(call?.url).toBe('http://manager.test/v1/token');
    const body = call?.body ?? {};
    expect(body).toMatchObject({ domain: 'acme', deviceId: 'd-1', timestamp: now.toISOString() });
    const publicKey = createPublicKey({ key: state.publicJwk, format: 'jwk' });
    const signed = Buffer.from(
      challengeString({
        domain: 'acme',
        deviceId: 'd-1',
        timestamp: body.timestamp ?? '',
        nonce: body.nonce ?? '',
      }),
    );
    expect(verify(null, signed, publicKey, Buffer.from(body.signature ?? '', 'base64url'))).toBe(
      true,
    );
    expect(await readDeviceState(dir)).toMatchObject({
      token: 'new.token.y',
      tokenExpiresAt: '2026-01-01T01:00:00.000Z',
      relays: ['ws://new:2'],
    });
  });

  it('shares one refresh between concurrent callers', async () => {
    const { session: s, calls } = await session(new Date('2026-01-01T00:20:00Z'), [issued, issued]);
    expect(await Promise.all([s.token(), s.token(), s.token()])).toEqual([
      'new.token.y',
      'new.token.y',
      'new.token.y',
    ]);
    expect(calls).toHaveLength(1);
  });

  it('refreshes a token that looks fresh once a relay said it expired', async () => {
    const { session: s, calls } = await session(new Date('2026-01-01T00:05:00Z'), [issued]);
    s.invalidate();
    expect(await s.token()).toBe('new.token.y');
    expect(calls).toHaveLength(1);
  });

  it('ends the command through fatal when the Manager says the device was revoked', async () => {
    const revoked = () => ({
      status: 403,
      body: { error: { code: 'DEVICE_REVOKED', message: 'device d-1 is revoked' } },
    });
    const { session: s } = await session(new Date('2026-01-01T00:20:00Z'), [revoked]);
    const fatal: CliError[] = [];
    s.on('fatal', (error: CliError) => fatal.push(error));
    await expect(s.provider()()).rejects.toBeInstanceOf(ManagerHttpError);
    expect(fatal).toHaveLength(1);
    expect(fatal[0]).toMatchObject({ code: 'DEVICE_REVOKED' });
    expect(fatal[0]?.message).toMatch(/enroll again/);
  });

  it('keeps retrying (no fatal) when the Manager is down or the nonce was replayed', async () => {
    const replayed = () => ({
      status: 409,
      body: { error: { code: 'REPLAYED', message: 'nonce used' } },
    });
    const down = () => ({
      status: 503,
      body: { error: { code: 'STORAGE_UNAVAILABLE', message: 'x' } },
    });
    const { session: s } = await session(new Date('2026-01-01T00:20:00Z'), [
      replayed,
      down,
      issued,
    ]);
    const fatal: unknown[] = [];
    s.on('fatal', (error) => fatal.push(error));
    const provider = s.provider();
    await expect(provider()).rejects.toMatchObject({ code: 'REPLAYED' });
    await expect(provider()).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    expect(await provider()).toBe('new.token.y');
    expect(fatal).toEqual([]);
  });
});

describe('permanent refusals', () => {
  it.each([
    [403, 'DEVICE_REVOKED', true],
    [401, 'SIGNATURE_INVALID', true],
    [404, 'UNKNOWN_DOMAIN', true],
    [409, 'REPLAYED', false],
    [429, 'RATE_LIMITED', false],
    [503, 'STORAGE_UNAVAILABLE', false],
  ])('%d %s → %s', (status, code, permanent) => {
    expect(isPermanentRefusal(new ManagerHttpError(status, code, 'm'))).toBe(permanent);
  });
});
