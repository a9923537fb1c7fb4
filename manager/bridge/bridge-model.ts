import { z } from 'zod';
import { idSchema, labelSelectorSchema, labelsSchema } from '../../crds/common.js';
import { displayNameSchema, isoTime } from '../model.js';

/**
 * The Manager's records of the Data Bridge: which member of a domain is its bridge, which
 * workspaces it archives, labels of workspaces (for selectors), roles of restored workspaces
 * and restore jobs. Stored apart from the member and workspace records (bridge-records.ts).
 */

/** Which workspaces a bridge belongs to: all of the domain's, a list, or a label selector. */
export const bridgeSelectionSchema = z.union([
  z.strictObject({ all: z.literal(true) }),
  z.strictObject({ ids: z.array(idSchema).max(10_000) }),
  z.strictObject({ selector: labelSelectorSchema }),
]);
export type BridgeSelection = z.infer<typeof bridgeSelectionSchema>;

export const bridgeSchema = z.object({
  id: idSchema.describe('The bridge identity: a member of the domain with the bridge role.'),
  selection: bridgeSelectionSchema,
  /** Workspaces never joined even when the selection names them. */
  exclude: z.array(idSchema).max(10_000).optional(),
  /**
   * Workspaces the Manager added the bridge to: never added again on their own, so a removal
   * (audited) sticks until an administrator adds it back.
   */
  joined: z.array(idSchema),
  createdAt: isoTime,
  updatedAt: isoTime,
});
export type Bridge = z.infer<typeof bridgeSchema>;

export const bridgePutBody = z.strictObject({
  displayName: displayNameSchema.optional(),
  workspaces: bridgeSelectionSchema,
  exclude: z.array(idSchema).max(10_000).optional(),
});

export const workspaceLabelsBody = z.strictObject({ labels: labelsSchema });

export const workspaceRoleSchema = z.enum(['owner', 'member', 'bridge', 'suspended']);

export const workspaceRolesResponse = z.object({
  workspace: idSchema,
  members: z.array(z.object({ id: idSchema, role: workspaceRoleSchema })),
});

/** Roles kept for a restored workspace: its owner, and the members it had, until re-invited. */
export const storedRolesSchema = z.object({
  owner: idSchema.optional(),
  suspended: z.array(idSchema),
});
export type StoredRoles = z.infer<typeof storedRolesSchema>;

export const restoreStateSchema = z.enum(['pending', 'running', 'succeeded', 'failed']);

export const restoreJobSchema = z.object({
  id: z.string().regex(/^[0-9A-Z]{26}$/),
  domain: z.string(),
  bridge: idSchema,
  sourceWorkspace: idSchema,
  /** Last segment restored, or the time (ms) messages were created at the latest; neither: all. */
  segment: z.int().min(1).optional(),
  until: z.int().min(0).optional(),
  newWorkspace: idSchema,
  owner: idSchema,
  suspended: z.array(idSchema),
  requestedBy: z.string(),
  requestedAt: isoTime,
  state: restoreStateSchema,
  startedAt: isoTime.optional(),
  finishedAt: isoTime.optional(),
  /** Messages sent to the new workspace so far, of `total`. */
  delivered: z.int().min(0),
  total: z.int().min(0).optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
});
export type RestoreJob = z.infer<typeof restoreJobSchema>;

export const restoreRequestBody = z
  .strictObject({
    sourceWorkspace: idSchema,
    newWorkspace: idSchema,
    name: displayNameSchema.optional(),
    owner: idSchema.describe('The member who restores: the new workspace’s owner.'),
    segment: z.int().min(1).optional(),
    until: isoTime.optional(),
  })
  .refine((body) => body.segment === undefined || body.until === undefined, {
    message: 'give segment or until, not both',
  });

/** What the bridge reports about a restore it runs. */
export const restoreProgressBody = z.strictObject({
  state: z.enum(['running', 'succeeded', 'failed']),
  delivered: z.int().min(0),
  total: z.int().min(0).optional(),
  /** Identities that sent archived messages: listed as suspended members of the new workspace. */
  senders: z.array(idSchema).max(10_000).optional(),
  error: z.strictObject({ code: z.string().max(64), message: z.string().max(2000) }).optional(),
});

export const bridgeSyncResponse = z.object({
  bridge: idSchema,
  /** The workspaces the bridge is a member of now. */
  workspaces: z.array(idSchema),
  /** Those it was added to by this sync. */
  added: z.array(idSchema),
});
