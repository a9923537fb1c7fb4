import { decodeQueueEntry, type QueueEntry } from '../wire/queue-entry.js';
import { deviceKeys, directoryKeys, parsePayloadKey, payloadKeys } from './keys.js';
import { defineScript } from './script-runner.js';

/** The member of a device's `ids` set that stands for one message: a retry queues nothing. */
export function dedupMember(senderDevice: string, messageId: string): string {
  return `${senderDevice}|${messageId}`;
}

/**
 * What a de-duplication record is charged beyond its member's length (the sorted set's entry
 * around it), and what a queue entry and a stored payload are charged beyond their text.
 */
export const DEDUP_RECORD_OVERHEAD = 64;
export const ENTRY_OVERHEAD = 64;
export const PAYLOAD_OVERHEAD = 64;

/** A device's member in its domain's storage ledger (lua/includes/ledger.lua). */
export function deviceLedgerMember(device: string): string {
  return `d:${device}`;
}

/** A stored payload's member in its domain's storage ledger. */
export function payloadLedgerMember(sender: string, messageId: string): string {
  return `p:${sender}:${messageId}`;
}

/** One absolute, versioned entry of a domain's storage ledger. */
export interface LedgerEntry {
  member: string;
  version: number;
  bytes: number;
  /** When the member's keys expire at the latest (ms). */
  deadline: number;
}

/** The message every device of one enqueue call gets. */
export interface EnqueuedMessage {
  now: number;
  /** dedupMember of the sender device and message id. */
  dedupMember: string;
  /** Until when the member is remembered (ms). */
  dedupUntil: number;
  /** The de-duplication window (ms). */
  dedupWindowMs: number;
  expiresAt: number;
  /** KIND and what follows it (contracts/wire/queue-entry.ts encodeQueuedMessage). */
  stored: string;
  /** What the entry is charged against a queue's byte bound (payloadBytes included). */
  bytes: number;
  /** The charge of a payload stored apart that the entry references (0: inline). */
  payloadBytes: number;
  /** Entries and bytes a queue may hold. */
  maxCount: number;
  maxBytes: number;
  /** The sending identity ('' for none), and how much of a queue it may hold (-1: no bound). */
  sender: string;
  shareCount: number;
  shareBytes: number;
  /** A full queue refuses the message instead of dropping its oldest. */
  rejectNew: boolean;
  /** The domain's storage quota (bytes): checked where the script keeps the ledger. */
  domainMax: number;
  /** Expiry of the device's meta and queue, and of its de-duplication records. */
  keyTtlMs: number;
  idsTtlMs: number;
  /** The epoch of a queue this call creates. */
  newEpoch: string;
}

export type EnqueueStatus = 'queued' | 'duplicate' | 'full' | 'share' | 'quota';

const STATUS: Record<number, EnqueueStatus> = {
  0: 'duplicate',
  1: 'queued',
  2: 'full',
  3: 'share',
  4: 'quota',
};

export interface EnqueueResult {
  status: EnqueueStatus;
  seq: number;
  /** Relay connections that received the wake-up: > 0 means the device is online now. */
  receivers: number;
  expired: number;
  dropped: number;
  /** The device's ledger entry after the call. */
  ledger: LedgerEntry;
  /** Stored payloads that entries removed by this call referenced, and how many each. */
  released: Map<string, number>;
}

export interface EnqueueReply {
  /** The domain ledger's total after the call; undefined when the script did not keep it. */
  total: number | undefined;
  results: EnqueueResult[];
}

function numbers(reply: unknown): number[] {
  if (!Array.isArray(reply)) throw new Error('unexpected reply from a queue script');
  return reply as number[];
}

/** "ref, n, ref, n…" from `from` on. */
function releasedOf(reply: readonly unknown[], from: number): Map<string, number> {
  const released = new Map<string, number>();
  for (let i = from; i + 1 < reply.length; i += 2) {
    released.set(String(reply[i]), Number(reply[i + 1]));
  }
  return released;
}

const totalOf = (value: unknown): number | undefined => {
  const total = Number(value);
  return total < 0 ? undefined : total;
};

/** The outcome of one item of a batch call: each item succeeds or fails on its own. */
export type ItemOutcome<T> = { ok: true; value: T } | { ok: false; error: Error };

/** An error a batch script raised for one of its items (the others are not affected). */
export class QueueScriptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QueueScriptError';
  }
}

/** A batch script's reply for an item that raised an error: {'!', message}. */
function failedItem(raw: unknown): Error | undefined {
  if (!Array.isArray(raw) || raw[0] !== '!') return undefined;
  return new QueueScriptError(String(raw[1]));
}

function outcomes<T>(reply: unknown, decode: (raw: unknown[]) => T): ItemOutcome<T>[] {
  if (!Array.isArray(reply)) throw new Error('unexpected reply from a queue script');
  return (reply as unknown[]).map((raw): ItemOutcome<T> => {
    const error = failedItem(raw);
    if (error !== undefined) return { ok: false, error };
    if (!Array.isArray(raw)) throw new Error('unexpected reply from a queue script');
    return { ok: true, value: decode(raw as unknown[]) };
  });
}

function only<T>(results: readonly ItemOutcome<T>[]): T {
  const [first] = results;
  if (first === undefined) throw new Error('unexpected reply from a queue script');
  if (!first.ok) throw first.error;
  return first.value;
}

/**
 * One message for devices of one domain. On Redis Cluster `devices` must be one device (one
 * slot), and `ledger` false (the ledger lives in the domain's slot; the relay applies the
 * returned entries).
 */
export interface EnqueueItem {
  domain: string;
  devices: readonly string[];
  message: EnqueuedMessage;
  ledger: boolean;
}

/** Arguments of the message besides its devices (lua/enqueue.lua "arg 1..19"). */
function messageArguments(message: EnqueuedMessage): (string | number)[] {
  return [
    message.now,
    message.dedupMember,
    message.expiresAt,
    message.stored,
    message.bytes,
    message.maxCount,
    message.maxBytes,
    message.keyTtlMs,
    message.newEpoch,
    message.dedupUntil,
    DEDUP_RECORD_OVERHEAD,
    message.sender,
    message.shareCount,
    message.shareBytes,
    message.rejectNew ? '1' : '0',
    message.payloadBytes,
    message.domainMax,
    message.idsTtlMs,
    message.dedupWindowMs,
  ];
}

function decodeEnqueueReply(reply: unknown[]): EnqueueReply {
  const [total, ...devices] = reply;
  return {
    total: totalOf(total),
    results: devices.map((raw) => {
      const r = raw as unknown[];
      const [status, seq, receivers, expired, dropped, version, bytes, deadline] = r.map(Number);
      return {
        status: STATUS[status ?? 0] ?? 'duplicate',
        seq: seq ?? 0,
        receivers: receivers ?? 0,
        expired: expired ?? 0,
        dropped: dropped ?? 0,
        // The member is filled in by the caller, who knows the device.
        ledger: { member: '', version: version ?? 0, bytes: bytes ?? 0, deadline: deadline ?? 0 },
        released: releasedOf(r, 8),
      };
    }),
  };
}

/**
 * lua/enqueue.lua: a batch of items in one call, each with its own outcome. On Redis Cluster
 * every item's device must be in the same slot.
 */
export const enqueueBatchScript = defineScript(
  'enqueue',
  (items: readonly EnqueueItem[]) => {
    const keys: string[] = [];
    const args: (string | number)[] = [items.length];
    for (const item of items) {
      args.push(item.devices.length, item.ledger ? '1' : '0');
      for (const arg of messageArguments(item.message)) args.push(arg);
      for (const device of item.devices) {
        const deviceKeySet = deviceKeys(item.domain, device);
        keys.push(deviceKeySet.meta, deviceKeySet.queue, deviceKeySet.ids);
        args.push(deviceKeySet.channel, deviceLedgerMember(device));
      }
      if (item.ledger) {
        const directory = directoryKeys(item.domain);
        keys.push(directory.storage, directory.storageDue);
      }
    }
    return { keys, args };
  },
  (reply): ItemOutcome<EnqueueReply>[] => outcomes(reply, decodeEnqueueReply),
);

/** lua/enqueue.lua with one item: its error is thrown. */
export const enqueueScript = defineScript(
  'enqueue',
  (input: EnqueueItem) => enqueueBatchScript.encode([input]),
  (reply): EnqueueReply => only(enqueueBatchScript.decode(reply)),
);

export interface QueueWindow {
  epoch: string;
  head: number;
  next: number;
  drops: number;
  expired: number;
  entries: QueueEntry[];
}

/** lua/fetch.lua: undefined when the device has no queue. */
export const fetchScript = defineScript(
  'fetch',
  (input: {
    domain: string;
    device: string;
    fromSeq: number;
    maxCount: number;
    maxBytes: number;
  }) => {
    const keys = deviceKeys(input.domain, input.device);
    return {
      keys: [keys.meta, keys.queue],
      args: [input.fromSeq, input.maxCount, input.maxBytes],
    };
  },
  (reply): QueueWindow | undefined => {
    if (!Array.isArray(reply)) throw new Error('unexpected reply from the fetch script');
    const [epoch, head, next, drops, expired, ...entries] = reply as (string | number | null)[];
    if (epoch === null || epoch === undefined) return undefined;
    return {
      epoch: String(epoch),
      head: Number(head),
      next: Number(next),
      drops: Number(drops),
      expired: Number(expired),
      entries: entries.map((raw) => decodeQueueEntry(String(raw))),
    };
  },
);

export interface AckResult {
  /** The new head, or 'stale' when the queue is gone or has another epoch. */
  head: number | 'stale';
  /** The device's ledger entry (undefined when the ack changed nothing). */
  ledger: LedgerEntry | undefined;
  total: number | undefined;
  released: Map<string, number>;
}

/** One ack of one device's queue. */
export interface AckItem {
  domain: string;
  device: string;
  upTo: number;
  epoch: string;
  told?: number | undefined;
  now: number;
  ledger: boolean;
}

function decodeAckReply(reply: unknown[]): AckResult {
  const r = reply as number[];
  const [head, version, bytes, deadline, total] = r.map(Number);
  if (head === undefined || head < 0) {
    return { head: 'stale', ledger: undefined, total: undefined, released: new Map() };
  }
  return {
    head,
    ledger:
      version === undefined || version === 0
        ? undefined
        : { member: '', version, bytes: bytes ?? 0, deadline: deadline ?? 0 },
    total: totalOf(total),
    released: releasedOf(r, 5),
  };
}

/**
 * lua/ack.lua: a batch of acks in one call, each with its own outcome. On Redis Cluster every
 * item's device must be in the same slot.
 */
export const ackBatchScript = defineScript(
  'ack',
  (items: readonly AckItem[]) => {
    const keys: string[] = [];
    const args: (string | number)[] = [items.length];
    for (const input of items) {
      const deviceKeySet = deviceKeys(input.domain, input.device);
      keys.push(deviceKeySet.meta, deviceKeySet.queue, deviceKeySet.ids);
      if (input.ledger) {
        const directory = directoryKeys(input.domain);
        keys.push(directory.storage, directory.storageDue);
      }
      args.push(
        input.ledger ? '1' : '0',
        input.upTo,
        input.epoch,
        input.told ?? '',
        input.now,
        deviceLedgerMember(input.device),
      );
    }
    return { keys, args };
  },
  (reply): ItemOutcome<AckResult>[] => outcomes(reply, decodeAckReply),
);

/** lua/ack.lua with one item: its error is thrown. */
export const ackScript = defineScript(
  'ack',
  (input: AckItem) => ackBatchScript.encode([input]),
  (reply): AckResult => only(ackBatchScript.decode(reply)),
);

export interface ClaimResult {
  epoch: string;
  head: number;
  next: number;
  drops: number;
  created: boolean;
  /** The drop count the device was last seen to be told of; below `drops`, tell it again. */
  told: number;
  /**
   * The claim's ordinal (0 for `init`): a connection closes for a claim with a higher one.
   * -1: a `rejoin` found a newer claim (the connection was displaced), `newer`.
   */
  ordinal: number;
  newer?: number;
}

/**
 * lua/claim.lua. `claim`: a new connection's claim (a new ordinal, announced); `rejoin`: a
 * connection takes up its device's queue again with its ordinal (after the queue vanished
 * under it), unless a newer claim exists; `init`: only create the queue metadata.
 */
export type ClaimMode = { mode: 'claim' } | { mode: 'rejoin'; ordinal: number } | { mode: 'init' };

export const claimScript = defineScript(
  'claim',
  (input: {
    domain: string;
    device: string;
    connectionId: string;
    newEpoch: string;
    claim: ClaimMode;
  }) => {
    const keys = deviceKeys(input.domain, input.device);
    return {
      keys: [keys.meta, keys.queue],
      args: [
        input.newEpoch,
        input.connectionId,
        keys.channel,
        input.claim.mode,
        input.claim.mode === 'rejoin' ? input.claim.ordinal : 0,
      ],
    };
  },
  (reply): ClaimResult => {
    if (!Array.isArray(reply)) throw new Error('unexpected reply from the claim script');
    const [epoch, head, next, drops, created, told, ordinal, newer] = reply as (
      string | number | null
    )[];
    return {
      ...(newer === undefined || newer === null ? {} : { newer: Number(newer) }),
      epoch: String(epoch ?? ''),
      head: Number(head),
      next: Number(next),
      drops: Number(drops),
      created: created === 1,
      told: Number(told ?? 0),
      ordinal: Number(ordinal ?? 0),
    };
  },
);

export interface PayloadReply {
  /** 1 stored now, 0 stored before (references added), -1 stored without a reference count. */
  state: number;
  total: number | undefined;
}

/** lua/payload-store.lua */
export const payloadStoreScript = defineScript(
  'payload-store',
  (input: {
    domain: string;
    sender: string;
    messageId: string;
    data: string;
    references: number;
    ttlMs: number;
    now: number;
    charge: number;
    ledger: boolean;
  }) => {
    const keys = payloadKeys(input.domain, input.sender, input.messageId);
    const directory = directoryKeys(input.domain);
    return {
      keys: input.ledger
        ? [keys.data, keys.refs, directory.storage, directory.storageDue]
        : [keys.data, keys.refs],
      args: [
        input.data,
        input.references,
        input.ttlMs,
        input.now,
        payloadLedgerMember(input.sender, input.messageId),
        input.charge,
      ],
    };
  },
  (reply): PayloadReply => {
    const [state, total] = numbers(reply).map(Number);
    return { state: state ?? 0, total: totalOf(total) };
  },
);

/**
 * lua/payload-release.lua, for the payload key `ref` (as queue entries hold it): `left` is -1
 * when the count is gone (the payload expired).
 */
export const payloadReleaseScript = defineScript(
  'payload-release',
  (input: { ref: string; references: number; now: number; ledger: boolean }) => {
    const parsed = parsePayloadKey(input.ref);
    if (parsed === undefined) throw new Error(`not a payload key: ${input.ref}`);
    const keys = payloadKeys(parsed.domain, parsed.sender, parsed.messageId);
    const directory = directoryKeys(parsed.domain);
    return {
      keys: input.ledger
        ? [keys.data, keys.refs, directory.storage, directory.storageDue]
        : [keys.data, keys.refs],
      args: [input.references, input.now, payloadLedgerMember(parsed.sender, parsed.messageId)],
    };
  },
  (reply): { left: number; total: number | undefined } => {
    const [left, total] = numbers(reply).map(Number);
    return { left: left ?? -1, total: totalOf(total) };
  },
);

/** lua/ledger-apply.lua: the ledger's total after the entries. */
export const ledgerApplyScript = defineScript(
  'ledger-apply',
  (input: { domain: string; now: number; entries: readonly LedgerEntry[] }) => {
    const directory = directoryKeys(input.domain);
    const args: (string | number)[] = [input.now];
    for (const entry of input.entries) {
      args.push(entry.member, entry.version, entry.bytes, entry.deadline);
    }
    return { keys: [directory.storage, directory.storageDue], args };
  },
  (reply): number => Number(reply),
);
