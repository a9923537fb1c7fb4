import { z } from 'zod';
import {
  apiVersionSchema,
  conditionsSchema,
  dnsLabelSchema,
  dnsSubdomainSchema,
  idSchema,
  labelSelectorSchema,
  objectMetaSchema,
  secretKeySelectorSchema,
} from './common.js';
import { celRules, immutable, listOfUniqueValues } from './crd-meta.js';
import { metricsPeerSchema } from './relaypool.js';

const months = 'JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC';
const days = 'SUN|MON|TUE|WED|THU|FRI|SAT';
const names = (list: string): string => `${list}|${list.toLowerCase()}`;

// A field is a comma-separated list of "*", a value or a range, each with an optional "/step";
// the value alternatives bound every number to the range of its field.
function cronField(value: string): string {
  const item = `(\\*|(${value})(-(${value}))?)(/[1-9][0-9]*)?`;
  return `${item}(,${item})*`;
}

const cronFields = [
  '[0-5]?[0-9]',
  '[01]?[0-9]|2[0-3]',
  '0?[1-9]|[12][0-9]|3[01]',
  `0?[1-9]|1[0-2]|${names(months)}`,
  `[0-7]|${names(days)}`,
]
  .map(cronField)
  .join('[ \\t]+');

export const cronPattern = new RegExp(
  `^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|${cronFields})$`,
);

/** A relative path that stays inside its volume: no leading "/", no "." or ".." segments. */
const pathSegment =
  '([A-Za-z0-9_-][A-Za-z0-9._-]*|\\.[A-Za-z0-9_-][A-Za-z0-9._-]*|\\.\\.[A-Za-z0-9._-]+)';
export const relativePathPattern = new RegExp(`^${pathSegment}(/${pathSegment})*$`);

export const backupWorkspacesSchema = z
  .strictObject({
    include: z
      .array(idSchema)
      .optional()
      .describe('Ids of the workspaces to archive; all of the domain’s workspaces when omitted.')
      .meta(listOfUniqueValues),
    exclude: z
      .array(idSchema)
      .optional()
      .describe('Ids of workspaces to leave out, applied after include or selector.')
      .meta(listOfUniqueValues),
    selector: labelSelectorSchema
      .optional()
      .describe(
        'Archive the workspaces whose labels (set through the Manager) match; not with include.',
      ),
  })
  .describe('Which workspaces of the domain to archive.')
  .meta(
    celRules({
      rule: '!(has(self.include) && has(self.selector))',
      message: 'give include or selector, not both',
      fieldPath: '.selector',
    }),
  );

export const backupRetentionSchema = z
  .strictObject({
    keepLast: z
      .int()
      .min(1)
      .max(1000)
      .default(7)
      .describe('Number of newest archives kept; older ones are deleted (default 7).'),
    maxAgeDays: z
      .int()
      .min(1)
      .optional()
      .describe(
        'Also delete archives older than this many days, even among the newest keepLast; ' +
          'the newest archive is always kept.',
      ),
  })
  .describe('Which archives to keep after each successful run.');

export const pvcDestinationSchema = z
  .strictObject({
    claimName: dnsSubdomainSchema.describe(
      'Name of a PersistentVolumeClaim in the namespace of the schedule.',
    ),
    path: z
      .string()
      .max(1024)
      .regex(relativePathPattern, 'must be a relative path without "." or ".." segments')
      .optional()
      .describe('Folder inside the volume to write archives to; its root when omitted.'),
  })
  .describe('Write archives to a PersistentVolumeClaim.');

export const s3DestinationSchema = z
  .strictObject({
    bucket: z
      .string()
      .min(3)
      .max(63)
      .regex(/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/, 'must be an S3 bucket name')
      .describe('Bucket to write archives to; it must exist.'),
    prefix: z
      .string()
      .max(512)
      .regex(relativePathPattern, 'must be a relative path without "." or ".." segments')
      .optional()
      .describe('Folder inside the bucket, e.g. grove/production; the bucket root when omitted.'),
    endpoint: z
      .url({ protocol: /^https?$/ })
      .max(2048)
      .optional()
      .describe('URL of an S3-compatible server; AWS S3 when omitted.'),
    region: z.string().max(64).optional().describe('Region of the bucket (default us-east-1).'),
    forcePathStyle: z
      .boolean()
      .default(false)
      .describe('Address the bucket in the path, as most S3-compatible servers need.'),
    credentialsSecret: dnsSubdomainSchema.describe(
      'Secret in the namespace of the schedule with the keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.',
    ),
  })
  .describe('Write archives to S3-compatible object storage.');

export const backupDestinationSchema = z
  .union(
    [z.strictObject({ pvc: pvcDestinationSchema }), z.strictObject({ s3: s3DestinationSchema })],
    { error: 'must set exactly one of: pvc, s3' },
  )
  .describe('Where archives are written: exactly one of pvc or s3.');

export const backupEncryptionSchema = z
  .strictObject({
    passwordSecretRef: secretKeySelectorSchema.describe(
      'Secret key holding the password archives are encrypted with; needed again to restore.',
    ),
  })
  .describe('Archives are always encrypted; this names the password.');

export const bridgeNetworkPolicySchema = z
  .strictObject({
    enabled: z
      .boolean()
      .default(true)
      .describe(
        'Make a NetworkPolicy for the Data Bridge pod (default true): its HTTP port (8080: ' +
          'status, metrics, and POST /v1/cycles, which runs a cycle) only from Grove’s operator ' +
          'and from metricsFrom. Enforced only where the cluster’s network plugin implements ' +
          'NetworkPolicy.',
      ),
    metricsFrom: z
      .array(metricsPeerSchema)
      .max(16)
      .optional()
      .describe(
        'Who else may reach the bridge’s port (to scrape /metrics): any pod in the schedule’s ' +
          'namespace when omitted.',
      ),
  })
  .describe('The NetworkPolicy the operator makes for the Data Bridge pod.');

export const backupScheduleSpecSchema = z
  .strictObject({
    domain: dnsLabelSchema
      .describe('Name of the Domain (same namespace) whose workspaces to archive.')
      // Archives of one domain are kept and pruned together; another domain's would mix in.
      .meta(
        immutable('domain is immutable: create a new BackupSchedule to archive another domain'),
      ),
    schedule: z
      .string()
      .max(256)
      .regex(
        cronPattern,
        'must be a 5-field cron expression "minute hour day-of-month month day-of-week" or a macro such as @daily',
      )
      .describe(
        'When to run, as a 5-field cron expression (e.g. "30 2 * * *") or @hourly, @daily, @weekly, ' +
          '@monthly, @yearly; in timeZone.',
      ),
    timeZone: z
      .string()
      .max(64)
      .regex(/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/, 'must be an IANA time zone name')
      .optional()
      .describe('IANA time zone of schedule, e.g. Europe/Paris; UTC when omitted.'),
    workspaces: backupWorkspacesSchema.optional(),
    retention: backupRetentionSchema.prefault({}),
    destination: backupDestinationSchema,
    encryption: backupEncryptionSchema,
    suspend: z
      .boolean()
      .default(false)
      .describe('Skip scheduled runs while true; runs already started finish (default false).'),
    immediate: z
      .boolean()
      .default(false)
      .describe('Also run a cycle each time the Data Bridge starts (default false).'),
    networkPolicy: bridgeNetworkPolicySchema.prefault({}),
  })
  .describe('Desired state of a recurring archive of a domain’s workspaces by the Data Bridge.');

export const backupScheduleStatusSchema = z
  .object({
    observedGeneration: z
      .int()
      .min(0)
      .optional()
      .describe('metadata.generation the status was computed from.'),
    lastScheduleTime: z.iso
      .datetime({ offset: true })
      .optional()
      .describe('RFC 3339 time the last run was started.'),
    lastSuccessfulTime: z.iso
      .datetime({ offset: true })
      .optional()
      .describe('RFC 3339 time the last successful run finished.'),
    nextScheduleTime: z.iso
      .datetime({ offset: true })
      .optional()
      .describe('RFC 3339 time the next scheduled run starts; absent while suspended.'),
    bridge: z
      .string()
      .optional()
      .describe('Name of the Data Bridge Deployment that runs this schedule.'),
    recentCycles: z
      .array(
        z.object({
          trigger: z.enum(['schedule', 'immediate', 'manual']).describe('What started it.'),
          startedAt: z.iso.datetime({ offset: true }).describe('RFC 3339 time it started.'),
          finishedAt: z.iso.datetime({ offset: true }).describe('RFC 3339 time it ended.'),
          outcome: z.enum(['Succeeded', 'Failed']).describe('Failed when any workspace failed.'),
          workspaces: z.int().min(0).describe('Workspaces the cycle went through.'),
          segmentsSealed: z.int().min(0).describe('Segments sealed (one per workspace at most).'),
          messagesSealed: z.int().min(0).describe('Messages in the segments sealed.'),
          bytesSealed: z.int().min(0).describe('Bytes of the segments sealed, as stored.'),
          segmentsPruned: z.int().min(0).describe('Sealed segments removed by retention.'),
          error: z.string().max(1024).optional().describe('The first failure, when it failed.'),
        }),
      )
      .max(10)
      .optional()
      .describe('The last archive cycles, newest first (at most 10).'),
    conditions: conditionsSchema.optional(),
  })
  .describe('Observed state of the schedule, written by the operator.');

export const backupScheduleSchema = z
  .object({
    apiVersion: apiVersionSchema,
    kind: z.literal('BackupSchedule').describe('Always BackupSchedule.'),
    metadata: objectMetaSchema,
    spec: backupScheduleSpecSchema,
    status: backupScheduleStatusSchema.optional(),
  })
  .describe('A recurring, encrypted archive of a domain’s workspaces, kept with a retention rule.');

export type BackupScheduleSpec = z.infer<typeof backupScheduleSpecSchema>;
export type BackupScheduleStatus = z.infer<typeof backupScheduleStatusSchema>;
export type BackupSchedule = z.infer<typeof backupScheduleSchema>;

/** Cross-field rules; messages start with the field path. */
export function validateBackupSchedule(schedule: BackupSchedule): string[] {
  const issues: string[] = [];
  const { include, exclude } = schedule.spec.workspaces ?? {};
  const duplicates = (list: string[] | undefined, path: string): void => {
    const seen = new Set<string>();
    (list ?? []).forEach((id, i) => {
      if (seen.has(id)) issues.push(`${path}[${i}]: duplicate workspace "${id}"`);
      seen.add(id);
    });
  };
  duplicates(include, 'spec.workspaces.include');
  if (include && schedule.spec.workspaces?.selector) {
    issues.push('spec.workspaces.selector: give include or selector, not both');
  }
  duplicates(exclude, 'spec.workspaces.exclude');
  if (include && exclude) {
    exclude.forEach((id, i) => {
      if (include.includes(id)) {
        issues.push(
          `spec.workspaces.exclude[${i}]: "${id}" is also in include; list it in one of them`,
        );
      }
    });
  }
  return issues;
}
