import { z } from 'zod';
import { dnsLabelSchema, idSchema } from '../../crds/common.js';
import {
  activationCodeSchema,
  adminTokenInfoSchema,
  auditEntrySchema,
  devicePresenceSchema,
  deviceSchema,
  displayNameSchema,
  isoTime,
  memberInputSchema,
  memberPatchSchema,
  memberSchema,
  publicKeyPattern,
  roleSchema,
  usageReportSchema,
  workspaceSchema,
} from '../model.js';

/** Request and response bodies of the HTTP API (docs/manager-api.md); the OpenAPI document is generated from these. */

// ---- admin requests ----

export const memberCreateBody = memberInputSchema;

export const memberPatchBody = memberPatchSchema.refine(
  (p) => p.displayName !== undefined || p.email !== undefined,
  { message: 'set displayName or email' },
);

/** At most this many rows per import (JSON or CSV). */
export const MAX_IMPORT_ROWS = 50_000;

/**
 * JSON import rows are checked one by one by the store (per-row errors, store/member-rules.ts,
 * with memberCreateBody's rules), so each row is only "a value" here.
 */
export const memberImportJsonBody = z.array(z.unknown()).max(MAX_IMPORT_ROWS);

export const importQuery = z.strictObject({
  allOrNothing: z.enum(['true', 'false']).optional(),
});

export const listMembersQuery = z.strictObject({
  q: z.string().max(256).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  cursor: z.string().max(512).optional(),
});

export const memberFilterQuery = z.strictObject({ member: idSchema.optional() });

export const codeIssueBody = z.strictObject({
  ttlSeconds: z
    .int()
    .min(60)
    .max(30 * 86400)
    .optional()
    .describe('Lifetime of the code (default 7 days, 60 s … 30 days).'),
});
export const DEFAULT_CODE_TTL_SECONDS = 7 * 86400;

export const workspaceCreateBody = z.strictObject({
  id: idSchema,
  name: displayNameSchema,
  members: z.array(idSchema).max(10_000).optional(),
});
export const workspaceRenameBody = z.strictObject({ name: displayNameSchema });
export const workspaceMembersBody = z.strictObject({
  members: z.array(idSchema).min(1).max(10_000),
});

export const auditQueryParams = z.strictObject({
  domain: dnsLabelSchema.optional(),
  actor: z.string().max(256).optional(),
  action: z.string().max(128).optional(),
  since: isoTime.optional(),
  until: isoTime.optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  cursor: z.string().max(512).optional(),
  format: z.enum(['json', 'jsonl']).optional(),
});

export const tokenNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,127}$/, 'must be 1-128 of a-z, 0-9, ".", "_", "-"');

export const adminTokenCreateBody = z
  .strictObject({
    name: tokenNameSchema,
    role: roleSchema,
    domains: z.array(dnsLabelSchema).max(1000).default([]),
  })
  .refine((t) => t.role !== 'domain-admin' || t.domains.length > 0, {
    message: 'a domain-admin needs at least one domain',
    path: ['domains'],
  })
  .refine((t) => t.role !== 'server-admin' || t.domains.length === 0, {
    message: 'a server-admin acts on every domain: leave domains empty',
    path: ['domains'],
  });

// ---- client requests ----

const base64urlKey = z
  .string()
  .regex(publicKeyPattern, 'must be a base64url Ed25519 public key (32 bytes)');

export const enrollBody = z.strictObject({
  code: z.string().min(1).max(512),
  publicKey: base64urlKey,
  deviceName: displayNameSchema,
});

export const tokenBody = z.strictObject({
  domain: dnsLabelSchema,
  deviceId: idSchema,
  timestamp: isoTime,
  nonce: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/, 'must be 16-64 base64url characters'),
  signature: z.string().regex(/^[A-Za-z0-9_-]{86}$/, 'must be a base64url Ed25519 signature'),
});

export const contactsQuery = z.strictObject({ q: z.string().min(1).max(256) });

// ---- responses ----

export const errorBody = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
});

export const whoamiResponse = z.object({
  name: z.string(),
  role: roleSchema,
  domains: z.array(z.string()),
});

export const domainSummary = z.object({
  name: z.string(),
  displayName: z.string().optional(),
  relayPools: z.array(z.string()),
  relayUrls: z.array(z.string()),
  tokenTTLSeconds: z.int(),
});

export const pageOf = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), next: z.string().optional() });

export const memberWithDevices = memberSchema.extend({ devices: z.array(deviceSchema) });
export const deviceWithPresence = deviceSchema.extend({ presence: devicePresenceSchema });
export const issuedCode = activationCodeSchema.extend({
  code: z.string().describe('The activation code; shown only in this answer.'),
});
export const importResponse = z.object({
  created: z.array(z.string()),
  errors: z
    .array(
      z.object({
        row: z.int(),
        id: z.string().optional(),
        code: z.string(),
        message: z.string(),
      }),
    )
    .describe('The first refused rows: at most 1000, each message cut to 300 characters.'),
  errorCount: z.int().optional().describe('How many rows were refused, when errors lists fewer.'),
});
export const revokedDevicesResponse = z.object({ revokedDevices: z.array(z.string()) });

export const effectivePolicySchema = z.object({
  relay: z.object({
    maxMessageBytes: z.int(),
    maxQueuedMessages: z.int(),
    maxQueuedBytes: z.int(),
    retentionSeconds: z.int(),
    maxInFlight: z.int(),
    sendRatePerSecond: z.number(),
    sendBurst: z.int(),
    maxRecipients: z.int(),
    dedupWindowSeconds: z.int(),
    maxDomainStoredBytes: z.int(),
    queueOverflow: z.enum(['dropOldest', 'rejectNew']),
    senderQueueSharePercent: z.int(),
    maxWatchedIdentities: z.int(),
    workspaceSend: z.enum(['members', 'domain']),
  }),
  identity: z.object({ contactSearch: z.boolean(), backupIntervalHours: z.int() }),
  device: z.object({ requirePassword: z.boolean(), lockoutAttempts: z.int() }),
});
export type EffectivePolicy = z.infer<typeof effectivePolicySchema>;

export const policyResponse = z.object({
  policies: z.array(z.object({ name: z.string(), priority: z.int() })),
  effective: effectivePolicySchema,
  rule: z.string(),
});

export const relaysResponse = z.object({
  relayPools: z.array(
    z.object({ name: z.string(), urls: z.array(z.string()), ready: z.boolean().optional() }),
  ),
  relayUrls: z.array(z.string()),
});

export const createdTokenResponse = adminTokenInfoSchema.extend({
  token: z.string().describe('The admin token; shown only in this answer.'),
});

/** The relay URLs grouped by pool, home pool first (Domain.spec.relayPools order). */
export const relayPoolsOut = z
  .array(z.array(z.string()))
  .describe('Relay URLs by pool, home first: the SDK fails over between pools (docs/sdk.md)');

export const enrollResponse = z.object({
  deviceId: z.string(),
  identityId: z.string(),
  domain: z.string(),
  relays: z.array(z.string()),
  pools: relayPoolsOut.optional(),
  policy: effectivePolicySchema,
  token: z.string(),
  tokenExpiresAt: isoTime,
});

export const tokenResponse = z.object({
  token: z.string(),
  expiresAt: isoTime,
  relays: z.array(z.string()),
  pools: relayPoolsOut.optional(),
});

export const contactsResponse = z
  .array(z.object({ id: z.string(), displayName: z.string() }))
  .max(50);

// ---- response types: what callers of the API (the web UI) read ----

export type WhoAmIResponse = z.infer<typeof whoamiResponse>;
export type DomainSummary = z.infer<typeof domainSummary>;
export type Page<T> = z.infer<ReturnType<typeof pageOf<z.ZodType<T>>>>;
export type DeviceWithPresence = z.infer<typeof deviceWithPresence>;
export type IssuedCode = z.infer<typeof issuedCode>;
export type ImportResponse = z.infer<typeof importResponse>;
export type PolicyResponse = z.infer<typeof policyResponse>;
export type RelaysResponse = z.infer<typeof relaysResponse>;

export {
  activationCodeSchema,
  adminTokenInfoSchema,
  auditEntrySchema,
  deviceSchema,
  memberSchema,
  usageReportSchema,
  workspaceSchema,
};
