/**
 * Every error the Manager returns has a stable code (documented in docs/errors.md) and an
 * HTTP status; the body is `{"error":{"code","message","details"?}}`.
 */
export const managerErrorStatus = {
  VALIDATION_FAILED: 400,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  CONFLICT: 409,
  CODE_INVALID: 400,
  CODE_EXPIRED: 410,
  CODE_USED: 410,
  CODE_REVOKED: 410,
  DEVICE_REVOKED: 403,
  SIGNATURE_INVALID: 401,
  SIGNATURE_STALE: 401,
  REPLAYED: 409,
  CONTACT_SEARCH_DISABLED: 403,
  UNKNOWN_DOMAIN: 404,
  STORAGE_UNAVAILABLE: 503,
} as const;

export type ManagerErrorCode = keyof typeof managerErrorStatus;

export class ManagerError extends Error {
  readonly status: number;
  constructor(
    readonly code: ManagerErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'ManagerError';
    this.status = managerErrorStatus[code];
  }
}
