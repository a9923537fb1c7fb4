import { z } from 'zod';
import {
  apiVersionSchema,
  conditionsSchema,
  labelSelectorSchema,
  objectMetaSchema,
  validateLabelSelector,
} from './common.js';
import { celRules } from './crd-meta.js';
import { relayLimitFields } from './relay-limits.js';

// No defaults below the spec: merging must tell "not set here" from "set to the default value".

const f = relayLimitFields;

export const policyRelaySchema = z
  .strictObject({
    maxMessageBytes: f.maxMessageBytes.optional(),
    maxQueuedMessages: f.maxQueuedMessages.optional(),
    maxQueuedBytes: f.maxQueuedBytes.optional(),
    retentionSeconds: f.retentionSeconds.optional(),
    maxInFlight: f.maxInFlight.optional(),
    sendRatePerSecond: f.sendRatePerSecond.optional(),
    sendBurst: f.sendBurst.optional(),
    maxRecipients: f.maxRecipients.optional(),
    dedupWindowSeconds: f.dedupWindowSeconds.optional(),
    maxDomainStoredBytes: f.maxDomainStoredBytes.optional(),
    queueOverflow: f.queueOverflow.optional(),
    senderQueueSharePercent: f.senderQueueSharePercent.optional(),
    maxWatchedIdentities: f.maxWatchedIdentities.optional(),
    workspaceSend: f.workspaceSend.optional(),
  })
  .describe(
    'Relay limits (per device, per send, per domain); each one omitted here is taken from another Policy or the default.',
  )
  // The CRD's copy of the rule of validatePolicy; only when this Policy sets both limits.
  .meta(
    celRules({
      rule:
        '!has(self.maxMessageBytes) || !has(self.maxQueuedBytes) || ' +
        'self.maxMessageBytes <= self.maxQueuedBytes',
      message:
        'maxMessageBytes must be <= maxQueuedBytes, or no message of that size could ever be queued',
      fieldPath: '.maxMessageBytes',
    }),
  );

export const policyIdentitySchema = z
  .strictObject({
    contactSearch: z
      .boolean()
      .optional()
      .describe('Whether members may search the domain’s directory for contacts.'),
    backupIntervalHours: z
      .int()
      .min(0)
      .max(8760)
      .optional()
      .describe('How often clients back up the identity’s account, in hours; 0 turns it off.'),
  })
  .describe('Settings for the identities (members) of the domain.');

export const policyDeviceSchema = z
  .strictObject({
    requirePassword: z
      .boolean()
      .optional()
      .describe('Whether the client must be unlocked with a password.'),
    lockoutAttempts: z
      .int()
      .min(0)
      .max(1000)
      .optional()
      .describe('Failed unlock attempts after which the device locks; 0 never locks.'),
  })
  .describe('Settings for the enrolled devices of the domain’s members.');

export const policySpecSchema = z
  .strictObject({
    priority: z
      .int32()
      .default(0)
      .describe(
        'Precedence when several Policies set the same field: the higher wins; ties go to the ' +
          'alphabetically first name (default 0).',
      ),
    domainSelector: labelSelectorSchema
      .optional()
      .describe(
        'Selects the Domains (same namespace) this Policy applies to by their labels; {} selects all. ' +
          'Omitted: only Domains whose policySelector selects this Policy.',
      ),
    relay: policyRelaySchema.optional(),
    identity: policyIdentitySchema.optional(),
    device: policyDeviceSchema.optional(),
  })
  .describe('Settings for the Domains this Policy applies to; each field may be left unset.');

export const policyStatusSchema = z
  .object({
    observedGeneration: z
      .int()
      .min(0)
      .optional()
      .describe('metadata.generation the status was computed from.'),
    appliesTo: z
      .array(z.string())
      .optional()
      .describe('Names of the Domains this Policy applies to.'),
    conditions: conditionsSchema.optional(),
  })
  .describe('Observed state of the policy, written by the operator.');

export const policySchema = z
  .object({
    apiVersion: apiVersionSchema,
    kind: z.literal('Policy').describe('Always Policy.'),
    metadata: objectMetaSchema,
    spec: policySpecSchema,
    status: policyStatusSchema.optional(),
  })
  .describe('Limits and settings applied to the Domains it selects or that select it.');

export type PolicyRelay = z.infer<typeof policyRelaySchema>;
export type PolicyIdentity = z.infer<typeof policyIdentitySchema>;
export type PolicyDevice = z.infer<typeof policyDeviceSchema>;
export type PolicySpec = z.infer<typeof policySpecSchema>;
export type PolicyStatus = z.infer<typeof policyStatusSchema>;
export type Policy = z.infer<typeof policySchema>;

/** Cross-field rules; messages start with the field path. */
export function validatePolicy(policy: Policy): string[] {
  const { spec } = policy;
  const issues: string[] = [];
  if (spec.domainSelector) {
    issues.push(...validateLabelSelector(spec.domainSelector, 'spec.domainSelector'));
  }
  const relay = spec.relay;
  if (
    relay?.maxMessageBytes !== undefined &&
    relay.maxQueuedBytes !== undefined &&
    relay.maxMessageBytes > relay.maxQueuedBytes
  ) {
    issues.push(
      `spec.relay.maxMessageBytes: must be <= spec.relay.maxQueuedBytes (${relay.maxQueuedBytes})`,
    );
  }
  return issues;
}
