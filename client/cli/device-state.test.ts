import { createPublicKey, verify } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { CliError } from './cli-error.js';
import {
  challengeString,
  generateDeviceKey,
  parseDeviceState,
  readDeviceState,
  signChallenge,
  tokenIsFresh,
  writeDeviceState,
  type DeviceState,
} from './device-state.js';

function sampleState(overrides: Partial<DeviceState> = {}): DeviceState {
  const key = generateDeviceKey();
  return {
    managerUrl: 'http://127.0.0.1:8080',
    domain: 'acme',
    deviceId: 'd-01jabc',
    identityId: 'alice',
    relays: ['ws://127.0.0.1:7000'],
    ...key,
    token: 'header.payload.signature',
    tokenExpiresAt: '2026-01-01T00:10:00.000Z',
    ...overrides,
  };
}

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'grove-state-test-'));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('device state', () => {
  it('round-trips through the file with mode 0600 in a 0700 directory, leaving no temp file', async () => {
    const dir = join(tempDir(), 'state');
    const state = sampleState();
    await writeDeviceState(dir, state);
    expect(await readDeviceState(dir)).toEqual(state);
    expect(statSync(join(dir, 'device.json')).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    await writeDeviceState(dir, { ...state, token: 'a.b.c' });
    expect((await readDeviceState(dir)).token).toBe('a.b.c');
    expect(readdirSync(dir)).toEqual(['device.json']);
  });

  it('names the file and the fields that are wrong', () => {
    const broken = { ...sampleState(), relays: 'ws://x', privateJwk: { kty: 'OKP' } };
    expect(() => parseDeviceState(JSON.stringify(broken), '/s/device.json')).toThrow(
      /\/s\/device\.json is not a device state: .*relays.*privateJwk/,
    );
    expect(() => parseDeviceState('{', '/s/device.json')).toThrow(/not valid JSON/);
  });

  it('refuses a private key that is not an Ed25519 JWK', () => {
    const state = sampleState();
    const text = JSON.stringify({ ...state, privateJwk: { ...state.privateJwk, crv: 'X25519' } });
    expect(() => parseDeviceState(text, 'f')).toThrow(/privateJwk\.crv/);
  });

  it('tells a missing state apart with a hint to enroll (usage exit code)', async () => {
    const dir = tempDir();
    const error = await readDeviceState(join(dir, 'nothing')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CliError);
    expect(error).toMatchObject({ code: 'NOT_ENROLLED', exitCode: 2 });
    expect((error as Error).message).toMatch(/grove enroll/);
  });

  it('reads a state file that is not JSON as STATE_INVALID', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'device.json'), 'not json');
    await expect(readDeviceState(dir)).rejects.toMatchObject({ code: 'STATE_INVALID' });
  });
});

describe('token challenge', () => {
  it('is the documented string, fields separated by newlines', () => {
    expect(
      challengeString({
        domain: 'acme',
        deviceId: 'd-1',
        timestamp: '2026-01-01T00:00:00.000Z',
        nonce: 'abcdefghijklmnop',
      }),
    ).toBe('grove-token-v1\nacme\nd-1\n2026-01-01T00:00:00.000Z\nabcdefghijklmnop');
  });

  it('is signed with the device key so the public key verifies it, with a fresh nonce each time', () => {
    const state = sampleState();
    const now = new Date('2026-03-04T05:06:07.000Z');
    const signed = signChallenge(state, now);
    expect(signed).toMatchObject({
      domain: 'acme',
      deviceId: 'd-01jabc',
      timestamp: now.toISOString(),
    });
    expect(signed.nonce).toMatch(/^[A-Za-z0-9_-]{16,64}$/);
    expect(signed.signature).toMatch(/^[A-Za-z0-9_-]{86}$/);
    const publicKey = createPublicKey({ key: state.publicJwk, format: 'jwk' });
    const message = Buffer.from(challengeString(signed), 'utf8');
    expect(verify(null, message, publicKey, Buffer.from(signed.signature, 'base64url'))).toBe(true);
    const other = generateDeviceKey();
    const otherKey = createPublicKey({ key: other.publicJwk, format: 'jwk' });
    expect(verify(null, message, otherKey, Buffer.from(signed.signature, 'base64url'))).toBe(false);
    expect(signChallenge(state, now).nonce).not.toBe(signed.nonce);
  });

  it('generates keys whose public half is the JWK x of 32 bytes', () => {
    const key = generateDeviceKey();
    expect(Buffer.from(key.publicJwk.x, 'base64url')).toHaveLength(32);
    expect(key.privateJwk.x).toBe(key.publicJwk.x);
  });
});

describe('token freshness', () => {
  const state = { tokenExpiresAt: '2026-01-01T00:10:00.000Z' };
  it('uses a token with more than a minute left', () => {
    expect(tokenIsFresh(state, new Date('2026-01-01T00:08:59.000Z'))).toBe(true);
  });
  it('refreshes a token with a minute or less left, or already expired', () => {
    expect(tokenIsFresh(state, new Date('2026-01-01T00:09:00.000Z'))).toBe(false);
    expect(tokenIsFresh(state, new Date('2026-01-01T00:09:30.000Z'))).toBe(false);
    expect(tokenIsFresh(state, new Date('2026-01-01T01:00:00.000Z'))).toBe(false);
  });
});
