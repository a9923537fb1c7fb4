import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { z } from 'zod';
import { DEFAULT_METRICS_PORT } from '../contracts/metrics-server.js';
import { relayLimitsSchema } from '../crds/relay-limits.js';

const jwk = z.looseObject({
  kty: z.literal('OKP'),
  crv: z.literal('Ed25519'),
  x: z.string(),
  kid: z.string(),
});

/**
 * What one relay process needs to run. The local stack writes it from the CR-shaped
 * config; the operator renders it into a ConfigMap.
 */
export const relayConfigSchema = z.object({
  podId: z
    .string()
    .min(1)
    .default(() => `${hostname()}-${process.pid}`),
  host: z.string().default('0.0.0.0'),
  port: z.number().int().min(0).max(65535).default(8443),
  metrics: z
    .object({
      host: z.string().optional().describe('Address to listen on; default: host'),
      port: z.number().int().min(0).max(65535).default(DEFAULT_METRICS_PORT),
    })
    .prefault({})
    .describe(
      'Where GET /metrics is served: a port of its own (default 9090; 0 picks a free one), never the public port',
    ),
  tls: z
    .object({
      certFile: z.string().min(1).describe('PEM certificate chain (tls.crt of a TLS Secret)'),
      keyFile: z.string().min(1).describe('PEM private key (tls.key)'),
      reloadIntervalMs: z.number().int().positive().default(30_000),
    })
    .optional()
    .describe('Serve wss:// and https:// with this certificate; plain ws:// and http:// without'),
  redis: z
    .object({
      url: z
        .string()
        .min(1)
        .describe(
          'redis://host:port; host:port,host:port seeds for a cluster; sentinel://host:port,host:port/MASTER for a primary watched by Redis Sentinel',
        ),
      cluster: z.boolean().default(false),
      password: z.string().optional(),
      sentinelPassword: z.string().optional().describe("The Sentinels' own password, if any"),
      replicaAcks: z
        .object({
          replicas: z
            .number()
            .int()
            .min(0)
            .default(0)
            .describe(
              'A send is acknowledged only once this many replicas have it (WAIT; WAITAOF on Redis ≥ 7.2); 0: the primary alone',
            ),
          timeoutMs: z.number().int().positive().default(1000),
        })
        .prefault({})
        .describe('Replica confirmation of sends (docs/architecture.md#durability-per-setting)'),
      closeDevicesAfterMs: z
        .number()
        .int()
        .min(0)
        .default(30_000)
        .describe(
          'Once this relay has been without Redis this long, close its WebSockets with 4002 (and refuse new ones) so devices move to a relay that has it; 0: never',
        ),
    })
    .refine((redis) => !(redis.cluster && redis.url.trim().startsWith('sentinel://')), {
      message: 'a sentinel:// URL cannot be a Redis Cluster',
      path: ['cluster'],
    }),
  domains: z
    .array(
      z.object({
        name: z.string().min(1),
        publicKeys: z.array(jwk).min(1),
        limits: relayLimitsSchema,
      }),
    )
    .describe(
      'Domains served. May be empty: the operator starts a RelayPool before any Domain names it.',
    ),
  presence: z
    .object({
      heartbeatMs: z.number().int().positive().default(5000),
      deadAfterMs: z.number().int().positive().default(15_000),
      sweepMs: z.number().int().positive().default(5000),
    })
    .prefault({}),
  drain: z
    .object({
      gracePeriodSeconds: z.number().positive().default(30),
      batchSize: z.number().int().positive().default(100),
      batchIntervalMs: z.number().int().nonnegative().default(200),
    })
    .prefault({}),
  connection: z
    .object({
      helloTimeoutMs: z.number().int().positive().default(10_000),
      pingIntervalMs: z.number().int().positive().default(15_000),
      maxBufferedBytes: z
        .number()
        .int()
        .positive()
        .default(8 * 1024 * 1024),
      slowConsumerTimeoutMs: z.number().int().positive().default(10_000),
      maxFramesPerSecond: z.number().int().positive().default(2000),
      maxBadFrames: z.number().int().positive().default(10),
      headersTimeoutMs: z
        .number()
        .int()
        .positive()
        .default(10_000)
        .describe('An HTTP request head (or a new silent socket) must arrive within this'),
      requestTimeoutMs: z
        .number()
        .int()
        .positive()
        .default(30_000)
        .describe('A whole HTTP request, head and body, must arrive within this'),
      idleTimeoutMs: z
        .number()
        .int()
        .positive()
        .default(60_000)
        .describe(
          'A socket without traffic this long is closed (a long poll gets its wait plus 10 s; WebSocket connections are not affected)',
        ),
      maxConnections: z
        .number()
        .int()
        .positive()
        .default(50_000)
        .describe('Open sockets at most, WebSocket connections included; more are closed at once'),
    })
    .refine((c) => c.headersTimeoutMs <= c.requestTimeoutMs, {
      message: 'headersTimeoutMs must not exceed requestTimeoutMs',
      path: ['headersTimeoutMs'],
    })
    .prefault({}),
  /** Payloads at least this large, sent to two or more devices, are stored once by reference. */
  fanOutByReferenceBytes: z.number().int().positive().default(8192),
  longPoll: z
    .object({
      maxWaitSeconds: z.number().int().positive().default(25),
      responseCapBytes: z
        .number()
        .int()
        .positive()
        .default(256 * 1024),
    })
    .prefault({}),
});

export type RelayConfig = z.infer<typeof relayConfigSchema>;
export type RelayConfigInput = z.input<typeof relayConfigSchema>;

/**
 * Settings that come from the pod rather than the config file (the operator shares one
 * ConfigMap between all pods of a pool, and keeps the Redis password in a Secret).
 */
export function relayConfigFromEnvironment(env: NodeJS.ProcessEnv): Partial<
  Pick<RelayConfigInput, 'podId'>
> & {
  redisPassword?: string;
  sentinelPassword?: string;
} {
  const podId = env.POD_NAME;
  const redisPassword = env.GROVE_REDIS_PASSWORD;
  const sentinelPassword = env.GROVE_REDIS_SENTINEL_PASSWORD;
  return {
    ...(podId === undefined || podId === '' ? {} : { podId }),
    ...(redisPassword === undefined || redisPassword === '' ? {} : { redisPassword }),
    ...(sentinelPassword === undefined || sentinelPassword === '' ? {} : { sentinelPassword }),
  };
}

export async function loadRelayConfig(path: string): Promise<RelayConfig> {
  const text = await readFile(path, 'utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new Error(`${path}: not valid JSON: ${(error as Error).message}`);
  }
  const parsed = relayConfigSchema.safeParse(json);
  if (!parsed.success) {
    const lines = parsed.error.issues.map(
      (issue) => `${path}: ${issue.path.join('.')}: ${issue.message}`,
    );
    throw new Error(lines.join('\n'));
  }
  return parsed.data;
}
