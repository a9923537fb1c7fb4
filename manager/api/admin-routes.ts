import type { BridgeRecords } from '../bridge/bridge-records.js';
import { Readable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { seesAllDomains } from '../auth/roles.js';
import { ManagerError } from '../errors.js';
import type { AdminTokenInfo, Device } from '../model.js';
import type { AuditQuery } from '../store/manager-store.js';
import type { ManagerContext } from './context.js';
import { csvMemberRows, CsvError } from './csv.js';
import { effectivePolicy, POLICY_MERGE_RULE } from './effective-policy.js';
import type { RouteTable } from './route-table.js';
import {
  activationCodeSchema,
  adminTokenCreateBody,
  adminTokenInfoSchema,
  auditEntrySchema,
  auditQueryParams,
  codeIssueBody,
  createdTokenResponse,
  DEFAULT_CODE_TTL_SECONDS,
  deviceSchema,
  deviceWithPresence,
  domainSummary,
  importQuery,
  importResponse,
  issuedCode,
  listMembersQuery,
  MAX_IMPORT_ROWS,
  memberCreateBody,
  memberFilterQuery,
  memberImportJsonBody,
  memberPatchBody,
  memberSchema,
  memberWithDevices,
  pageOf,
  policyResponse,
  relaysResponse,
  revokedDevicesResponse,
  usageReportSchema,
  whoamiResponse,
  workspaceCreateBody,
  workspaceMembersBody,
  workspaceRenameBody,
  workspaceSchema,
} from './schemas.js';

const MiB = 1024 * 1024;
export const IMPORT_BODY_LIMIT = 10 * MiB;

const D = '/v1/admin/domains/:domain';

function param(params: Record<string, string>, name: string): string {
  const value = params[name];
  if (value === undefined) throw new ManagerError('NOT_FOUND', `missing path parameter ${name}`);
  return value;
}

async function withPresence(
  ctx: ManagerContext,
  domain: string,
  devices: Device[],
): Promise<z.infer<typeof deviceWithPresence>[]> {
  const memberIds = [...new Set(devices.map((d) => d.memberId))];
  const presence: Map<string, 'active' | 'idle'> =
    memberIds.length === 0
      ? new Map<string, 'active' | 'idle'>()
      : await ctx.store.presence(domain, memberIds);
  return devices.map((device) => ({
    ...device,
    presence:
      device.revokedAt === undefined
        ? (presence.get(device.id) ?? 'offline')
        : ('offline' as const),
  }));
}

function auditScope(
  admin: AdminTokenInfo,
  domain: string | undefined,
): readonly string[] | undefined {
  if (domain !== undefined) {
    if (!seesAllDomains(admin) && !admin.domains.includes(domain)) {
      throw new ManagerError(
        'FORBIDDEN',
        `admin token "${admin.name}" (${admin.role}) has no access to domain "${domain}"`,
      );
    }
    return [domain];
  }
  return seesAllDomains(admin) ? undefined : admin.domains;
}

function wantsJsonLines(request: FastifyRequest, format: string | undefined): boolean {
  if (format !== undefined) return format === 'jsonl';
  return (request.headers.accept ?? '').includes('application/x-ndjson');
}

export function registerAdminRoutes(
  routes: RouteTable,
  ctx: ManagerContext,
  bridges?: BridgeRecords,
): void {
  /**
   * The route's :domain, once the token may read (write) it and it is configured: 401/403
   * come before 404, so a token cannot probe which domains exist.
   */
  const domainRoute = async (
    request: FastifyRequest,
    params: Record<string, string>,
    writes: boolean,
  ) => {
    const domain = param(params, 'domain');
    const admin = await ctx.authorize(request, { kind: 'domain', domain, write: writes });
    return { domain, admin, config: ctx.domain(domain) };
  };
  const readDomain = (request: FastifyRequest, params: Record<string, string>) =>
    domainRoute(request, params, false);
  const writeDomain = (request: FastifyRequest, params: Record<string, string>) =>
    domainRoute(request, params, true);

  routes.add({
    method: 'GET',
    url: '/v1/admin/whoami',
    summary: 'The admin token in use: its name, role and domains.',
    tag: 'admin',
    security: 'admin',
    responses: { 200: whoamiResponse },
    handler: async ({ request }) => {
      const admin = await ctx.authorize(request, { kind: 'server', write: false });
      return { name: admin.name, role: admin.role, domains: admin.domains };
    },
  });

  routes.add({
    method: 'GET',
    url: '/v1/admin/domains',
    summary: 'The domains this token may see.',
    tag: 'admin',
    security: 'admin',
    responses: { 200: z.array(domainSummary) },
    handler: async ({ request }) => {
      const admin = await ctx.authorize(request, { kind: 'server', write: false });
      return ctx.config
        .listDomains()
        .filter((d) => seesAllDomains(admin) || admin.domains.includes(d.domain.metadata.name))
        .map((d) => ({
          name: d.domain.metadata.name,
          ...(d.domain.spec.displayName === undefined
            ? {}
            : { displayName: d.domain.spec.displayName }),
          relayPools: d.domain.spec.relayPools,
          relayUrls: d.relayUrls,
          tokenTTLSeconds: d.domain.spec.tokenTTLSeconds,
        }));
    },
  });

  // ---- members ----

  routes.add({
    method: 'GET',
    url: `${D}/members`,
    summary:
      'Members of the domain, searched (case-insensitive substring of id, name, e-mail) and paged.',
    tag: 'admin',
    security: 'admin',
    query: listMembersQuery,
    responses: { 200: pageOf(memberSchema) },
    handler: async ({ params, query, request }) => {
      const { domain } = await readDomain(request, params);
      return ctx.store.listMembers(domain, {
        ...(query.q === undefined || query.q === '' ? {} : { query: query.q }),
        ...(query.limit === undefined ? {} : { limit: query.limit }),
        ...(query.cursor === undefined ? {} : { cursor: query.cursor }),
      });
    },
  });

  routes.add({
    method: 'POST',
    url: `${D}/members`,
    summary: 'Create a member (an identity).',
    tag: 'admin',
    security: 'admin',
    body: memberCreateBody,
    responses: { 201: memberSchema },
    handler: async ({ params, body, request }, reply) => {
      const { domain, admin } = await writeDomain(request, params);
      const member = await ctx.audited(
        admin,
        'member.create',
        { domain, target: `member:${body.id}` },
        () => ctx.store.createMember(domain, body, ctx.now()),
      );
      return reply.code(201).send(member);
    },
  });

  routes.add({
    method: 'GET',
    url: `${D}/members/:id`,
    summary: 'A member with its devices.',
    tag: 'admin',
    security: 'admin',
    responses: { 200: memberWithDevices },
    handler: async ({ params, request }) => {
      const { domain } = await readDomain(request, params);
      const id = param(params, 'id');
      const member = await ctx.store.getMember(domain, id);
      if (member === undefined)
        throw new ManagerError('NOT_FOUND', `no member "${id}" in domain "${domain}"`);
      const devices = await ctx.store.listDevices(domain, { memberId: id });
      return { ...member, devices };
    },
  });

  routes.add({
    method: 'PATCH',
    url: `${D}/members/:id`,
    summary: 'Change a member’s display name or e-mail (null removes it).',
    tag: 'admin',
    security: 'admin',
    body: memberPatchBody,
    responses: { 200: memberSchema },
    handler: async ({ params, body, request }) => {
      const { domain, admin } = await writeDomain(request, params);
      const id = param(params, 'id');
      return ctx.audited(
        admin,
        'member.update',
        { domain, target: `member:${id}`, details: { fields: Object.keys(body) } },
        () => ctx.store.updateMember(domain, id, body, ctx.now()),
      );
    },
  });

  routes.add({
    method: 'DELETE',
    url: `${D}/members/:id`,
    summary: 'Delete a member: its devices are revoked and it leaves every workspace.',
    tag: 'admin',
    security: 'admin',
    responses: { 200: revokedDevicesResponse },
    handler: async ({ params, request }) => {
      const { domain, admin } = await writeDomain(request, params);
      const id = param(params, 'id');
      const result = await ctx.audited(
        admin,
        'member.delete',
        { domain, target: `member:${id}` },
        () => ctx.store.deleteMember(domain, id, ctx.now()),
        (r) => ({ revokedDevices: r.revokedDevices }),
      );
      ctx.metrics.revocations.inc(result.revokedDevices.length);
      return result;
    },
  });

  routes.add({
    method: 'POST',
    url: `${D}/members::import`,
    summary:
      'Create many members from CSV (header id,displayName,email) or a JSON array; per-row errors; ' +
      '?allOrNothing=true creates none unless every row is valid (422 otherwise).',
    tag: 'admin',
    security: 'admin',
    query: importQuery,
    body: z.union([memberImportJsonBody, z.string()]),
    contentTypes: ['application/json', 'text/csv'],
    bodyLimit: IMPORT_BODY_LIMIT,
    responses: { 200: importResponse, 422: importResponse },
    handler: async ({ params, query, body, request }, reply) => {
      const { domain, admin } = await writeDomain(request, params);
      let rows: unknown[];
      if (typeof body === 'string') {
        try {
          rows = csvMemberRows(body);
        } catch (error) {
          if (error instanceof CsvError) throw new ManagerError('VALIDATION_FAILED', error.message);
          throw error;
        }
        if (rows.length > MAX_IMPORT_ROWS) {
          throw new ManagerError('VALIDATION_FAILED', `at most ${MAX_IMPORT_ROWS} rows per import`);
        }
      } else rows = body;
      const allOrNothing = query.allOrNothing === 'true';
      // The store checks each row (like a single create) and reports the request's rows.
      const result = await ctx.store.importMembers(domain, rows, { allOrNothing }, ctx.now());
      await ctx.audit(
        admin.name,
        'member.import',
        result.errors.length > 0 && result.created.length === 0 ? 'failure' : 'success',
        {
          domain,
          details: {
            rows: rows.length,
            created: result.created.length,
            errors: result.errors.length,
            allOrNothing,
          },
        },
      );
      return reply.code(allOrNothing && result.errors.length > 0 ? 422 : 200).send(result);
    },
  });

  // ---- activation codes ----

  routes.add({
    method: 'POST',
    url: `${D}/members/:id/codes`,
    summary: 'Issue a one-time activation code for the member (the code is shown only here).',
    tag: 'admin',
    security: 'admin',
    body: codeIssueBody,
    responses: { 201: issuedCode },
    handler: async ({ params, body, request }, reply) => {
      const { domain, admin } = await writeDomain(request, params);
      const id = param(params, 'id');
      const ttl = body.ttlSeconds ?? DEFAULT_CODE_TTL_SECONDS;
      const issued = await ctx.audited(
        admin,
        'code.issue',
        { domain, target: `member:${id}`, details: { ttlSeconds: ttl } },
        () => ctx.store.issueCode(domain, id, ttl, ctx.now()),
        (r) => ({ codeId: r.info.id }),
      );
      return reply.code(201).send({ code: issued.code, ...issued.info });
    },
  });

  routes.add({
    method: 'GET',
    url: `${D}/codes`,
    summary: 'Activation codes of the domain (ids only, never the codes).',
    tag: 'admin',
    security: 'admin',
    query: memberFilterQuery,
    responses: { 200: z.array(activationCodeSchema) },
    handler: async ({ params, query, request }) => {
      const { domain } = await readDomain(request, params);
      return ctx.store.listCodes(
        domain,
        query.member === undefined ? {} : { memberId: query.member },
      );
    },
  });

  routes.add({
    method: 'DELETE',
    url: `${D}/codes/:codeId`,
    summary: 'Revoke an activation code.',
    tag: 'admin',
    security: 'admin',
    responses: { 200: activationCodeSchema },
    handler: async ({ params, request }) => {
      const { domain, admin } = await writeDomain(request, params);
      const codeId = param(params, 'codeId');
      return ctx.audited(admin, 'code.revoke', { domain, target: `code:${codeId}` }, () =>
        ctx.store.revokeCode(domain, codeId, ctx.now()),
      );
    },
  });

  // ---- devices ----

  routes.add({
    method: 'GET',
    url: `${D}/devices`,
    summary: 'Devices of the domain (or of one member) with last seen and presence.',
    tag: 'admin',
    security: 'admin',
    query: memberFilterQuery,
    responses: { 200: z.array(deviceWithPresence) },
    handler: async ({ params, query, request }) => {
      const { domain } = await readDomain(request, params);
      const devices = await ctx.store.listDevices(
        domain,
        query.member === undefined ? {} : { memberId: query.member },
      );
      return withPresence(ctx, domain, devices);
    },
  });

  routes.add({
    method: 'POST',
    url: `${D}/devices/:id/revoke`,
    summary:
      'Revoke a device: relays disconnect it within a second, its tokens stop working, its queue is purged.',
    tag: 'admin',
    security: 'admin',
    responses: { 200: deviceSchema },
    handler: async ({ params, request }) => {
      const { domain, admin } = await writeDomain(request, params);
      const id = param(params, 'id');
      const device = await ctx.audited(
        admin,
        'device.revoke',
        { domain, target: `device:${id}` },
        () => ctx.store.revokeDevice(domain, id, ctx.now()),
        (d) => ({ member: d.memberId }),
      );
      ctx.metrics.revocations.inc();
      return device;
    },
  });

  // ---- workspaces ----

  routes.add({
    method: 'GET',
    url: `${D}/workspaces`,
    summary: 'Workspaces of the domain.',
    tag: 'admin',
    security: 'admin',
    responses: { 200: z.array(workspaceSchema) },
    handler: async ({ params, request }) => {
      const { domain } = await readDomain(request, params);
      return ctx.store.listWorkspaces(domain);
    },
  });

  routes.add({
    method: 'POST',
    url: `${D}/workspaces`,
    summary: 'Create a workspace.',
    tag: 'admin',
    security: 'admin',
    body: workspaceCreateBody,
    responses: { 201: workspaceSchema },
    handler: async ({ params, body, request }, reply) => {
      const { domain, admin } = await writeDomain(request, params);
      const workspace = await ctx.audited(
        admin,
        'workspace.create',
        { domain, target: `workspace:${body.id}` },
        () =>
          ctx.store.createWorkspace(
            domain,
            { id: body.id, name: body.name, members: body.members ?? [] },
            ctx.now(),
          ),
      );
      return reply.code(201).send(workspace);
    },
  });

  routes.add({
    method: 'PATCH',
    url: `${D}/workspaces/:id`,
    summary: 'Rename a workspace.',
    tag: 'admin',
    security: 'admin',
    body: workspaceRenameBody,
    responses: { 200: workspaceSchema },
    handler: async ({ params, body, request }) => {
      const { domain, admin } = await writeDomain(request, params);
      const id = param(params, 'id');
      return ctx.audited(admin, 'workspace.rename', { domain, target: `workspace:${id}` }, () =>
        ctx.store.renameWorkspace(domain, id, body.name, ctx.now()),
      );
    },
  });

  routes.add({
    method: 'DELETE',
    url: `${D}/workspaces/:id`,
    summary: 'Delete a workspace.',
    tag: 'admin',
    security: 'admin',
    responses: { 204: null },
    handler: async ({ params, request }, reply) => {
      const { domain, admin } = await writeDomain(request, params);
      const id = param(params, 'id');
      await ctx.audited(admin, 'workspace.delete', { domain, target: `workspace:${id}` }, () =>
        ctx.store.deleteWorkspace(domain, id),
      );
      await bridges?.forgetWorkspace(domain, id, ctx.now());
      return reply.code(204).send();
    },
  });

  routes.add({
    method: 'POST',
    url: `${D}/workspaces/:id/members`,
    summary: 'Add members to a workspace.',
    tag: 'admin',
    security: 'admin',
    body: workspaceMembersBody,
    responses: { 200: workspaceSchema },
    handler: async ({ params, body, request }) => {
      const { domain, admin } = await writeDomain(request, params);
      const id = param(params, 'id');
      return ctx.audited(
        admin,
        'workspace.members.add',
        { domain, target: `workspace:${id}`, details: { members: body.members } },
        () => ctx.store.addWorkspaceMembers(domain, id, body.members, ctx.now()),
      );
    },
  });

  routes.add({
    method: 'DELETE',
    url: `${D}/workspaces/:id/members/:member`,
    summary: 'Remove a member from a workspace.',
    tag: 'admin',
    security: 'admin',
    responses: { 200: workspaceSchema },
    handler: async ({ params, request }) => {
      const { domain, admin } = await writeDomain(request, params);
      const id = param(params, 'id');
      const member = param(params, 'member');
      return ctx.audited(
        admin,
        'workspace.members.remove',
        { domain, target: `workspace:${id}`, details: { member } },
        () => ctx.store.removeWorkspaceMember(domain, id, member, ctx.now()),
      );
    },
  });

  // ---- policy, relays, usage ----

  routes.add({
    method: 'GET',
    url: `${D}/policy`,
    summary: 'The Policies bound to the domain, the effective policy, and the merge rule.',
    tag: 'admin',
    security: 'admin',
    query: memberFilterQuery,
    responses: { 200: policyResponse },
    handler: async ({ params, query, request }) => {
      const { domain, config } = await readDomain(request, params);
      if (
        query.member !== undefined &&
        (await ctx.store.getMember(domain, query.member)) === undefined
      ) {
        throw new ManagerError('NOT_FOUND', `no member "${query.member}" in domain "${domain}"`);
      }
      return {
        policies: config.policies.map((p) => ({
          name: p.metadata.name,
          priority: p.spec.priority,
        })),
        effective: effectivePolicy(config.policies),
        rule: POLICY_MERGE_RULE,
      };
    },
  });

  routes.add({
    method: 'GET',
    url: `${D}/relays`,
    summary: 'The domain’s relay pools (home pool first) and their URLs.',
    tag: 'admin',
    security: 'admin',
    responses: { 200: relaysResponse },
    handler: async ({ params, request }) => {
      const { config } = await readDomain(request, params);
      return { relayPools: config.relayPools, relayUrls: config.relayUrls };
    },
  });

  routes.add({
    method: 'GET',
    url: `${D}/usage`,
    summary: 'Members, devices, devices online, messages relayed, queued messages and bytes.',
    tag: 'admin',
    security: 'admin',
    responses: { 200: usageReportSchema },
    handler: async ({ params, request }) => {
      const { domain } = await readDomain(request, params);
      return ctx.store.usage(domain);
    },
  });

  // ---- audit ----

  routes.add({
    method: 'GET',
    url: '/v1/admin/audit',
    summary:
      'The audit log, newest first, filtered by domain, actor, action and time; ' +
      'as JSON lines (every match) with Accept: application/x-ndjson or ?format=jsonl.',
    tag: 'admin',
    security: 'admin',
    query: auditQueryParams,
    responses: { 200: pageOf(auditEntrySchema) },
    handler: async ({ query, request }, reply) => {
      const admin = await ctx.authorize(request, { kind: 'server', write: false });
      const domains = auditScope(admin, query.domain);
      const base: AuditQuery = {
        ...(domains === undefined ? {} : { domains }),
        ...(query.actor === undefined ? {} : { actor: query.actor }),
        ...(query.action === undefined ? {} : { action: query.action }),
        ...(query.since === undefined ? {} : { since: new Date(query.since) }),
        ...(query.until === undefined ? {} : { until: new Date(query.until) }),
      };
      if (wantsJsonLines(request, query.format)) {
        const store = ctx.store;
        async function* lines(): AsyncGenerator<string> {
          let cursor = query.cursor;
          do {
            const page = await store.queryAudit({
              ...base,
              limit: 1000,
              ...(cursor === undefined ? {} : { cursor }),
            });
            for (const entry of page.items) yield `${JSON.stringify(entry)}\n`;
            cursor = page.next;
          } while (cursor !== undefined);
        }
        return reply.type('application/x-ndjson').send(Readable.from(lines()));
      }
      return ctx.store.queryAudit({
        ...base,
        ...(query.limit === undefined ? {} : { limit: query.limit }),
        ...(query.cursor === undefined ? {} : { cursor: query.cursor }),
      });
    },
  });

  // ---- admin tokens ----

  routes.add({
    method: 'GET',
    url: '/v1/admin/tokens',
    summary: 'Admin tokens (names and roles, never the tokens). Server-admin only.',
    tag: 'admin',
    security: 'admin',
    responses: { 200: z.array(adminTokenInfoSchema) },
    handler: async ({ request }) => {
      await ctx.authorize(request, { kind: 'tokens' });
      return ctx.store.listAdminTokens();
    },
  });

  routes.add({
    method: 'POST',
    url: '/v1/admin/tokens',
    summary: 'Create an admin token (shown only in this answer). Server-admin only.',
    tag: 'admin',
    security: 'admin',
    body: adminTokenCreateBody,
    responses: { 201: createdTokenResponse },
    handler: async ({ body, request }, reply) => {
      const admin = await ctx.authorize(request, { kind: 'tokens' });
      const created = await ctx.audited(
        admin,
        'token.create',
        { target: `token:${body.name}`, details: { role: body.role, domains: body.domains } },
        () => ctx.store.createAdminToken(body, ctx.now()),
      );
      return reply.code(201).send({ token: created.token, ...created.info });
    },
  });

  routes.add({
    method: 'DELETE',
    url: '/v1/admin/tokens/:name',
    summary: 'Revoke an admin token, for good (it is never accepted again). Server-admin only.',
    tag: 'admin',
    security: 'admin',
    responses: { 204: null },
    handler: async ({ params, request }, reply) => {
      const name = param(params, 'name');
      const admin = await ctx.authorize(request, { kind: 'tokens' });
      await ctx.audited(admin, 'token.revoke', { target: `token:${name}` }, () =>
        ctx.store.revokeAdminToken(name, ctx.now()),
      );
      return reply.code(204).send();
    },
  });
}
