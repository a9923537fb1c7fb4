/** One Manager error: the HTTP status it answers with, and what it means. */
export interface ManagerErrorSpec {
  readonly http: number;
  readonly meaning: string;
}

/**
 * Every error code of the Manager's API; the body is `{"error":{"code","message","details"?}}`
 * (contracts/wire/error-body.ts). docs/errors.md lists each of them (errors.test.ts checks).
 */
export const managerErrors = {
  VALIDATION_FAILED: { http: 400, meaning: 'a body or query field is invalid' },
  PAYLOAD_TOO_LARGE: { http: 413, meaning: 'the body is over the size limit' },
  UNSUPPORTED_MEDIA_TYPE: { http: 415, meaning: 'a body of a type the route does not take' },
  UNAUTHENTICATED: { http: 401, meaning: 'no valid admin or relay token' },
  FORBIDDEN: { http: 403, meaning: "the token's role does not allow the route or the domain" },
  NOT_FOUND: { http: 404, meaning: 'no such record or route' },
  ALREADY_EXISTS: { http: 409, meaning: 'a record with that id or name exists' },
  CONFLICT: { http: 409, meaning: 'the change conflicts with the current state' },
  CODE_INVALID: { http: 400, meaning: 'the activation code is unknown' },
  CODE_EXPIRED: { http: 410, meaning: "the activation code's ttl has passed" },
  CODE_USED: { http: 410, meaning: 'the activation code was already used' },
  CODE_REVOKED: { http: 410, meaning: 'an administrator revoked the activation code' },
  DEVICE_REVOKED: { http: 403, meaning: 'the device was revoked' },
  SIGNATURE_INVALID: { http: 401, meaning: "the token challenge's signature does not verify" },
  SIGNATURE_STALE: { http: 401, meaning: "the challenge's timestamp is too far from the clock" },
  REPLAYED: { http: 409, meaning: "the challenge's nonce was already used" },
  CONTACT_SEARCH_DISABLED: { http: 403, meaning: "the domain's policy turned contact search off" },
  RATE_LIMITED: { http: 429, meaning: 'too many requests (or failed logins) from one address' },
  UNKNOWN_DOMAIN: { http: 404, meaning: 'the domain is not configured' },
  STORAGE_UNAVAILABLE: { http: 503, meaning: 'Redis does not answer, or a signing key is missing' },
  INTERNAL: { http: 500, meaning: 'an unexpected failure, logged by the Manager' },
} as const satisfies Record<string, ManagerErrorSpec>;

export type ManagerErrorCode = keyof typeof managerErrors;
