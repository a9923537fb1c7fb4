import { globalKeys } from '../../contracts/redis/keys.js';
import type { RedisClient } from '../../contracts/redis/connection.js';
import {
  putAdminTokenScript,
  revokeAdminTokenScript,
} from '../../contracts/redis/manager-scripts.js';
import { runScript } from '../../contracts/redis/script-runner.js';
import { roleSchema, type AdminTokenInfo, type Role } from '../model.js';
import type { AdminTokenStore, BootstrapOutcome } from './manager-store.js';
import { generateAdminToken, hashAdminToken, type RandomSource } from './secrets.js';
import { checkDomain, checkName, fail } from './store-checks.js';

/** The name of the token made from the environment's bootstrap token at every start. */
const BOOTSTRAP_TOKEN_NAME = 'bootstrap';

/** Admin tokens: records under the hash of the token, names unique (global keys, `{mgr}`). */
export class RedisAdminTokenStore implements AdminTokenStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly random: RandomSource,
  ) {}

  async createAdminToken(
    input: { name: string; role: Role; domains: string[] },
    now: Date,
  ): Promise<{ token: string; info: AdminTokenInfo }> {
    checkName(input.name, 'token name', 128);
    if (!roleSchema.safeParse(input.role).success) fail('VALIDATION_FAILED', 'unknown role');
    input.domains.forEach(checkDomain);
    const token = generateAdminToken(this.random);
    const info: AdminTokenInfo = {
      name: input.name,
      role: input.role,
      domains: [...input.domains],
      createdAt: now.toISOString(),
    };
    const [status] = await this.putAdminToken('create', token, info, now);
    if (status !== 'OK') fail('ALREADY_EXISTS', `an admin token named ${input.name} exists`);
    return { token, info };
  }

  /**
   * 'create' refuses a name in use; 'replace' revokes the token that had the name. Either
   * refuses a token that was ever revoked ('REVOKED').
   */
  private putAdminToken(
    mode: 'create' | 'replace',
    token: string,
    info: AdminTokenInfo,
    now: Date,
  ): Promise<string[]> {
    return runScript(this.redis, putAdminTokenScript, {
      mode,
      name: info.name,
      hash: hashAdminToken(token),
      record: JSON.stringify(info),
      now: now.toISOString(),
    });
  }

  async ensureBootstrapToken(token: string, now: Date): Promise<BootstrapOutcome> {
    if (typeof token !== 'string' || token.length < 16) {
      fail('VALIDATION_FAILED', 'the bootstrap token must be at least 16 characters');
    }
    const [status, outcome] = await this.putAdminToken(
      'replace',
      token,
      {
        name: BOOTSTRAP_TOKEN_NAME,
        role: 'server-admin',
        domains: [],
        createdAt: now.toISOString(),
      },
      now,
    );
    if (status === 'REVOKED') return 'revoked';
    return outcome === 'kept' || outcome === 'replaced' ? outcome : 'created';
  }

  async authenticateAdmin(token: string): Promise<AdminTokenInfo | undefined> {
    if (typeof token !== 'string' || token.length === 0 || token.length > 512) return undefined;
    const json = await this.redis.hget(globalKeys.adminTokens, hashAdminToken(token));
    return json === null ? undefined : (JSON.parse(json) as AdminTokenInfo);
  }

  async listAdminTokens(): Promise<AdminTokenInfo[]> {
    const all = await this.redis.hvals(globalKeys.adminTokens);
    return all
      .map((json) => JSON.parse(json) as AdminTokenInfo)
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async revokeAdminToken(name: string, now: Date): Promise<void> {
    const [status] = await runScript(this.redis, revokeAdminTokenScript, {
      name,
      now: now.toISOString(),
    });
    if (status !== 'OK') fail('NOT_FOUND', `no admin token named ${name}`);
  }
}
