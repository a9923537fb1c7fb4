import type { FastifyRequest } from 'fastify';
import { ulid } from 'ulid';
import { z } from 'zod';
import { idSchema } from '../../crds/common.js';
import { verifyRelayToken } from '../auth/relay-token.js';
import {
  bridgePutBody,
  bridgeSchema,
  bridgeSyncResponse,
  restoreJobSchema,
  restoreProgressBody,
  restoreRequestBody,
  workspaceLabelsBody,
  workspaceRolesResponse,
  type Bridge,
  type RestoreJob,
} from '../bridge/bridge-model.js';
import { selectedWorkspaces, workspaceRoles } from '../bridge/bridge-membership.js';
import type { BridgeRecords } from '../bridge/bridge-records.js';
import { ManagerError } from '../errors.js';
import type { AdminTokenInfo } from '../model.js';
import type { ManagerContext } from './context.js';
import type { RouteTable } from './route-table.js';

const D = '/v1/admin/domains/:domain';

function param(params: Record<string, string>, name: string): string {
  const value = params[name];
  if (value === undefined) throw new ManagerError('NOT_FOUND', `missing path parameter ${name}`);
  return value;
}

/**
 * The Data Bridge's routes (docs/manager-api.md#data-bridge): registering a domain's bridge and
 * the workspaces it belongs to, workspace labels and roles, restores; and the routes the bridge
 * device itself calls with its relay token (sync, restore jobs). Every change is audited.
 */
export function registerBridgeRoutes(
  routes: RouteTable,
  ctx: ManagerContext,
  records: BridgeRecords,
): void {
  const domainRoute = async (
    request: FastifyRequest,
    params: Record<string, string>,
    write: boolean,
  ) => {
    const domain = param(params, 'domain');
    const admin = await ctx.authorize(request, { kind: 'domain', domain, write });
    ctx.domain(domain);
    return { domain, admin };
  };

  /** Adds the bridge to the selected workspaces it never joined; answers where it is now. */
  const sync = async (domain: string, bridge: Bridge, actor: string) => {
    const workspaces = await ctx.store.listWorkspaces(domain);
    const selected = selectedWorkspaces(
      bridge.selection,
      workspaces,
      await records.workspaceLabels(domain),
      bridge.exclude,
    );
    // Ids of workspaces deleted since are forgotten here too (the delete route forgets them
    // first; this covers a sync that read the bridge before that and wrote it back after).
    const existing = new Set(workspaces.map((workspace) => workspace.id));
    const joined = new Set(bridge.joined.filter((id) => existing.has(id)));
    const added: string[] = [];
    for (const workspace of selected) {
      if (joined.has(workspace.id)) continue;
      joined.add(workspace.id);
      if (workspace.members.includes(bridge.id)) continue;
      await ctx.store.addWorkspaceMembers(domain, workspace.id, [bridge.id], ctx.now());
      await ctx.audit(actor, 'bridge.workspace.add', 'success', {
        domain,
        target: `workspace:${workspace.id}`,
        details: { bridge: bridge.id },
      });
      added.push(workspace.id);
    }
    const nowJoined = [...joined].sort();
    if (nowJoined.join('\n') !== [...bridge.joined].sort().join('\n')) {
      await records.putBridge(domain, {
        ...bridge,
        joined: nowJoined,
        updatedAt: ctx.now().toISOString(),
      });
    }
    const member = new Set(
      workspaces.filter((w) => w.members.includes(bridge.id)).map((w) => w.id),
    );
    for (const id of added) member.add(id);
    return { bridge: bridge.id, workspaces: [...member].sort(), added };
  };

  const bridgeOf = async (domain: string, id: string): Promise<Bridge> => {
    const bridge = await records.getBridge(domain, id);
    if (bridge === undefined)
      throw new ManagerError('NOT_FOUND', `no Data Bridge ${id} in ${domain}`);
    return bridge;
  };

  // ---- administrators ----

  routes.add({
    method: 'GET',
    url: `${D}/bridges`,
    summary: 'The Data Bridges of the domain and the workspaces they select.',
    tag: 'admin',
    security: 'admin',
    responses: { 200: z.array(bridgeSchema) },
    handler: async ({ params, request }) => {
      const { domain } = await domainRoute(request, params, false);
      return records.listBridges(domain);
    },
  });

  routes.add({
    method: 'POST',
    url: `${D}/bridges/:id`,
    summary:
      'Registers (or changes) the Data Bridge identity and the workspaces it archives, and adds it to them. ' +
      'Creates the member when missing.',
    tag: 'admin',
    security: 'admin',
    body: bridgePutBody,
    responses: { 200: bridgeSyncResponse },
    handler: async ({ params, body, request }) => {
      const { domain, admin } = await domainRoute(request, params, true);
      const id = idSchema.parse(param(params, 'id'));
      return ctx.audited(
        admin,
        'bridge.register',
        {
          domain,
          target: `member:${id}`,
          details: {
            workspaces: body.workspaces,
            ...(body.exclude ? { exclude: body.exclude } : {}),
          },
        },
        async () => {
          const now = ctx.now();
          if ((await ctx.store.getMember(domain, id)) === undefined) {
            await ctx.store.createMember(
              domain,
              { id, displayName: body.displayName ?? 'Data Bridge' },
              now,
            );
          }
          const existing = await records.getBridge(domain, id);
          const bridge: Bridge = {
            id,
            selection: body.workspaces,
            ...(body.exclude === undefined ? {} : { exclude: body.exclude }),
            joined: existing?.joined ?? [],
            createdAt: existing?.createdAt ?? now.toISOString(),
            updatedAt: now.toISOString(),
          };
          await records.putBridge(domain, bridge);
          return sync(domain, bridge, admin.name);
        },
      );
    },
  });

  routes.add({
    method: 'POST',
    url: `${D}/bridges/:id/workspaces/:workspace`,
    summary: 'Adds the Data Bridge to a workspace (again).',
    tag: 'admin',
    security: 'admin',
    responses: { 200: bridgeSyncResponse },
    handler: async ({ params, request }) => {
      const { domain, admin } = await domainRoute(request, params, true);
      const bridge = await bridgeOf(domain, param(params, 'id'));
      const workspace = param(params, 'workspace');
      return ctx.audited(
        admin,
        'bridge.workspace.add',
        { domain, target: `workspace:${workspace}`, details: { bridge: bridge.id } },
        async () => {
          await ctx.store.addWorkspaceMembers(domain, workspace, [bridge.id], ctx.now());
          const joined = [...new Set([...bridge.joined, workspace])].sort();
          await records.putBridge(domain, {
            ...bridge,
            joined,
            updatedAt: ctx.now().toISOString(),
          });
          return sync(domain, { ...bridge, joined }, admin.name);
        },
      );
    },
  });

  routes.add({
    method: 'DELETE',
    url: `${D}/bridges/:id/workspaces/:workspace`,
    summary: 'Removes the Data Bridge from a workspace; it is not added back unless asked.',
    tag: 'admin',
    security: 'admin',
    responses: { 200: bridgeSyncResponse },
    handler: async ({ params, request }) => {
      const { domain, admin } = await domainRoute(request, params, true);
      const bridge = await bridgeOf(domain, param(params, 'id'));
      const workspace = param(params, 'workspace');
      return ctx.audited(
        admin,
        'bridge.workspace.remove',
        { domain, target: `workspace:${workspace}`, details: { bridge: bridge.id } },
        async () => {
          await ctx.store.removeWorkspaceMember(domain, workspace, bridge.id, ctx.now());
          const joined = [...new Set([...bridge.joined, workspace])].sort();
          await records.putBridge(domain, {
            ...bridge,
            joined,
            updatedAt: ctx.now().toISOString(),
          });
          const workspaces = (await ctx.store.listWorkspaces(domain))
            .filter((w) => w.members.includes(bridge.id))
            .map((w) => w.id);
          return { bridge: bridge.id, workspaces, added: [] };
        },
      );
    },
  });

  routes.add({
    method: 'POST',
    url: `${D}/workspaces/:id/labels`,
    summary:
      'Sets the labels of a workspace (what a Data Bridge selector matches); {} removes them.',
    tag: 'admin',
    security: 'admin',
    body: workspaceLabelsBody,
    responses: { 200: workspaceLabelsBody },
    handler: async ({ params, body, request }) => {
      const { domain, admin } = await domainRoute(request, params, true);
      const workspace = param(params, 'id');
      return ctx.audited(
        admin,
        'workspace.labels',
        { domain, target: `workspace:${workspace}`, details: { labels: body.labels } },
        async () => {
          if ((await ctx.store.getWorkspace(domain, workspace)) === undefined) {
            throw new ManagerError('NOT_FOUND', `no workspace ${workspace} in ${domain}`);
          }
          await records.setWorkspaceLabels(domain, workspace, body.labels);
          return { labels: body.labels };
        },
      );
    },
  });

  const rolesOf = async (domain: string, workspaceId: string) => {
    const workspace = await ctx.store.getWorkspace(domain, workspaceId);
    if (workspace === undefined)
      throw new ManagerError('NOT_FOUND', `no workspace ${workspaceId} in ${domain}`);
    const bridges = new Set((await records.listBridges(domain)).map((bridge) => bridge.id));
    return {
      workspace: workspaceId,
      members: workspaceRoles(workspace, bridges, await records.roles(domain, workspaceId)),
    };
  };

  routes.add({
    method: 'GET',
    url: `${D}/workspaces/:id/roles`,
    summary:
      'Who a workspace lists, with roles: owner, member, bridge, suspended (not re-invited after a restore).',
    tag: 'admin',
    security: 'admin',
    responses: { 200: workspaceRolesResponse },
    handler: async ({ params, request }) => {
      const { domain } = await domainRoute(request, params, false);
      return rolesOf(domain, param(params, 'id'));
    },
  });

  routes.add({
    method: 'POST',
    url: `${D}/restores`,
    summary:
      'Restores a workspace from its archive into a new workspace: the owner gets the archived messages on ' +
      'its devices, in order; the Data Bridge sends them.',
    tag: 'admin',
    security: 'admin',
    body: restoreRequestBody,
    responses: { 202: restoreJobSchema },
    handler: async ({ params, body, request }, reply) => {
      const { domain, admin } = await domainRoute(request, params, true);
      const job = await ctx.audited(
        admin,
        'workspace.restore',
        {
          domain,
          target: `workspace:${body.newWorkspace}`,
          details: {
            source: body.sourceWorkspace,
            owner: body.owner,
            ...(body.segment === undefined ? {} : { segment: body.segment }),
            ...(body.until === undefined ? {} : { until: body.until }),
          },
        },
        () => createRestore(domain, body, admin),
        (created) => ({ restore: created.id }),
      );
      void reply.code(202);
      return job;
    },
  });

  const createRestore = async (
    domain: string,
    body: z.output<typeof restoreRequestBody>,
    admin: AdminTokenInfo,
  ): Promise<RestoreJob> => {
    const bridge = (await records.listBridges(domain))[0];
    if (bridge === undefined) {
      throw new ManagerError(
        'CONFLICT',
        `no Data Bridge is registered in ${domain}: it is what reads the archive`,
      );
    }
    if ((await ctx.store.getMember(domain, body.owner)) === undefined) {
      throw new ManagerError('NOT_FOUND', `no member ${body.owner} in ${domain}`);
    }
    const source = await ctx.store.getWorkspace(domain, body.sourceWorkspace);
    const now = ctx.now();
    await ctx.store.createWorkspace(
      domain,
      {
        id: body.newWorkspace,
        name: body.name ?? `${source?.name ?? body.sourceWorkspace} (restored)`,
        members: [body.owner, bridge.id],
      },
      now,
    );
    const suspended = (source?.members ?? [])
      .filter((id) => id !== body.owner && id !== bridge.id)
      .sort();
    await records.setRoles(domain, body.newWorkspace, { owner: body.owner, suspended });
    await records.putBridge(domain, {
      ...bridge,
      joined: [...new Set([...bridge.joined, body.newWorkspace])].sort(),
    });
    const job: RestoreJob = {
      id: ulid(now.getTime()),
      domain,
      bridge: bridge.id,
      sourceWorkspace: body.sourceWorkspace,
      ...(body.segment === undefined ? {} : { segment: body.segment }),
      ...(body.until === undefined ? {} : { until: Date.parse(body.until) }),
      newWorkspace: body.newWorkspace,
      owner: body.owner,
      suspended,
      requestedBy: admin.name,
      requestedAt: now.toISOString(),
      state: 'pending',
      delivered: 0,
    };
    await records.putRestore(domain, job);
    return job;
  };

  routes.add({
    method: 'GET',
    url: `${D}/restores`,
    summary: 'Restores of the domain, newest first (the last 200).',
    tag: 'admin',
    security: 'admin',
    responses: { 200: z.array(restoreJobSchema) },
    handler: async ({ params, request }) => {
      const { domain } = await domainRoute(request, params, false);
      return records.listRestores(domain);
    },
  });

  routes.add({
    method: 'GET',
    url: `${D}/restores/:id`,
    summary: 'One restore: its state and how many messages were delivered.',
    tag: 'admin',
    security: 'admin',
    responses: { 200: restoreJobSchema },
    handler: async ({ params, request }) => {
      const { domain } = await domainRoute(request, params, false);
      const job = await records.getRestore(domain, param(params, 'id'));
      if (job === undefined)
        throw new ManagerError('NOT_FOUND', `no restore ${param(params, 'id')} in ${domain}`);
      return job;
    },
  });

  // ---- devices (relay token) ----

  /** The device of a relay token, refused when revoked or unknown. */
  const deviceOf = async (request: FastifyRequest) => {
    const claims = await verifyRelayToken(
      ctx.config,
      request.headers.authorization,
      Math.floor(ctx.now().getTime() / 1000),
    );
    const device = await ctx.store.getDevice(claims.domain, claims.device);
    if (device === undefined || device.memberId !== claims.identity) {
      throw new ManagerError(
        'UNAUTHENTICATED',
        'the relay token names a device that is not enrolled',
      );
    }
    if (device.revokedAt !== undefined)
      throw new ManagerError('DEVICE_REVOKED', `device "${device.id}" was revoked`);
    return { domain: claims.domain, identity: claims.identity, device: claims.device };
  };

  const bridgeDevice = async (request: FastifyRequest) => {
    const caller = await deviceOf(request);
    const bridge = await records.getBridge(caller.domain, caller.identity);
    if (bridge === undefined) {
      throw new ManagerError(
        'FORBIDDEN',
        `${caller.identity} is not a Data Bridge of ${caller.domain}`,
      );
    }
    return { ...caller, bridge };
  };

  routes.add({
    method: 'POST',
    url: '/v1/bridge/sync',
    summary:
      'The bridge device: joins the workspaces its selection names; answers those it belongs to.',
    tag: 'client',
    security: 'relayToken',
    responses: { 200: bridgeSyncResponse },
    handler: async ({ request }) => {
      const { domain, device, bridge } = await bridgeDevice(request);
      return sync(domain, bridge, `device:${device}`);
    },
  });

  routes.add({
    method: 'GET',
    url: '/v1/bridge/restores',
    summary: 'The bridge device: restores it is to run (pending or interrupted), oldest first.',
    tag: 'client',
    security: 'relayToken',
    responses: { 200: z.array(restoreJobSchema) },
    handler: async ({ request }) => {
      const { domain, bridge } = await bridgeDevice(request);
      return (await records.listRestores(domain))
        .filter(
          (job) => job.bridge === bridge.id && (job.state === 'pending' || job.state === 'running'),
        )
        .reverse()
        .slice(0, 10);
    },
  });

  routes.add({
    method: 'POST',
    url: '/v1/bridge/restores/:id',
    summary: 'The bridge device: reports a restore’s progress and outcome (audited when it ends).',
    tag: 'client',
    security: 'relayToken',
    body: restoreProgressBody,
    responses: { 200: restoreJobSchema },
    handler: async ({ params, body, request }) => {
      const { domain, device, bridge } = await bridgeDevice(request);
      const job = await records.getRestore(domain, param(params, 'id'));
      if (job?.bridge !== bridge.id)
        throw new ManagerError('NOT_FOUND', `no restore ${param(params, 'id')} for ${bridge.id}`);
      if (job.state === 'succeeded' || job.state === 'failed') {
        throw new ManagerError('CONFLICT', `restore ${job.id} already ${job.state}`);
      }
      const now = ctx.now().toISOString();
      const done = body.state !== 'running';
      let suspended = job.suspended;
      if (body.senders !== undefined) {
        suspended = [...new Set([...suspended, ...body.senders])]
          .filter((id) => id !== job.owner && id !== bridge.id)
          .sort();
        const roles = await records.roles(domain, job.newWorkspace);
        await records.setRoles(domain, job.newWorkspace, {
          owner: job.owner,
          suspended: [...new Set([...(roles?.suspended ?? []), ...suspended])].sort(),
        });
      }
      const next: RestoreJob = {
        ...job,
        state: body.state,
        delivered: body.delivered,
        suspended,
        ...(body.total === undefined ? {} : { total: body.total }),
        ...(job.startedAt === undefined ? { startedAt: now } : {}),
        ...(done ? { finishedAt: now } : {}),
        ...(body.error === undefined ? {} : { error: body.error }),
      };
      await records.putRestore(domain, next);
      if (done) {
        await ctx.audit(
          `device:${device}`,
          'workspace.restore.finish',
          body.state === 'succeeded' ? 'success' : 'failure',
          {
            domain,
            target: `workspace:${job.newWorkspace}`,
            details: {
              restore: job.id,
              source: job.sourceWorkspace,
              delivered: body.delivered,
              ...(body.error === undefined ? {} : { error: body.error.code }),
            },
          },
        );
      }
      return next;
    },
  });

  routes.add({
    method: 'GET',
    url: '/v1/workspaces/:id/members',
    summary:
      'A member device: who the workspace lists, with roles (owner, member, bridge, suspended).',
    tag: 'client',
    security: 'relayToken',
    responses: { 200: workspaceRolesResponse },
    handler: async ({ params, request }) => {
      const { domain, identity } = await deviceOf(request);
      const roles = await rolesOf(domain, param(params, 'id'));
      if (!roles.members.some((member) => member.id === identity)) {
        // As for an unknown workspace: members of other workspaces learn nothing.
        throw new ManagerError('NOT_FOUND', `no workspace ${param(params, 'id')} in ${domain}`);
      }
      return roles;
    },
  });
}
