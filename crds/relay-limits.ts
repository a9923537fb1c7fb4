import { z } from 'zod';

/** What a full queue does with one more message: drop its oldest, or refuse the new one. */
export type QueueOverflow = 'dropOldest' | 'rejectNew';
/** Who may send to a workspace: its members only, or anyone of the domain. */
export type WorkspaceSend = 'members' | 'domain';

export type RelayLimits = {
  maxMessageBytes: number;
  maxQueuedMessages: number;
  maxQueuedBytes: number;
  retentionSeconds: number;
  maxInFlight: number;
  sendRatePerSecond: number;
  sendBurst: number;
  maxRecipients: number;
  dedupWindowSeconds: number;
  maxDomainStoredBytes: number;
  queueOverflow: QueueOverflow;
  senderQueueSharePercent: number;
  maxWatchedIdentities: number;
  workspaceSend: WorkspaceSend;
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
  maxRecipients: 1000,
  dedupWindowSeconds: 24 * 60 * 60,
  maxDomainStoredBytes: 1024 * MiB,
  queueOverflow: 'dropOldest',
  senderQueueSharePercent: 50,
  maxWatchedIdentities: 1000,
  workspaceSend: 'members',
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
      `Most messages queued for one offline device; what a send beyond it does is queueOverflow (default ${DEFAULT_RELAY_LIMITS.maxQueuedMessages}).`,
    ),
  maxQueuedBytes: z
    .int()
    .min(1)
    .describe(
      `Most bytes queued for one device, enforced like maxQueuedMessages: every byte a message costs (the stored entry with its recipient list, 64 bytes per entry, a payload stored apart) and its de-duplication record (default ${DEFAULT_RELAY_LIMITS.maxQueuedBytes}).`,
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
  maxRecipients: z
    .int()
    .min(1)
    .max(100_000)
    .describe(
      `Most recipients one send may name in its to list, and most devices it may reach once identities and workspaces are resolved (1 to 100000; default ${DEFAULT_RELAY_LIMITS.maxRecipients}). The protocol caps the to list at 1000 entries.`,
    ),
  dedupWindowSeconds: z
    .int()
    .min(1)
    .describe(
      `How long a message id is remembered per recipient device, from the send: a retry with the same id within this window never queues a second copy (at least 1, at most retentionSeconds is used; default ${DEFAULT_RELAY_LIMITS.dedupWindowSeconds}, one day).`,
    ),
  maxDomainStoredBytes: z
    .int()
    .min(1)
    .describe(
      `Most bytes the whole domain may hold in Redis (queued entries, payloads stored apart, de-duplication records); a send beyond it is refused with QUOTA_EXCEEDED (default ${DEFAULT_RELAY_LIMITS.maxDomainStoredBytes}, 1 GiB).`,
    ),
  queueOverflow: z
    .enum(['dropOldest', 'rejectNew'])
    .describe(
      `What a send to a full queue does: dropOldest drops the oldest queued messages and tells the device to resync; rejectNew refuses the send with QUEUE_FULL and drops nothing (default ${DEFAULT_RELAY_LIMITS.queueOverflow}).`,
    ),
  senderQueueSharePercent: z
    .int()
    .min(1)
    .max(100)
    .describe(
      `Most of one device's queue (of maxQueuedMessages and of maxQueuedBytes) that the messages of one sending member may take, in percent; a send beyond it is refused with QUEUE_FULL, so one member cannot push everyone else's messages out (1 to 100, 100 turns it off; default ${DEFAULT_RELAY_LIMITS.senderQueueSharePercent}).`,
    ),
  maxWatchedIdentities: z
    .int()
    .min(1)
    .max(100_000)
    .describe(
      `Most identities one WebSocket connection watches for presence at once, and one long-poll presence request asks for (1 to 100000; default ${DEFAULT_RELAY_LIMITS.maxWatchedIdentities}).`,
    ),
  workspaceSend: z
    .enum(['members', 'domain'])
    .describe(
      `Who may send to a workspace: members (its members only; to anyone else the workspace does not exist) or domain (any member of the domain; default ${DEFAULT_RELAY_LIMITS.workspaceSend}).`,
    ),
} as const satisfies { [K in keyof RelayLimits]: z.ZodType<RelayLimits[K]> };

/**
 * Effective limits in a relay's config. Fields added since a relay.json was written take their
 * default: a relay of a newer version reads the config of the operator it replaces.
 */
export const relayLimitsSchema = z
  .strictObject({
    ...relayLimitFields,
    maxRecipients: relayLimitFields.maxRecipients.default(DEFAULT_RELAY_LIMITS.maxRecipients),
    dedupWindowSeconds: relayLimitFields.dedupWindowSeconds.default(
      DEFAULT_RELAY_LIMITS.dedupWindowSeconds,
    ),
    maxDomainStoredBytes: relayLimitFields.maxDomainStoredBytes.default(
      DEFAULT_RELAY_LIMITS.maxDomainStoredBytes,
    ),
    queueOverflow: relayLimitFields.queueOverflow.default(DEFAULT_RELAY_LIMITS.queueOverflow),
    senderQueueSharePercent: relayLimitFields.senderQueueSharePercent.default(
      DEFAULT_RELAY_LIMITS.senderQueueSharePercent,
    ),
    maxWatchedIdentities: relayLimitFields.maxWatchedIdentities.default(
      DEFAULT_RELAY_LIMITS.maxWatchedIdentities,
    ),
    workspaceSend: relayLimitFields.workspaceSend.default(DEFAULT_RELAY_LIMITS.workspaceSend),
  })
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
  if (limits.maxMessageBytes > limits.maxDomainStoredBytes) {
    issues.push(
      `${at('maxMessageBytes')}: must be <= maxDomainStoredBytes (${limits.maxDomainStoredBytes}), or no message of that size could ever be stored`,
    );
  }
  return issues;
}
