import { isIP } from 'node:net';
import type { ConnectionLimits } from '../contracts/http-limits.js';

/**
 * The Manager's bounds on what clients may cost it (docs/manager-api.md, "Limits"): connection
 * timeouts and cap, per-address rate limits of the routes anyone can call, which proxies to
 * trust for the client address, and how many refused attempts the audit log keeps.
 */
export interface ManagerLimits {
  connection: ConnectionLimits;
  rateLimits: {
    /** Failed admin authentications per client address and minute; then 429 until the minute ends. */
    loginFailuresPerMinute: number;
    /** `POST /v1/enroll` requests per client address and minute. */
    enrollPerMinute: number;
    /** `POST /v1/token` requests per client address and minute. */
    tokenPerMinute: number;
  };
  /**
   * Which proxies' X-Forwarded-For to believe: false (default: the socket's address is the
   * client's), a number of proxy hops, or addresses/CIDRs of the proxies.
   */
  trustProxy: false | number | string[];
  /** Entries with outcome failure kept per audit stream (they never push out successes). */
  auditMaxFailures: number;
}

export const DEFAULT_MANAGER_LIMITS: ManagerLimits = {
  connection: {
    headersTimeoutMs: 10_000,
    requestTimeoutMs: 30_000,
    idleTimeoutMs: 60_000,
    maxConnections: 10_000,
  },
  rateLimits: { loginFailuresPerMinute: 30, enrollPerMinute: 20, tokenPerMinute: 300 },
  trustProxy: false,
  auditMaxFailures: 100_000,
};

/** The flags of `grove manager` that set these, for parseArgs. */
export const LIMIT_FLAGS = {
  'headers-timeout': { type: 'string' },
  'request-timeout': { type: 'string' },
  'idle-timeout': { type: 'string' },
  'max-connections': { type: 'string' },
  'rate-limit-login-failures': { type: 'string' },
  'rate-limit-enroll': { type: 'string' },
  'rate-limit-token': { type: 'string' },
  'trust-proxy': { type: 'string' },
  'audit-max-failures': { type: 'string' },
} as const;

export const LIMITS_HELP = `  --headers-timeout S   request head must arrive within S seconds (default 10)
  --request-timeout S   whole request, head and body, within S seconds (default 30)
  --idle-timeout S      close a socket idle for S seconds (default 60)
  --max-connections N   open sockets at most (default 10000)
  --rate-limit-login-failures N   failed admin logins per client address a minute (default 30)
  --rate-limit-enroll N POST /v1/enroll per client address a minute (default 20)
  --rate-limit-token N  POST /v1/token per client address a minute (default 300)
  --trust-proxy LIST    take the client address from X-Forwarded-For set by these proxies:
                        comma-separated addresses or CIDRs, or a number of hops (default: off)
  --audit-max-failures N  failure entries kept per audit stream (default 100000)
`;

type LimitValues = Partial<Record<keyof typeof LIMIT_FLAGS, string>>;

/** The limits the flags set, or the message of the first bad one (pure). */
export function limitsFromFlags(values: LimitValues): ManagerLimits | string {
  const d = DEFAULT_MANAGER_LIMITS;
  const problems: string[] = [];
  const seconds = (flag: keyof LimitValues, fallbackMs: number): number => {
    const text = values[flag];
    if (text === undefined) return fallbackMs;
    const value = Number(text);
    if (!Number.isFinite(value) || value <= 0 || value > 3600) {
      problems.push(`--${flag} must be a number of seconds (more than 0, at most 3600)`);
      return fallbackMs;
    }
    return Math.round(value * 1000);
  };
  const count = (flag: keyof LimitValues, fallback: number, min = 1): number => {
    const text = values[flag];
    if (text === undefined) return fallback;
    const value = Number(text);
    if (!Number.isInteger(value) || value < min || value > 10_000_000) {
      problems.push(`--${flag} must be a whole number from ${min}`);
      return fallback;
    }
    return value;
  };
  const connection: ConnectionLimits = {
    headersTimeoutMs: seconds('headers-timeout', d.connection.headersTimeoutMs),
    requestTimeoutMs: seconds('request-timeout', d.connection.requestTimeoutMs),
    idleTimeoutMs: seconds('idle-timeout', d.connection.idleTimeoutMs),
    maxConnections: count('max-connections', d.connection.maxConnections),
  };
  if (connection.headersTimeoutMs > connection.requestTimeoutMs) {
    problems.push('--headers-timeout must not be longer than --request-timeout');
  }
  const rateLimits = {
    loginFailuresPerMinute: count('rate-limit-login-failures', d.rateLimits.loginFailuresPerMinute),
    enrollPerMinute: count('rate-limit-enroll', d.rateLimits.enrollPerMinute),
    tokenPerMinute: count('rate-limit-token', d.rateLimits.tokenPerMinute),
  };
  const auditMaxFailures = count('audit-max-failures', d.auditMaxFailures, 100);
  const trustProxy = parseTrustProxy(values['trust-proxy']);
  if (typeof trustProxy === 'object' && 'problem' in trustProxy) {
    problems.push(trustProxy.problem);
    return problems.join('; ');
  }
  if (problems.length > 0) return problems.join('; ');
  return { connection, rateLimits, trustProxy, auditMaxFailures };
}

const CIDR = /^([0-9a-fA-F:.]+)(?:\/(\d{1,3}))?$/;

/** `--trust-proxy`: off, a hop count, or proxy addresses/CIDRs; never "trust everyone". */
export function parseTrustProxy(
  text: string | undefined,
): false | number | string[] | { problem: string } {
  if (text === undefined || text === '' || text === 'false' || text === 'off') return false;
  if (/^\d+$/.test(text)) {
    const hops = Number(text);
    return hops === 0 ? false : hops;
  }
  const list = text.split(',').map((item) => item.trim());
  for (const item of list) {
    const match = CIDR.exec(item);
    const address = match?.[1];
    const bits = match?.[2] === undefined ? undefined : Number(match[2]);
    const family = address === undefined ? 0 : isIP(address);
    if (family === 0 || (bits !== undefined && bits > (family === 4 ? 32 : 128))) {
      return {
        problem: `--trust-proxy: "${item}" is not an IP address or CIDR (give the proxies' addresses, or a number of hops)`,
      };
    }
  }
  return list;
}
