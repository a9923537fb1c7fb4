import { randomUUID } from 'node:crypto';
import { idPattern } from '../../crds/common.js';
import { managerKeys } from '../../contracts/redis/keys.js';
import type { RedisClient } from '../../contracts/redis/connection.js';
import {
  createMembersScript,
  deleteMemberScript,
  finishMemberImportScript,
  importMembersScript,
  rollbackMemberImportScript,
  updateMemberScript,
} from '../../contracts/redis/manager-scripts.js';
import { runScript } from '../../contracts/redis/script-runner.js';
import type { Member, MemberInput, MemberPatch } from '../model.js';
import { purgeQueues } from './devices.js';
import type { ImportResult, ListOptions, MemberStore, Page } from './manager-store.js';
import {
  boundImportErrors,
  checkMemberInput,
  checkMemberPatch,
  memberMatches,
  planMemberImport,
} from './member-rules.js';
import { pageLimit } from './paging.js';
import { checkDomain, checkId, fail } from './store-checks.js';

/** Rows per script call of an import (either kind), so no call blocks Redis for long. */
const IMPORT_CHUNK = 1000;
/** The import guard lives this long unless a chunk renews it (a Manager that died frees it). */
const IMPORT_GUARD_MS = 10_000;
/** How long a create or an import waits for an all-or-nothing import in progress. */
const IMPORT_WAIT_MS = 15_000;
const IMPORT_RETRY_MS = 25;
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

  /**
   * 'all': every member or none (status 'OK' and the ids, or why not and the taken ids);
   * 'each': every free id. Waits while an all-or-nothing import holds the domain's guard.
   */
  private async writeMembers(
    domain: string,
    members: readonly Member[],
    mode: 'all' | 'each',
  ): Promise<string[]> {
    const deadline = Date.now() + IMPORT_WAIT_MS;
    for (;;) {
      const reply = await runScript(this.redis, createMembersScript, {
        domain,
        mode,
        members: members.map(scriptMember),
      });
      if (reply[0] !== 'BUSY') return reply;
      if (Date.now() > deadline) {
        fail('CONFLICT', `an import into ${domain} is in progress; retry shortly`);
      }
      await sleep(IMPORT_RETRY_MS);
    }
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
    options: ListOptions & { query?: string; searchEmail?: boolean },
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
        if (query !== '' && !memberMatches(member, query, options.searchEmail !== false)) continue;
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
      // Every id checked, then every member written, in chunks, under the domain's import guard.
      if (errors.length === 0 && members.length > 0) {
        const outcome = await this.importAll(domain, members);
        if (outcome.created) created.push(...members.map((m) => m.id));
        else errors.push(...outcome.existing.map(alreadyExists));
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
    return { created, ...boundImportErrors(errors) };
  }

  /**
   * An all-or-nothing import in chunks (no Redis call holds Redis for long): takes the domain's
   * import guard (single creates and other imports wait meanwhile), reads which ids exist,
   * then writes the members chunk by chunk, journaling each, and commits; anything that stops
   * it undoes the chunks written. Rows show in the member list as they are written; relays
   * hear of the new identities at the commit. Should the Manager die midway, the next import
   * into the domain or the next Manager to start removes what was written (the journal).
   */
  private async importAll(
    domain: string,
    members: readonly Member[],
  ): Promise<{ created: true } | { created: false; existing: string[] }> {
    const token = randomUUID();
    await this.takeImportGuard(domain, token);
    let wrote = false;
    try {
      await this.undoImport(domain, token);
      const existing = await this.existingIds(
        domain,
        members.map((m) => m.id),
      );
      if (existing.length > 0) return { created: false, existing };
      for (let i = 0; i < members.length; i += IMPORT_CHUNK) {
        const [status, ...ids] = await runScript(this.redis, importMembersScript, {
          domain,
          token,
          guardMs: IMPORT_GUARD_MS,
          members: members.slice(i, i + IMPORT_CHUNK).map(scriptMember),
        });
        wrote = true;
        // Neither can happen while the guard holds; both stop the import whole.
        if (status === 'EXISTS') {
          await this.undoImport(domain, token);
          return { created: false, existing: ids };
        }
        if (status !== 'OK') importInterrupted(domain);
      }
      const [status] = await runScript(this.redis, finishMemberImportScript, {
        domain,
        token,
        mode: 'commit',
        publish: true,
      });
      if (status !== 'OK') importInterrupted(domain);
      wrote = false;
      return { created: true };
    } catch (error) {
      await this.undoImport(domain, token).catch(() => undefined);
      throw error;
    } finally {
      // A no-op after the commit; after an undo it frees the guard (a journal left behind by
      // an undo that failed stays for the next import or start).
      await runScript(this.redis, finishMemberImportScript, {
        domain,
        token,
        mode: 'release',
        publish: wrote,
      }).catch(() => undefined);
    }
  }

  /** Takes the import guard, waiting while another import holds it. */
  private async takeImportGuard(domain: string, token: string): Promise<void> {
    const key = managerKeys(domain).importGuard;
    const deadline = Date.now() + IMPORT_WAIT_MS;
    while ((await this.redis.set(key, token, 'PX', IMPORT_GUARD_MS, 'NX')) !== 'OK') {
      if (Date.now() > deadline) {
        fail('CONFLICT', `another import into ${domain} is in progress; retry shortly`);
      }
      await sleep(IMPORT_RETRY_MS * 4);
    }
  }

  /** Removes, in chunks, the members in the import journal (the guard is `token`'s). */
  private async undoImport(domain: string, token: string): Promise<number> {
    let removed = 0;
    for (;;) {
      const [status, left] = await runScript(this.redis, rollbackMemberImportScript, {
        domain,
        token,
        guardMs: IMPORT_GUARD_MS,
        count: IMPORT_CHUNK,
      });
      if (status !== 'OK') importInterrupted(domain);
      if (Number(left) === 0) return removed;
      removed += IMPORT_CHUNK;
    }
  }

  /** The ids of `ids` that exist, read in chunks. */
  private async existingIds(domain: string, ids: readonly string[]): Promise<string[]> {
    const key = managerKeys(domain).members;
    const chunks: string[][] = [];
    for (let i = 0; i < ids.length; i += IMPORT_CHUNK) chunks.push(ids.slice(i, i + IMPORT_CHUNK));
    const found = await Promise.all(chunks.map((chunk) => this.redis.hmget(key, ...chunk)));
    return chunks.flatMap((chunk, c) => chunk.filter((_id, j) => found[c]?.[j] !== null));
  }

  /**
   * Undoes what an all-or-nothing import left behind when its Manager died midway (the
   * journal of a guard that expired). Returns whether there was anything to undo.
   */
  async recoverInterruptedImport(domain: string): Promise<boolean> {
    checkDomain(domain);
    const keys = managerKeys(domain);
    if ((await this.redis.llen(keys.importJournal)) === 0) return false;
    const token = randomUUID();
    if ((await this.redis.set(keys.importGuard, token, 'PX', IMPORT_GUARD_MS, 'NX')) !== 'OK') {
      return false; // an import is running: it cleans up before it writes
    }
    try {
      await this.undoImport(domain, token);
    } finally {
      await runScript(this.redis, finishMemberImportScript, {
        domain,
        token,
        mode: 'release',
        publish: true,
      }).catch(() => undefined);
    }
    return true;
  }
}

function scriptMember(m: Member): { id: string; record: string; displayName: string } {
  return { id: m.id, record: JSON.stringify(m), displayName: m.displayName };
}

function importInterrupted(domain: string): never {
  return fail(
    'CONFLICT',
    `the import into ${domain} was interrupted (it ran past its guard) and nothing was kept; retry`,
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
