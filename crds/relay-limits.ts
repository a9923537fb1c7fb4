import { z } from 'zod';

export type RelayLimits = {
  maxMessageBytes: number;
  maxQueuedMessages: number;
  maxQueuedBytes: number;
  retentionSeconds: number;
  maxInFlight: number;
  sendRatePerSecond: number;
  sendBurst: number;
};

const MiB = 1024 * 1024;

export const DEFAULT_RELAY_LIMITS: Readonly<RelayLimits> = Object.freeze({
  maxMessageBytes: MiB,
  maxQueuedMessages: 10000,
  maxQueuedBytes: 64 * MiB,
  retentionSeconds: 7 * 24 * 60 * 60,
  maxInFlight: 256,
  sendRatePerSecond: 200,
  sendBurst: 400,
});

/**
 * One schema per limit, shared by the Policy CRD (where every limit is optional, so merging
 * can tell "unset" from "set to the default") and the runtime config (where all are required).
 */
export const relayLimitFields = {
  maxMessageBytes: z
    .int()
    .min(1)
    .max(256 * MiB)
    .describe(
      `Largest message payload a device may send, in bytes (1 to 268435456; default ${DEFAULT_RELAY_LIMITS.maxMessageBytes}).`,
    ),
  maxQueuedMessages: z
    .int()
    .min(1)
    .describe(
      `Most messages queued for one offline device; a send that would exceed it drops the oldest and tells the device to resync (default ${DEFAULT_RELAY_LIMITS.maxQueuedMessages}).`,
    ),
  maxQueuedBytes: z
    .int()
    .min(1)
    .describe(
      `Most payload bytes queued for one device, enforced like maxQueuedMessages (default ${DEFAULT_RELAY_LIMITS.maxQueuedBytes}).`,
    ),
  retentionSeconds: z
    .int()
    .min(60)
    .describe(
      `How long an undelivered message stays queued before it expires and the device is told to resync, in seconds (at least 60; default ${DEFAULT_RELAY_LIMITS.retentionSeconds}, 7 days).`,
    ),
  maxInFlight: z
    .int()
    .min(1)
    .max(10000)
    .describe(
      `Most messages delivered on one connection but not yet acknowledged (1 to 10000; default ${DEFAULT_RELAY_LIMITS.maxInFlight}).`,
    ),
  sendRatePerSecond: z
    .number()
    .positive()
    .describe(
      `Sustained sends per second allowed per device (token-bucket refill rate; default ${DEFAULT_RELAY_LIMITS.sendRatePerSecond}).`,
    ),
  sendBurst: z
    .int()
    .min(1)
    .describe(
      `Sends a device may make at once above the sustained rate (token-bucket size; default ${DEFAULT_RELAY_LIMITS.sendBurst}).`,
    ),
} as const satisfies Record<keyof RelayLimits, z.ZodType<number>>;

export const relayLimitsSchema = z
  .strictObject(relayLimitFields)
  .describe(
    'Effective per-device relay limits, after merging the applicable Policies.',
  ) satisfies z.ZodType<RelayLimits>;

export const RELAY_LIMIT_KEYS = Object.keys(relayLimitFields) as (keyof RelayLimits)[];

/**
 * Rules between limits that hold only for the merged result: each Policy may set just one side.
 * `path` prefixes the field names in the messages.
 */
export function validateRelayLimits(limits: RelayLimits, path = ''): string[] {
  const at = (field: keyof RelayLimits): string => (path === '' ? field : `${path}.${field}`);
  const issues: string[] = [];
  if (limits.maxMessageBytes > limits.maxQueuedBytes) {
    issues.push(
      `${at('maxMessageBytes')}: must be <= maxQueuedBytes (${limits.maxQueuedBytes}), or no message of that size could ever be queued`,
    );
  }
  return issues;
}
