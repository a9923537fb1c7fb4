import { idPattern } from '../../crds/common.js';
import { managerKeys } from '../../contracts/redis/keys.js';
import type { RedisClient } from '../../contracts/redis/connection.js';
import {
  createMembersScript,
  deleteMemberScript,
  updateMemberScript,
} from '../../contracts/redis/manager-scripts.js';
import { runScript } from '../../contracts/redis/script-runner.js';
import type { Member, MemberInput, MemberPatch } from '../model.js';
import { purgeQueues } from './devices.js';
import type { ImportResult, ListOptions, MemberStore, Page } from './manager-store.js';
import {
  checkMemberInput,
  checkMemberPatch,
  memberMatches,
  planMemberImport,
} from './member-rules.js';
import { pageLimit } from './paging.js';
import { checkDomain, checkId, fail } from './store-checks.js';

/** Rows per script call of a non-atomic import, so no call blocks Redis for long. */
const IMPORT_CHUNK = 1000;
/** Members read per step of a search (a page without a query is one read). */
const SEARCH_CHUNK = 1000;

export function parseMember(json: string): Member {
  return JSON.parse(json) as Member;
}

function newMember(domain: string, input: MemberInput, now: Date): Member {
  const time = now.toISOString();
  return {
    id: input.id,
    domain,
    displayName: input.displayName,
    ...(input.email === undefined ? {} : { email: input.email }),
    createdAt: time,
    updatedAt: time,
  };
}

/** Members: their records, the id index for paging, and their entries in the relay directory. */
export class RedisMemberStore implements MemberStore {
  constructor(private readonly redis: RedisClient) {}

  async createMember(domain: string, input: MemberInput, now: Date): Promise<Member> {
    checkDomain(domain);
    const member = newMember(domain, checkMemberInput(input), now);
    const [status] = await this.writeMembers(domain, [member], 'all');
    if (status !== 'OK') fail('ALREADY_EXISTS', `member ${member.id} already exists`);
    return member;
  }

  /** 'all': every member or none (status 'OK' and the ids, or why not and the taken ids); 'each': every free id. */
  private writeMembers(
    domain: string,
    members: readonly Member[],
    mode: 'all' | 'each',
  ): Promise<string[]> {
    return runScript(this.redis, createMembersScript, {
      domain,
      mode,
      members: members.map((m) => ({
        id: m.id,
        record: JSON.stringify(m),
        displayName: m.displayName,
      })),
    });
  }

  async getMember(domain: string, id: string): Promise<Member | undefined> {
    checkDomain(domain);
    const json = await this.redis.hget(managerKeys(domain).members, id);
    return json === null ? undefined : parseMember(json);
  }

  async updateMember(domain: string, id: string, patch: MemberPatch, now: Date): Promise<Member> {
    checkDomain(domain);
    checkId(id, 'member');
    const change = checkMemberPatch(patch);
    const [status, json] = await runScript(this.redis, updateMemberScript, {
      domain,
      id,
      displayName: change.displayName,
      email: change.email,
      updatedAt: now.toISOString(),
    });
    if (status !== 'OK' || json === undefined) fail('NOT_FOUND', `no member ${id} in ${domain}`);
    return parseMember(json);
  }

  async deleteMember(domain: string, id: string, now: Date): Promise<{ revokedDevices: string[] }> {
    checkDomain(domain);
    checkId(id, 'member');
    const [status, ...revoked] = await runScript(this.redis, deleteMemberScript, {
      domain,
      id,
      now: now.toISOString(),
    });
    if (status !== 'OK') fail('NOT_FOUND', `no member ${id} in ${domain}`);
    await purgeQueues(this.redis, domain, revoked);
    return { revokedDevices: revoked };
  }

  async listMembers(
    domain: string,
    options: ListOptions & { query?: string },
  ): Promise<Page<Member>> {
    checkDomain(domain);
    const limit = pageLimit(options.limit);
    const query = options.query?.trim() ?? '';
    if (options.cursor !== undefined && !idPattern.test(options.cursor)) {
      fail('VALIDATION_FAILED', 'invalid cursor');
    }
    const keys = managerKeys(domain);
    // Without a query one page is one read; with one, scan the index in chunks until full.
    const chunk = query === '' ? limit + 1 : SEARCH_CHUNK;
    const items: Member[] = [];
    let start = options.cursor === undefined ? '-' : `(${options.cursor}`;
    for (;;) {
      const ids = await this.redis.zrangebylex(keys.memberIndex, start, '+', 'LIMIT', 0, chunk);
      if (ids.length === 0) break;
      const records = await this.redis.hmget(keys.members, ...ids);
      for (const json of records) {
        if (json === null) continue;
        const member = parseMember(json);
        if (query !== '' && !memberMatches(member, query)) continue;
        if (items.length === limit) return { items, next: items.at(-1)?.id ?? '' };
        items.push(member);
      }
      const last = ids.at(-1);
      if (ids.length < chunk || last === undefined) break;
      start = `(${last}`;
    }
    return { items };
  }

  async importMembers(
    domain: string,
    rows: readonly unknown[],
    options: { allOrNothing: boolean },
    now: Date,
  ): Promise<ImportResult> {
    checkDomain(domain);
    const plan = planMemberImport(rows);
    const errors = [...plan.errors];
    const created: string[] = [];
    const rowOf = new Map(plan.valid.map(({ row, input }) => [input.id, row]));
    const members = plan.valid.map(({ input }) => newMember(domain, input, now));
    const alreadyExists = (id: string) => ({
      row: rowOf.get(id) ?? 0,
      id,
      code: 'ALREADY_EXISTS',
      message: `member ${id} already exists`,
    });
    if (options.allOrNothing) {
      // One script checks every id and creates all of them, or none when any row fails.
      if (errors.length === 0 && members.length > 0) {
        const [status, ...ids] = await this.writeMembers(domain, members, 'all');
        if (status === 'OK') created.push(...ids);
        else errors.push(...ids.map(alreadyExists));
      }
    } else {
      for (let i = 0; i < members.length; i += IMPORT_CHUNK) {
        const batch = members.slice(i, i + IMPORT_CHUNK);
        const [, ...ids] = await this.writeMembers(domain, batch, 'each');
        const done = new Set(ids);
        created.push(...ids);
        for (const member of batch) {
          if (!done.has(member.id)) errors.push(alreadyExists(member.id));
        }
      }
    }
    errors.sort((a, b) => a.row - b.row);
    return { created, errors };
  }
}
