import { z } from 'zod';
import { dnsLabelSchema, idSchema } from '../crds/common.js';

/**
 * The Manager's runtime data, as the admin API returns it. One source: the API's request and
 * response schemas (api/schemas.ts), the Redis store and the CLI all use these.
 */

export const isoTime = z.iso.datetime({ offset: true });

export const roleSchema = z
  .enum(['server-admin', 'domain-admin', 'auditor'])
  .describe(
    'server-admin: everything, every domain. domain-admin: everything within its domains. ' +
      'auditor: read-only, within its domains (all domains when it lists none).',
  );
export type Role = z.infer<typeof roleSchema>;

export const memberSchema = z.object({
  id: idSchema.describe(
    'Identity id, unique in the domain; used in relay addresses (identity:ID).',
  ),
  domain: dnsLabelSchema,
  displayName: z.string().min(1).max(256),
  email: z.string().max(320).optional(),
  createdAt: isoTime,
  updatedAt: isoTime,
});
export type Member = z.infer<typeof memberSchema>;

/**
 * What a member is made from: one create, one import row (`memberInputSchema`), one change
 * (`memberPatchSchema`). One source for the API's request bodies (api/schemas.ts) and the
 * store's own checks (store/member-rules.ts). Names and addresses are trimmed.
 */
export const displayNameSchema = z.string().trim().min(1).max(256);
export const emailSchema = z
  .string()
  .trim()
  .max(320)
  .regex(/^[^\s@]+@[^\s@]+$/, 'must be an e-mail address');

export const memberInputSchema = z.strictObject({
  id: idSchema,
  displayName: displayNameSchema,
  email: emailSchema.optional(),
});
export type MemberInput = z.output<typeof memberInputSchema>;

/** Without the API's "set at least one field" rule: that is a rule of the request. */
export const memberPatchSchema = z.strictObject({
  displayName: displayNameSchema.optional(),
  email: emailSchema.nullable().optional().describe('null removes the e-mail address.'),
});
export type MemberPatch = z.output<typeof memberPatchSchema>;

/** An Ed25519 public key as devices send it: base64url of the raw 32 bytes (JWK "x"). */
export const publicKeyPattern = /^[A-Za-z0-9_-]{43}$/;

export const devicePresenceSchema = z.enum(['active', 'idle', 'offline']);

export const deviceSchema = z.object({
  id: idSchema.describe('Device id, unique in the domain.'),
  domain: dnsLabelSchema,
  memberId: idSchema,
  name: z.string().min(1).max(256),
  /** Ed25519 public key, base64url (JWK "x"). */
  publicKey: z.string().regex(publicKeyPattern, 'must be a base64url Ed25519 public key'),
  enrolledAt: isoTime,
  lastSeenAt: isoTime.optional(),
  revokedAt: isoTime.optional(),
});
export type Device = z.infer<typeof deviceSchema>;

export const activationCodeSchema = z.object({
  /** Only the first characters: the code itself is shown once, at issue. */
  id: z
    .string()
    .describe('Id of the code (not the code): a prefix shown in lists and the audit log.'),
  domain: dnsLabelSchema,
  memberId: idSchema,
  createdAt: isoTime,
  expiresAt: isoTime,
  usedAt: isoTime.optional(),
  usedByDevice: idSchema.optional(),
  revokedAt: isoTime.optional(),
});
export type ActivationCode = z.infer<typeof activationCodeSchema>;

export const workspaceSchema = z.object({
  id: idSchema,
  domain: dnsLabelSchema,
  name: z.string().min(1).max(256),
  members: z.array(idSchema),
  createdAt: isoTime,
  updatedAt: isoTime,
});
export type Workspace = z.infer<typeof workspaceSchema>;

export const auditEntrySchema = z.object({
  /** Redis stream id: orders entries; also the pagination cursor. */
  id: z.string(),
  time: isoTime,
  /** Admin token name, `device:<id>` for enrollment and token refresh, or `anonymous`. */
  actor: z.string(),
  /** e.g. member.create, member.import, code.issue, code.revoke, device.enroll, device.revoke, workspace.create, login.failed */
  action: z.string(),
  domain: z.string().optional(),
  /** What the action was applied to, e.g. member:alice. */
  target: z.string().optional(),
  outcome: z.enum(['success', 'failure']),
  details: z.record(z.string(), z.unknown()).optional(),
});
export type AuditEntry = z.infer<typeof auditEntrySchema>;

export const adminTokenInfoSchema = z.object({
  name: z.string().min(1).max(128),
  role: roleSchema,
  /** Domains a domain-admin or auditor may act on; empty for server-admin (all). */
  domains: z.array(dnsLabelSchema),
  createdAt: isoTime,
});
export type AdminTokenInfo = z.infer<typeof adminTokenInfoSchema>;

export const usageReportSchema = z.object({
  domain: dnsLabelSchema,
  members: z.int(),
  devices: z.int().describe('Enrolled devices, revoked ones excluded.'),
  devicesOnline: z.int(),
  messagesRelayed: z
    .int()
    .describe('Messages accepted by the relays for this domain since it was created.'),
  queuedMessages: z.int(),
  queuedBytes: z.int(),
});
export type UsageReport = z.infer<typeof usageReportSchema>;
