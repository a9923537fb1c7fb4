import type { AddressInfo } from 'node:net';
import type { Server as TlsServer } from 'node:tls';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { WebSocketServer, type WebSocket } from 'ws';
import { applyConnectionLimits } from '../../contracts/http-limits.js';
import { listenAddresses, type ListenAddresses } from '../../contracts/listen-address.js';
import { startMetricsServer, type MetricsServer } from '../../contracts/metrics-server.js';
import { RedisHealth, redactRedisUrl } from '../../contracts/redis/redis-health.js';
import type { RelayConfig } from '../config.js';
import { createRelayMetrics, type RelayMetrics } from '../metrics.js';
import { CloseCode } from '../../contracts/errors/close-codes.js';
import { RelayError } from '../../contracts/errors/relay-errors.js';
import { directoryKeys } from '../../contracts/redis/keys.js';
import { decodeDirectoryMessage } from '../../contracts/wire/directory-channel.js';
import { longPollPaths } from '../../contracts/wire/long-poll.js';
import { connectRedis, type RedisClient } from '../../contracts/redis/connection.js';
import { DeviceConnection } from './device-connection.js';
import { LongPollTransport, replyError } from './long-poll.js';
import { RelayCore } from './relay-core.js';
import type { Logger } from '../../contracts/logger.js';
import {
  describeCertificate,
  loadTlsFiles,
  reloadTlsFiles,
  type TlsMaterial,
} from './tls-files.js';

/** Largest WebSocket frame accepted: a maximal message in base64 plus the envelope. */
function maxFrameBytes(config: RelayConfig): number {
  // A relay with no domain yet (a new RelayPool no Domain names) accepts no token, so any
  // frame size would do; 1 byte keeps the limit finite.
  const largest = Math.max(1, ...config.domains.map((domain) => domain.limits.maxMessageBytes));
  return Math.ceil((largest * 4) / 3) + 64 * 1024;
}

/** How often the accepted-send counts go to Redis (the Manager's usage report reads them). */
const USAGE_FLUSH_MS = 1000;

/**
 * A relay process: HTTP server with `/v1/connect` (WebSocket), the long-poll routes,
 * `/healthz` and `/readyz`; `/metrics` on a port of its own (config.metrics); the pod
 * heartbeat and dead-pod sweeper; drain.
 */
export class RelayApp {
  readonly metrics: RelayMetrics;
  readonly core: RelayCore;
  private readonly app: FastifyInstance;
  private readonly wss: WebSocketServer;
  private readonly connections = new Set<DeviceConnection>();
  private readonly longPoll: LongPollTransport;
  private readonly redis: RedisClient;
  private readonly subscriber: RedisClient;
  private readonly tls: TlsMaterial | undefined;
  private metricsServer: MetricsServer | undefined;
  readonly redisHealth: RedisHealth;
  /** When this pod's liveness record was last renewed (undefined: never yet). */
  private lastHeartbeatAt: number | undefined;
  private draining = false;
  /** Redis has been unavailable longer than redis.closeDevicesAfterMs: devices go elsewhere. */
  private storageLost = false;
  private stopped = false;
  private timers: NodeJS.Timeout[] = [];

  constructor(
    readonly config: RelayConfig,
    private readonly log: Logger,
  ) {
    this.metrics = createRelayMetrics();
    this.redis = connectRedis(config.redis, 'commands');
    this.subscriber = connectRedis(config.redis, 'subscriber');
    this.redisHealth = new RedisHealth(log, {
      target: redactRedisUrl(config.redis.url),
      onChange: (up) => this.metrics.redisUp.set(up ? 1 : 0),
    });
    this.redisHealth.watch(this.redis, 'commands');
    this.redisHealth.watch(this.subscriber, 'subscriber');
    this.core = new RelayCore(config, this.redis, this.subscriber, this.metrics);
    this.tls = config.tls === undefined ? undefined : loadTlsFiles(config.tls);
    // With tls, the same routes and the WebSocket upgrade on an HTTPS server (wss://, https://).
    this.app = Fastify({
      logger: false,
      bodyLimit: maxFrameBytes(config),
      ...(this.tls === undefined ? {} : { https: { cert: this.tls.cert, key: this.tls.key } }),
    });
    // Slow or silent clients hold a socket for a bounded time; sockets are capped (config.connection).
    applyConnectionLimits(this.app.server, config.connection);
    this.wss = new WebSocketServer({ noServer: true, maxPayload: maxFrameBytes(config) });
    this.longPoll = new LongPollTransport(this.core);
    this.core.wakeups.onResubscribed(() => {
      // Wake-ups published during the outage are lost: every reader checks its queue again.
      for (const connection of this.connections) connection.pump();
      this.longPoll.wakeAll();
      // So may a revocation be: check the connected devices against the directory again.
      void this.recheckEnrolment();
    });
    this.routes();
  }

  private routes(): void {
    // Bodies are parsed before any route runs: their errors get the documented shape too.
    this.app.setErrorHandler((error: FastifyError, _request, reply) => {
      const status = error.statusCode ?? 500;
      if (status === 413) {
        const message = `request body is over the relay's limit of ${maxFrameBytes(this.config)} bytes`;
        return replyError(reply, new RelayError('MESSAGE_TOO_LARGE', message));
      }
      if (status >= 400 && status < 500) {
        return replyError(reply, new RelayError('BAD_FRAME', error.message));
      }
      return replyError(reply, error);
    });
    // A long poll is silent while it waits: its socket gets the longest wait plus 10 s instead
    // of the idle bound (Node restores the idle bound at the socket's next request).
    const pollIdleMs = Math.max(
      this.config.connection.idleTimeoutMs,
      (this.config.longPoll.maxWaitSeconds + 10) * 1000,
    );
    this.app.addHook('onRequest', (request, _reply, done) => {
      if (request.routeOptions.url === longPollPaths.poll)
        request.raw.socket.setTimeout(pollIdleMs);
      done();
    });
    this.app.get('/healthz', () => ({ ok: true }));
    this.app.get('/readyz', async (_request, reply) => {
      if (this.draining) return reply.code(503).send({ ready: false, reason: 'draining' });
      // A lost connection answers at once: a PING would wait in ioredis's queue while it
      // reconnects, past the probe's timeout.
      if (!this.redisHealth.state.up || this.storageLost) {
        return reply.code(503).send({ ready: false, reason: 'redis unavailable' });
      }
      try {
        await this.redis.ping();
        return { ready: true };
      } catch {
        return reply.code(503).send({ ready: false, reason: 'redis unavailable' });
      }
    });
    this.longPoll.register(this.app, () => !this.draining);
    this.app.server.on('upgrade', (request, socket, head) => {
      const path = (request.url ?? '').split('?')[0];
      if (path !== '/v1/connect') {
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
        return;
      }
      this.wss.handleUpgrade(request, socket, head, (ws) => {
        this.accept(ws);
      });
    });
  }

  private accept(ws: WebSocket): void {
    if (this.draining) {
      this.metrics.closes.inc({ code: String(CloseCode.notReady) });
      ws.close(CloseCode.notReady, 'relay is draining: connect to another relay');
      return;
    }
    if (this.storageLost) {
      this.metrics.closes.inc({ code: String(CloseCode.notReady) });
      ws.close(CloseCode.notReady, 'relay cannot reach its storage: connect to another relay');
      return;
    }
    const connection = new DeviceConnection(ws, this.core, (closed) =>
      this.connections.delete(closed),
    );
    this.connections.add(connection);
  }

  /**
   * Listens on every served domain's directory channel from the start (not only once a
   * directory is loaded), so no revocation of a connected device goes unheard. A failed
   * subscription (Redis down at startup) is retried until it holds.
   */
  private watchDirectories(): void {
    for (const { name } of this.config.domains) {
      const channel = directoryKeys(name).channel;
      const listener = (text: string) => {
        const message = decodeDirectoryMessage(text);
        if (message.kind === 'revoke') this.revoke(name, message.device);
      };
      const subscribe = (): void => {
        if (this.stopped) return;
        this.core.wakeups.subscribe(channel, listener).catch(() => {
          this.core.wakeups.unsubscribe(channel, listener);
          setTimeout(subscribe, 1000).unref();
        });
      };
      subscribe();
    }
  }

  /** Closes every connection of a revoked device on this relay (4105 / 403 AUTH_REVOKED). */
  private revoke(domain: string, device: string): void {
    if (device === '') return;
    this.core.noteRevoked(domain, device);
    let closed = 0;
    for (const connection of this.connections) {
      const claims = connection.device;
      if (claims?.domain === domain && claims.device === device) {
        connection.revoke();
        closed++;
      }
    }
    this.longPoll.revoke(domain, device);
    this.log.info('device revoked', { domain, device, closed });
  }

  /** Closes connections of devices no longer in their domain's directory (see onResubscribed). */
  private async recheckEnrolment(): Promise<void> {
    this.core.directory.clear();
    for (const connection of [...this.connections]) {
      const claims = connection.device;
      if (claims === undefined) continue;
      try {
        const directory = await this.core.directory.get(claims.domain);
        // Only a device gone from an identity that is still there: a directory emptied by a
        // Redis that lost its data must not close every connection for good.
        if (
          directory.identityOfDevice(claims.device) !== claims.identity &&
          directory.devicesOfIdentity(claims.identity) !== undefined
        ) {
          connection.revoke();
        }
      } catch {
        this.metrics.redisErrors.inc();
      }
    }
  }

  /** Starts serving; resolves with where it listens (every interface address for 0.0.0.0). */
  async listen(): Promise<ListenAddresses & { tls: boolean; metricsAddress: string }> {
    this.watchDirectories();
    // Metrics first: a relay whose metrics port is taken fails before it takes any device.
    this.metricsServer = await startMetricsServer({
      host: this.config.metrics.host ?? this.config.host,
      port: this.config.metrics.port,
      registry: this.metrics.registry,
    });
    await this.app.listen({ host: this.config.host, port: this.config.port });
    if (this.config.tls !== undefined && this.tls !== undefined) {
      this.log.info('serving TLS', describeCertificate(this.tls.cert));
      this.timers.push(
        reloadTlsFiles(
          this.app.server as unknown as TlsServer,
          this.config.tls,
          this.tls,
          this.log,
        ),
      );
    }
    await this.heartbeat();
    this.core.replicaAcks.startChecking();
    const { heartbeatMs, sweepMs } = this.config.presence;
    this.timers.push(
      setInterval(() => void this.core.flushUsage(), USAGE_FLUSH_MS),
      setInterval(() => void this.heartbeat(), heartbeatMs),
      setInterval(() => {
        this.core.presence
          .sweepDeadPods()
          .then((swept) => {
            if (swept > 0)
              this.log.info('took devices of dead relay pods offline', { devices: swept });
          })
          .catch(() => this.metrics.redisErrors.inc());
      }, sweepMs),
    );
    if (this.config.redis.closeDevicesAfterMs > 0) {
      this.timers.push(
        setInterval(
          () => this.checkStorage(),
          Math.min(1000, this.config.redis.closeDevicesAfterMs / 2),
        ),
      );
    }
    const bound = this.app.server.address() as AddressInfo;
    return {
      ...listenAddresses(bound, this.tls === undefined ? 'ws' : 'wss'),
      tls: !!this.tls,
      metricsAddress: this.metricsServer.address,
    };
  }

  /**
   * Renews this pod's liveness record. A record found missing after this pod had one means
   * another relay swept the pod as dead (a pause longer than deadAfterMs) or Redis lost its
   * data: the pod's devices are marked online again. The first record of a pod is never a
   * warning, even when Redis was unreachable at start and it comes late.
   */
  private async heartbeat(): Promise<void> {
    try {
      const wasMissing = await this.core.presence.heartbeat(
        this.config.podId,
        this.config.presence.deadAfterMs,
      );
      const previous = this.lastHeartbeatAt;
      this.lastHeartbeatAt = Date.now();
      if (wasMissing && previous !== undefined) {
        this.log.warn(
          "this relay's liveness record was gone (swept as dead after a pause, or Redis lost its data); restoring presence of its devices",
          {
            podId: this.config.podId,
            sinceLastHeartbeatMs: this.lastHeartbeatAt - previous,
            devices: this.connections.size,
          },
        );
        await Promise.all([...this.connections].map((connection) => connection.reassertPresence()));
      }
    } catch {
      this.metrics.redisErrors.inc();
    }
  }

  get port(): number {
    const address = this.app.server.address();
    return address !== null && typeof address === 'object' ? address.port : 0;
  }

  /**
   * A relay that lost Redis keeps nothing a device needs: sends fail and nothing is delivered.
   * Past redis.closeDevicesAfterMs (default 30 s: longer than the Sentinel failovers measured,
   * up to 13 s without an ack in the e2e cluster, so a failover closes nothing) it closes its WebSockets with 4002 in drain-sized batches and refuses new ones,
   * so devices reconnect to a relay that still reaches Redis (when Redis itself is down, to
   * none, with backoff). It takes devices again as soon as Redis is back.
   */
  private checkStorage(): void {
    const { up, downSince } = this.redisHealth.state;
    if (up || downSince === undefined) {
      if (this.storageLost) this.log.info('Redis is back: taking devices again');
      this.storageLost = false;
      return;
    }
    if (this.storageLost || this.draining) return;
    const downMs = Date.now() - downSince;
    if (downMs < this.config.redis.closeDevicesAfterMs) return;
    this.storageLost = true;
    const all = [...this.connections];
    this.log.warn('closing device connections: Redis has been unavailable too long', {
      downMs,
      connections: all.length,
    });
    const { batchSize, batchIntervalMs } = this.config.drain;
    void (async () => {
      for (let i = 0; i < all.length; i += batchSize) {
        if (!this.storageLost || this.stopped) return;
        for (const connection of all.slice(i, i + batchSize)) {
          connection.close(
            CloseCode.storageUnavailable,
            'relay cannot reach its storage: reconnect to another relay',
          );
        }
        await new Promise((resolve) => setTimeout(resolve, batchIntervalMs));
      }
    })();
  }

  /**
   * Drain: unready at once, refuse new connections, end long polls, close sockets in
   * batches with "reconnect" (4000) so clients spread over the other relays, then stop.
   * Messages need no flushing: every acknowledged one is already in Redis.
   */
  async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    const { batchSize, batchIntervalMs, gracePeriodSeconds } = this.config.drain;
    const deadline = Date.now() + gracePeriodSeconds * 1000 * 0.8;
    this.log.info('draining', { connections: this.connections.size });
    this.longPoll.releaseAll();
    const all = [...this.connections];
    for (let i = 0; i < all.length; i += batchSize) {
      for (const connection of all.slice(i, i + batchSize)) {
        connection.close(CloseCode.draining, 'relay draining: reconnect to another relay');
      }
      if (i + batchSize < all.length && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, batchIntervalMs));
      }
    }
    const closedBy = Date.now() + 5000;
    while (this.connections.size > 0 && Date.now() < Math.min(closedBy, deadline)) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await this.stop();
  }

  async stop(): Promise<void> {
    this.draining = true;
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    this.core.replicaAcks.stop();
    for (const client of this.wss.clients) client.terminate();
    await this.longPoll.stop();
    await this.core.flushUsage();
    await this.core.presence.retire(this.config.podId).catch(() => undefined);
    await this.app.close();
    await this.metricsServer?.close();
    this.redis.disconnect();
    this.subscriber.disconnect();
  }
}
