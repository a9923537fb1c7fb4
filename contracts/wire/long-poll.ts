import { z } from 'zod';
import type { MessageFrame, ServerFrame } from './frames.js';

/**
 * The HTTP long-poll transport (docs/protocol.md), for networks that block WebSocket: the
 * requests a device's link sends and the answers the relay gives. Every request carries
 * `Authorization: Bearer <device token>`; errors answer with contracts/wire/error-body.ts.
 */
export const longPollPaths = {
  /** GET with a PollQuery: waits for messages, answers a PollReply. */
  poll: '/v1/poll',
  /** POST a send frame without `t`: answers {id, recipients, duplicates} once durably queued. */
  send: '/v1/poll/send',
  /** POST an AckBody: answers {head}. */
  ack: '/v1/poll/ack',
  /** GET ?identities=a,b: answers {presence: [...]}, the devices of those identities online. */
  presence: '/v1/poll/presence',
} as const;

export const pollQuerySchema = z.object({
  /** Cumulative ack carried by the poll itself: everything up to here was processed. */
  ack: z.coerce.number().int().nonnegative().optional(),
  epoch: z.string().max(64).optional(),
  /** The drop count the device has seen in an earlier reply: it was told of those drops. */
  drops: z.coerce.number().int().nonnegative().optional(),
  /** Seconds to wait for a message (capped by the relay). */
  wait: z.coerce.number().int().nonnegative().optional(),
});

export type PollQuery = z.infer<typeof pollQuerySchema>;

export function encodePollQuery(query: PollQuery): string {
  const params = new URLSearchParams();
  for (const name of ['wait', 'epoch', 'ack', 'drops'] as const) {
    const value = query[name];
    if (value !== undefined) params.set(name, String(value));
  }
  return params.toString();
}

export const ackBodySchema = z.object({
  upTo: z.number().int().nonnegative(),
  epoch: z.string().min(1).max(64),
});

export type AckBody = z.infer<typeof ackBodySchema>;

export const presenceQuerySchema = z.object({ identities: z.string().min(1).max(20_000) });

export function encodePresenceQuery(identities: readonly string[]): string {
  return new URLSearchParams({ identities: identities.join(',') }).toString();
}

export function decodePresenceQuery(query: z.infer<typeof presenceQuerySchema>): string[] {
  return query.identities.split(',').filter((id) => id !== '');
}

/** The queue's state as of a poll. */
export interface PollState {
  epoch: string;
  head: number;
  drops: number;
  /** On a first poll (no ack): the drops the device was already told of. */
  told?: number;
  /** The device's epoch is not the queue's: it must resync. */
  resync: boolean;
}

export interface PollReply extends PollState {
  messages: (MessageFrame | ServerFrame)[];
}

/** A PollReply around frames that are JSON text already: spliced in, not parsed again. */
export function encodePollReply(state: PollState, frames: readonly string[]): string {
  const head = JSON.stringify({
    epoch: state.epoch,
    head: state.head,
    drops: state.drops,
    ...(state.told === undefined ? {} : { told: state.told }),
    resync: state.resync,
  });
  return `${head.slice(0, -1)},"messages":[${frames.join(',')}]}`;
}
