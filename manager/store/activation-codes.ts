import { managerKeys } from '../../contracts/redis/keys.js';
import type { RedisClient } from '../../contracts/redis/connection.js';
import {
  issueCodeScript,
  redeemCodeScript,
  revokeCodeScript,
} from '../../contracts/redis/manager-scripts.js';
import { runScript } from '../../contracts/redis/script-runner.js';
import type { ManagerErrorCode } from '../../contracts/errors/manager-errors.js';
import { publicKeyPattern, type ActivationCode, type Device, type Member } from '../model.js';
import { parseDevice } from './devices.js';
import type { ActivationCodeStore } from './manager-store.js';
import { parseMember } from './members.js';
import {
  generateActivationCode,
  newDeviceId,
  parseActivationCode,
  type RandomSource,
} from './secrets.js';
import { byId, checkDomain, checkId, checkName, fail } from './store-checks.js';

/** An activation code as stored: the model's fields plus the code's hash and expiry in ms. */
interface StoredCode extends ActivationCode {
  hash: string;
  expiresMs: number;
}

function publicCode(stored: StoredCode): ActivationCode {
  return {
    id: stored.id,
    domain: stored.domain,
    memberId: stored.memberId,
    createdAt: stored.createdAt,
    expiresAt: stored.expiresAt,
    ...(stored.usedAt === undefined ? {} : { usedAt: stored.usedAt }),
    ...(stored.usedByDevice === undefined ? {} : { usedByDevice: stored.usedByDevice }),
    ...(stored.revokedAt === undefined ? {} : { revokedAt: stored.revokedAt }),
  };
}

function parseCode(json: string): ActivationCode {
  return publicCode(JSON.parse(json) as StoredCode);
}

/** Why redeem-code.lua refused, as the error the enrolling device gets. */
const REDEEM_FAILURES: Record<string, [ManagerErrorCode, string]> = {
  CODE_EXPIRED: ['CODE_EXPIRED', 'this activation code has expired'],
  CODE_USED: ['CODE_USED', 'this activation code has already been used'],
  CODE_REVOKED: ['CODE_REVOKED', 'this activation code has been revoked'],
  CONFLICT: ['CONFLICT', 'device id clash: enroll again'],
};

/** Activation codes, and enrollment: redeeming a code creates the device. */
export class RedisActivationCodeStore implements ActivationCodeStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly random: RandomSource,
  ) {}

  async issueCode(
    domain: string,
    memberId: string,
    ttlSeconds: number,
    now: Date,
  ): Promise<{ code: string; info: ActivationCode }> {
    checkDomain(domain);
    checkId(memberId, 'member');
    if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0) {
      fail('VALIDATION_FAILED', 'ttlSeconds must be a positive number');
    }
    // Code ids are 32 bits of the hash: on the rare clash with a stored code, draw again.
    for (let attempt = 0; attempt < 5; attempt++) {
      const code = generateActivationCode(domain, this.random);
      const parsed = parseActivationCode(code);
      if (parsed === undefined) throw new Error(`generated an unparsable code for ${domain}`);
      const expiresMs = now.getTime() + Math.round(ttlSeconds * 1000);
      const stored: StoredCode = {
        id: parsed.id,
        domain,
        memberId,
        createdAt: now.toISOString(),
        expiresAt: new Date(expiresMs).toISOString(),
        hash: parsed.hash,
        expiresMs,
      };
      const [status] = await runScript(this.redis, issueCodeScript, {
        domain,
        memberId,
        codeId: parsed.id,
        record: JSON.stringify(stored),
      });
      if (status === 'NOT_FOUND') fail('NOT_FOUND', `no member ${memberId} in ${domain}`);
      if (status === 'OK') return { code, info: publicCode(stored) };
    }
    throw new Error('could not draw an unused activation code id');
  }

  async listCodes(domain: string, options: { memberId?: string }): Promise<ActivationCode[]> {
    checkDomain(domain);
    const all = await this.redis.hvals(managerKeys(domain).codes);
    return all
      .map(parseCode)
      .filter((code) => options.memberId === undefined || code.memberId === options.memberId)
      .sort((a, b) =>
        a.createdAt === b.createdAt ? byId(a, b) : a.createdAt < b.createdAt ? 1 : -1,
      );
  }

  async revokeCode(domain: string, codeId: string, now: Date): Promise<ActivationCode> {
    checkDomain(domain);
    if (!/^[0-9a-f]{8}$/.test(codeId)) fail('NOT_FOUND', `no activation code ${codeId}`);
    const [status, json] = await runScript(this.redis, revokeCodeScript, {
      domain,
      codeId,
      now: now.toISOString(),
    });
    if (status === 'NOT_FOUND' || json === undefined) {
      fail('NOT_FOUND', `no activation code ${codeId} in ${domain}`);
    }
    if (status === 'CODE_USED') fail('CONFLICT', `activation code ${codeId} was already used`);
    return parseCode(json);
  }

  async redeemCode(
    code: string,
    device: { name: string; publicKey: string },
    now: Date,
  ): Promise<{ member: Member; device: Device }> {
    const parsed = typeof code === 'string' ? parseActivationCode(code) : undefined;
    if (parsed === undefined) fail('CODE_INVALID', 'not a valid activation code');
    checkName(device.name, 'device name');
    if (typeof device.publicKey !== 'string' || !publicKeyPattern.test(device.publicKey)) {
      fail('VALIDATION_FAILED', 'publicKey must be a base64url Ed25519 public key (43 characters)');
    }
    const id = newDeviceId(now, this.random);
    const record = {
      id,
      domain: parsed.domain,
      name: device.name,
      publicKey: device.publicKey,
      enrolledAt: now.toISOString(),
    };
    const [status, memberJson, deviceJson] = await runScript(this.redis, redeemCodeScript, {
      domain: parsed.domain,
      codeId: parsed.id,
      codeHash: parsed.hash,
      now,
      deviceId: id,
      device: JSON.stringify(record),
    });
    if (status !== 'OK') {
      const [errorCode, message] = REDEEM_FAILURES[status ?? ''] ?? [
        'CODE_INVALID',
        'unknown activation code',
      ];
      fail(errorCode, message);
    }
    if (memberJson === undefined || deviceJson === undefined) {
      throw new Error('redeem script returned no records');
    }
    return { member: parseMember(memberJson), device: parseDevice(deviceJson) };
  }
}
