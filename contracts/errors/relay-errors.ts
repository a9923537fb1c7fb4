import { CloseCode, shouldReconnect } from './close-codes.js';

/** One relay error: how each transport reports it, and what it means. */
export interface RelayErrorSpec {
  /** Status of an HTTP (long-poll) answer with this error; absent where HTTP never meets it. */
  readonly http?: number;
  /** Close code of a WebSocket that this error refuses at hello; its range says whether to reconnect. */
  readonly close?: number;
  /** A send refused with it may succeed when repeated later under the same id (the SDK does). */
  readonly retryable: boolean;
  readonly meaning: string;
}

/**
 * Every error code the relay reports, in `error` frames and in HTTP error bodies
 * (contracts/wire/error-body.ts). docs/errors.md lists each of them (errors.test.ts checks).
 */
export const relayErrors = {
  BAD_FRAME: {
    http: 400,
    retryable: false,
    meaning: 'a frame or request is not JSON, not a known type, or has invalid fields',
  },
  BAD_RECIPIENT: {
    http: 400,
    retryable: false,
    meaning: 'a recipient is not device:ID, identity:ID or workspace:ID',
  },
  UNKNOWN_RECIPIENT: {
    http: 404,
    retryable: false,
    meaning: "no such device, identity or workspace in the sender's domain",
  },
  MESSAGE_TOO_LARGE: {
    http: 413,
    retryable: false,
    meaning: "the payload is over the domain's maxMessageBytes",
  },
  TOO_MANY_RECIPIENTS: {
    http: 400,
    retryable: false,
    meaning:
      "a send lists more recipients, or reaches more devices, than the domain's maxRecipients",
  },
  QUOTA_EXCEEDED: {
    http: 507,
    retryable: false,
    meaning:
      'the domain holds its maxDomainStoredBytes in Redis; devices that had room keep the message, the others get it when the same id is sent again later',
  },
  QUEUE_FULL: {
    http: 507,
    retryable: false,
    meaning:
      "a recipient's queue is full (queueOverflow rejectNew), or holds the sender's whole share of it (senderQueueSharePercent); the same id sent again later queues it for those only",
  },
  WATCH_LIMIT_EXCEEDED: {
    http: 400,
    retryable: false,
    meaning:
      "more identities watched, or asked for in one presence request, than the domain's maxWatchedIdentities",
  },
  RATE_LIMITED: {
    http: 429,
    retryable: true,
    meaning: "over the domain's send rate; retry after retryAfterMs",
  },
  STALE_EPOCH: {
    http: 409,
    retryable: false,
    meaning: 'a long-poll ack for a queue that was reset',
  },
  STORAGE_UNAVAILABLE: {
    http: 503,
    close: CloseCode.storageUnavailable,
    retryable: true,
    meaning: 'Redis did not answer; nothing acknowledged is lost',
  },
  NOT_READY: {
    http: 503,
    close: CloseCode.notReady,
    retryable: true,
    meaning: 'the relay is draining: use another relay',
  },
  EXPECTED_HELLO: {
    retryable: false,
    meaning: 'the first WebSocket frame was not hello',
  },
  AUTH_MALFORMED: {
    http: 401,
    close: CloseCode.authMalformed,
    retryable: false,
    meaning: 'the token is missing, not a JWT, or lacks claims',
  },
  AUTH_BAD_SIGNATURE: {
    http: 401,
    close: CloseCode.authBadSignature,
    retryable: false,
    meaning: "the token's signature does not verify with the domain's keys",
  },
  AUTH_UNKNOWN_DOMAIN: {
    http: 401,
    close: CloseCode.authUnknownDomain,
    retryable: false,
    meaning: "the relay does not serve the token's domain",
  },
  AUTH_EXPIRED: {
    http: 401,
    close: CloseCode.authExpired,
    retryable: false,
    meaning: 'the token expired or is not yet valid',
  },
  AUTH_UNKNOWN_DEVICE: {
    http: 403,
    close: CloseCode.authUnknownDevice,
    retryable: false,
    meaning: 'the device is not enrolled in the domain',
  },
  AUTH_REVOKED: {
    http: 403,
    close: CloseCode.revoked,
    retryable: false,
    meaning: 'an administrator revoked the device',
  },
  INTERNAL: {
    http: 500,
    retryable: false,
    meaning: 'an unexpected failure of the relay',
  },
} as const satisfies Record<string, RelayErrorSpec>;

export type RelayErrorCode = keyof typeof relayErrors;

function specOf(code: string): RelayErrorSpec | undefined {
  return Object.hasOwn(relayErrors, code) ? relayErrors[code as RelayErrorCode] : undefined;
}

/** The HTTP status of an error answer (400 for a code the catalogue does not know). */
export function httpStatusOf(code: string): number {
  return specOf(code)?.http ?? 400;
}

/** The close code of a WebSocket refused with `code` (4002 "reconnect" for any other). */
export function closeCodeOf(code: string): number {
  return specOf(code)?.close ?? CloseCode.storageUnavailable;
}

/** Whether a send refused with `code` is worth repeating under the same id. */
export function isRetryable(code: string): boolean {
  return specOf(code)?.retryable ?? false;
}

/** The close code of an error that ends a connection for good ("do not reconnect" range). */
function refusalOf(spec: RelayErrorSpec | undefined): number | undefined {
  const close = spec?.close;
  return close !== undefined && !shouldReconnect(close) ? close : undefined;
}

const errorByRefusal = new Map<number, RelayErrorCode>(
  Object.entries(relayErrors).flatMap(([code, spec]: [string, RelayErrorSpec]) => {
    const close = refusalOf(spec);
    return close === undefined ? [] : [[close, code as RelayErrorCode]];
  }),
);

/** The error behind a close code that refuses a connection for good (41xx). */
export function errorCodeOfClose(close: number): RelayErrorCode | undefined {
  return errorByRefusal.get(close);
}

/**
 * The close code of an error that ends a connection for good, or undefined when reconnecting
 * may help: what an HTTP error answer means to a long-poll link.
 */
export function refusalCloseCodeOf(code: string): number | undefined {
  return refusalOf(specOf(code));
}

/** An error with a stable code that the relay reports to the client as is. */
export class RelayError extends Error {
  constructor(
    readonly code: RelayErrorCode,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'RelayError';
  }
}
