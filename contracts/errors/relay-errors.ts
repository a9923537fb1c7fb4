/**
 * Stable error codes carried by `error` frames and HTTP error bodies
 * (`{"error":{"code","message"}}`). Documented in docs/errors.md.
 */
export const ErrorCode = {
  badFrame: 'BAD_FRAME',
  badRecipient: 'BAD_RECIPIENT',
  unknownRecipient: 'UNKNOWN_RECIPIENT',
  messageTooLarge: 'MESSAGE_TOO_LARGE',
  rateLimited: 'RATE_LIMITED',
  staleEpoch: 'STALE_EPOCH',
  storageUnavailable: 'STORAGE_UNAVAILABLE',
  notReady: 'NOT_READY',
  authMalformed: 'AUTH_MALFORMED',
  authBadSignature: 'AUTH_BAD_SIGNATURE',
  authUnknownDomain: 'AUTH_UNKNOWN_DOMAIN',
  authExpired: 'AUTH_EXPIRED',
  authUnknownDevice: 'AUTH_UNKNOWN_DEVICE',
  authRevoked: 'AUTH_REVOKED',
  notHello: 'EXPECTED_HELLO',
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

/** An error with a stable code that the relay reports to the client as is. */
export class RelayError extends Error {
  constructor(
    readonly code: ErrorCodeValue,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'RelayError';
  }
}
