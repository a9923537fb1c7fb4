import { z } from 'zod';
import { backupScheduleSchema, validateBackupSchedule } from './backupschedule.js';
import { domainSchema, validateDomain } from './domain.js';
import { policySchema, validatePolicy } from './policy.js';
import { relayPoolSchema, validateRelayPool } from './relaypool.js';

export * from './common.js';
export * from './relaypool.js';
export * from './domain.js';
export * from './policy.js';
export * from './backupschedule.js';
export * from './relay-limits.js';
export * from './selector.js';
export * from './policy-merge.js';
export * from './issues.js';

export const groveResourceSchema = z
  .discriminatedUnion('kind', [relayPoolSchema, domainSchema, policySchema, backupScheduleSchema])
  .describe('Any Grove custom resource, told apart by kind.');

export type GroveResource = z.infer<typeof groveResourceSchema>;
export type GroveKind = GroveResource['kind'];

export const GROVE_KINDS = [
  'RelayPool',
  'Domain',
  'Policy',
  'BackupSchedule',
] as const satisfies readonly GroveKind[];

/** The schema of each kind, for callers that dispatch on kind themselves. */
export const groveKindSchemas = {
  RelayPool: relayPoolSchema,
  Domain: domainSchema,
  Policy: policySchema,
  BackupSchedule: backupScheduleSchema,
} as const;

/** Cross-field rules of any resource (the schema checks only single fields). */
export function validateGroveResource(resource: GroveResource): string[] {
  switch (resource.kind) {
    case 'RelayPool':
      return validateRelayPool(resource);
    case 'Domain':
      return validateDomain(resource);
    case 'Policy':
      return validatePolicy(resource);
    case 'BackupSchedule':
      return validateBackupSchedule(resource);
  }
}
