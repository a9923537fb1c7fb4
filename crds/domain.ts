import { z } from 'zod';
import {
  apiVersionSchema,
  conditionsSchema,
  dnsLabelSchema,
  dnsSubdomainSchema,
  labelSelectorSchema,
  objectMetaSchema,
  validateLabelSelector,
} from './common.js';
import { celRules, listOfUniqueValues } from './crd-meta.js';

export const signingKeySchema = z
  .strictObject({
    algorithm: z
      .literal('EdDSA')
      .default('EdDSA')
      .describe('JWS algorithm of relay tokens; EdDSA (Ed25519) is the only one supported.'),
    rotationGracePeriodSeconds: z
      .int()
      .min(0)
      .max(30 * 86400)
      .default(86400)
      .describe(
        'How long a replaced signing key stays published so that tokens it signed keep verifying, ' +
          'in seconds; at least tokenTTLSeconds (default 86400).',
      ),
  })
  .describe(
    'The key relay tokens of this domain are signed with; the operator keeps the private key in ' +
      'a Secret (status.signingKeySecret) and publishes the public keys in status.publicKeys.',
  );

export const domainSpecSchema = z
  .strictObject({
    displayName: z
      .string()
      .min(1)
      .max(256)
      .optional()
      .describe('Human-readable name shown in the Manager and clients.'),
    relayPools: z
      .array(dnsLabelSchema)
      .min(1)
      .max(16)
      .describe(
        'Names of RelayPools (same namespace) serving this domain, in order: the home pool first, then ' +
          'failover pools clients try when it is unreachable. All must use one store: the same ' +
          'spec.redis.external.url, or one pool’s built-in Redis, which the others name in ' +
          'spec.redis.relayPool.',
      )
      .meta(listOfUniqueValues),
    policySelector: labelSelectorSchema
      .optional()
      .describe(
        'Selects Policies by their labels; they apply in addition to Policies whose domainSelector ' +
          'selects this domain. Omitted: none selected this way.',
      ),
    signingKey: signingKeySchema.prefault({}),
    tokenTTLSeconds: z
      .int()
      .min(60)
      .max(86400)
      .default(3600)
      .describe(
        'Lifetime of a relay token issued to a device, in seconds (60 to 86400; default 3600).',
      ),
  })
  .describe('Desired state of an organisation’s administrative unit.')
  // The CRD's copy of the rule of validateDomain that spans fields. Both fields have defaults,
  // so the has() guards only matter for objects stored before a default existed.
  .meta(
    celRules({
      rule:
        '!has(self.signingKey) || !has(self.signingKey.rotationGracePeriodSeconds) || ' +
        '!has(self.tokenTTLSeconds) || self.signingKey.rotationGracePeriodSeconds >= self.tokenTTLSeconds',
      message:
        'signingKey.rotationGracePeriodSeconds must be >= tokenTTLSeconds, or tokens signed just ' +
        'before a key rotation would stop verifying while still valid',
      fieldPath: '.signingKey.rotationGracePeriodSeconds',
    }),
  );

export const publicKeySchema = z
  .object({
    kid: z.string().min(1).describe('Key id, as in the "kid" header of tokens it verifies.'),
    x: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, 'must be base64url')
      .describe('The Ed25519 public key, base64url-encoded (the JWK "x" member).'),
    notAfter: z.iso
      .datetime({ offset: true })
      .optional()
      .describe('For a retired key: RFC 3339 time after which it is no longer published.'),
  })
  .describe('A public key that verifies relay tokens of this domain.');

export const domainStatusSchema = z
  .object({
    observedGeneration: z
      .int()
      .min(0)
      .optional()
      .describe('metadata.generation the status was computed from.'),
    signingKeySecret: dnsSubdomainSchema
      .optional()
      .describe('Name of the Secret holding the current private signing key.'),
    publicKeys: z
      .array(publicKeySchema)
      .optional()
      .describe('Keys relays accept tokens from: the current one first, then retired ones.'),
    relayUrls: z
      .array(z.string())
      .optional()
      .describe('Endpoints of the relay pools, home pool first, as given to clients.'),
    appliedPolicies: z
      .array(z.string())
      .optional()
      .describe('Names of the Policies that apply, highest precedence first.'),
    store: z
      .string()
      .max(2100)
      .optional()
      .describe(
        'The Redis the domain’s queues and device directory live on (builtin:NAMESPACE/POOL or ' +
          'external:URL without credentials), every pool of spec.relayPools uses it. Pools on ' +
          'another store are refused (condition Ready, reason RelayPoolsOnDifferentStores or ' +
          'StoreChanged) and not given to devices.',
      ),
    conditions: conditionsSchema.optional(),
  })
  .describe('Observed state of the domain, written by the operator.');

export const domainSchema = z
  .object({
    apiVersion: apiVersionSchema,
    kind: z.literal('Domain').describe('Always Domain.'),
    metadata: objectMetaSchema,
    spec: domainSpecSchema,
    status: domainStatusSchema.optional(),
  })
  .describe(
    'An organisation’s administrative unit: its relay assignment, policy bindings and signing keys.',
  );

export type DomainSpec = z.infer<typeof domainSpecSchema>;
export type DomainStatus = z.infer<typeof domainStatusSchema>;
export type Domain = z.infer<typeof domainSchema>;
export type PublicKey = z.infer<typeof publicKeySchema>;

/** Cross-field rules; messages start with the field path. */
export function validateDomain(domain: Domain): string[] {
  const { spec } = domain;
  const issues: string[] = [];
  const seen = new Set<string>();
  spec.relayPools.forEach((pool, i) => {
    if (seen.has(pool)) issues.push(`spec.relayPools[${i}]: duplicate RelayPool "${pool}"`);
    seen.add(pool);
  });
  if (spec.policySelector) {
    issues.push(...validateLabelSelector(spec.policySelector, 'spec.policySelector'));
  }
  if (spec.signingKey.rotationGracePeriodSeconds < spec.tokenTTLSeconds) {
    issues.push(
      `spec.signingKey.rotationGracePeriodSeconds: must be >= spec.tokenTTLSeconds (${spec.tokenTTLSeconds}), ` +
        'or tokens signed just before a rotation would stop verifying while still valid',
    );
  }
  return issues;
}
