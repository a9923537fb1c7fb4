/**
 * WebSocket close codes sent by the relay. Two ranges, so a client knows what to do
 * without a table: 4000–4099 mean "reconnect (with backoff, maybe elsewhere)",
 * 4100–4199 mean "do not reconnect until something changes" (a new token, a fix,
 * an administrator). Documented in docs/protocol.md.
 */
export const CloseCode = {
  /** The relay is draining (shutdown, roll): reconnect to any relay. */
  draining: 4000,
  /** The connection fell too far behind (socket buffer over the bound): reconnect. */
  slowConsumer: 4001,
  /** The relay lost its storage (Redis) mid-connection: reconnect. */
  storageUnavailable: 4002,
  /** No hello within the deadline, or the keepalive ping got no answer: reconnect. */
  timeout: 4003,
  /** Refused before hello: the relay is not ready or is draining. */
  notReady: 4004,
  /** Token missing or not a JWT. */
  authMalformed: 4100,
  /** Token signature does not verify against any key of its domain. */
  authBadSignature: 4101,
  /** Token names a domain this relay does not serve. */
  authUnknownDomain: 4102,
  /** Token expired (or not yet valid): get a fresh token, then reconnect. */
  authExpired: 4103,
  /** The device is not enrolled in the domain's directory. */
  authUnknownDevice: 4104,
  /** An administrator revoked this device: its connections are closed and stay refused. */
  revoked: 4105,
  /** The same device connected again elsewhere; this older connection is replaced. */
  displaced: 4110,
  /** A frame that is not valid JSON or not a known frame type. */
  protocolError: 4120,
  /** Too many frames per second (a flood), beyond the documented budget. */
  flood: 4122,
} as const;

export type CloseCodeName = keyof typeof CloseCode;

/** True when a client should reconnect after this close code (4000–4099 or a network close). */
export function shouldReconnect(code: number): boolean {
  if (code >= 4100 && code < 4200) return false;
  // 1008 (policy violation) and 1009 (frame too large) repeat on every retry of the same input.
  if (code === 1008 || code === 1009 || code === 1002 || code === 1003) return false;
  return true;
}
