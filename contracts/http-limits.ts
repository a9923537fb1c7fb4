import type { Server } from 'node:http';

/**
 * What a server gives one client connection before it closes it: the relay and the Manager
 * both set these on their HTTP(S) server, so a client that dribbles its headers, sends headers
 * and never the body, or connects and says nothing, holds a socket for a bounded time, and
 * the number of sockets is capped.
 */
export interface ConnectionLimits {
  /** The whole request head must arrive within this (slowloris); also a silent new socket. */
  headersTimeoutMs: number;
  /** The whole request, head and body, must arrive within this. */
  requestTimeoutMs: number;
  /** A socket with no traffic either way for this long is closed (a long poll extends it). */
  idleTimeoutMs: number;
  /** Sockets beyond this many are closed as they arrive (WebSocket connections count). */
  maxConnections: number;
}

/**
 * How often Node checks the headers and request timeouts of open requests (its default is
 * 30 s, which would let a stalled socket live up to 30 s past its bound). The check walks only
 * the requests in progress, not idle or upgraded sockets.
 */
export function connectionsCheckingIntervalMs(limits: ConnectionLimits): number {
  return Math.max(100, Math.min(1000, limits.headersTimeoutMs / 2, limits.requestTimeoutMs / 2));
}

/**
 * Applies the limits to a server created by fastify (which sets its own connectionTimeout and
 * requestTimeout to 0, "none"); call it before `listen`, which starts Node's periodic check.
 * A TLS server also gets the headers bound as its TLS handshake timeout.
 */
export function applyConnectionLimits(server: Server, limits: ConnectionLimits): void {
  if (limits.headersTimeoutMs > limits.requestTimeoutMs) {
    throw new Error(
      `headersTimeoutMs (${limits.headersTimeoutMs}) must not exceed requestTimeoutMs (${limits.requestTimeoutMs})`,
    );
  }
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.setTimeout(limits.idleTimeoutMs);
  server.maxConnections = limits.maxConnections;
  // Read by Node when the server starts listening.
  (server as Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval =
    connectionsCheckingIntervalMs(limits);
  // A TLS server keeps its handshake timeout (default 120 s) under a symbol; new sockets read it.
  const handshake = Object.getOwnPropertySymbols(server).find(
    (symbol) => symbol.description === 'handshake-timeout',
  );
  if (handshake !== undefined) {
    (server as unknown as Record<symbol, number>)[handshake] = limits.headersTimeoutMs;
  }
}
