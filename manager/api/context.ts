import type { FastifyRequest } from 'fastify';
import type { Logger } from '../../contracts/logger.js';
import { allowed, type Access } from '../auth/roles.js';
import { bearer } from '../auth/relay-token.js';
import type { ConfigSource, DomainConfig } from '../config-source/config-source.js';
import { ManagerError } from '../errors.js';
import type { ManagerMetrics } from '../metrics.js';
import type { AdminTokenInfo, AuditEntry } from '../model.js';
import type { ManagerStore } from '../store/manager-store.js';
import { FailureAudit, type RefusedAttempt } from './failure-audit.js';

/** Counts one failed admin login of a request's client address; exceeded past the limit. */
export type LoginFailureLimiter = (
  request: FastifyRequest,
) => Promise<{ isExceeded: boolean; ttlInSeconds: number }>;

export interface AuditFields {
  domain?: string | undefined;
  target?: string | undefined;
  details?: Record<string, unknown> | undefined;
}

/** What every route handler works with: the store, the configuration, a clock, metrics, a logger. */
/** The access an admin route needs: tokens routes are server-admin only; GET reads, the rest writes. */
export function accessFor(
  method: string,
  url: string,
  params: Record<string, string | undefined>,
): Access {
  if (url.startsWith('/v1/admin/tokens')) return { kind: 'tokens' };
  const write = method !== 'GET';
  const domain = params.domain;
  return domain === undefined ? { kind: 'server', write } : { kind: 'domain', domain, write };
}

export class ManagerContext {
  /** The admin token of each request, once authenticated (route table and handler both ask). */
  private readonly admins = new WeakMap<FastifyRequest, AdminTokenInfo>();
  /** Refused anonymous attempts (failed logins and enrollments), aggregated per window. */
  readonly failures: FailureAudit;

  constructor(
    readonly store: ManagerStore,
    readonly config: ConfigSource,
    readonly now: () => Date,
    readonly metrics: ManagerMetrics,
    readonly log: Logger,
    private readonly loginFailures?: LoginFailureLimiter,
  ) {
    this.failures = new FailureAudit((entry) => store.appendAudit(entry), now, log);
  }

  /** Audits a refused anonymous attempt; its repeats are counted into one entry per window. */
  async refused(attempt: RefusedAttempt): Promise<void> {
    await this.failures.record(attempt);
  }

  async audit(
    actor: string,
    action: string,
    outcome: AuditEntry['outcome'],
    fields: AuditFields = {},
  ): Promise<void> {
    await this.store.appendAudit({
      time: this.now().toISOString(),
      actor,
      action,
      outcome,
      ...(fields.domain === undefined ? {} : { domain: fields.domain }),
      ...(fields.target === undefined ? {} : { target: fields.target }),
      ...(fields.details === undefined ? {} : { details: fields.details }),
    });
  }

  /**
   * The admin token of the request, or 401 UNAUTHENTICATED (audited as login.failed), then
   * 403 FORBIDDEN when its role does not allow `access`.
   */
  async authorize(request: FastifyRequest, access: Access): Promise<AdminTokenInfo> {
    const token = bearer(request.headers.authorization);
    const info =
      this.admins.get(request) ??
      (token === undefined ? undefined : await this.store.authenticateAdmin(token));
    if (info === undefined) {
      const reason = token === undefined ? 'no bearer token' : 'unknown admin token';
      // Only failures count: a known token is never held back by its neighbours' attempts.
      const limit = await this.loginFailures?.(request);
      const rateLimited = limit?.isExceeded === true;
      await this.refused({
        action: 'login.failed',
        reason,
        address: request.ip,
        route: `${request.method} ${request.routeOptions.url ?? ''}`,
        details: { method: request.method, path: request.url.split('?')[0] ?? '' },
        rateLimited,
      });
      if (limit !== undefined && rateLimited) {
        throw new ManagerError(
          'RATE_LIMITED',
          `too many failed logins from this address: retry in ${limit.ttlInSeconds} s`,
          { retryAfterSeconds: limit.ttlInSeconds },
        );
      }
      throw new ManagerError(
        'UNAUTHENTICATED',
        token === undefined
          ? 'send "Authorization: Bearer <admin token>"'
          : 'the admin token is not known (revoked or mistyped)',
      );
    }
    this.admins.set(request, info);
    if (!allowed(info, access)) {
      throw new ManagerError('FORBIDDEN', forbiddenMessage(info, access));
    }
    return info;
  }

  domain(name: string): DomainConfig {
    const config = this.config.getDomain(name);
    if (config === undefined) {
      throw new ManagerError('UNKNOWN_DOMAIN', `no domain "${name}" is configured`);
    }
    return config;
  }

  /**
   * Runs an admin change and writes its audit entry: success, or failure with the error code
   * (the error is passed on).
   */
  async audited<T>(
    admin: AdminTokenInfo,
    action: string,
    fields: AuditFields,
    change: () => Promise<T>,
    details?: (result: T) => Record<string, unknown> | undefined,
  ): Promise<T> {
    let result: T;
    try {
      result = await change();
    } catch (error) {
      if (error instanceof ManagerError) {
        await this.audit(admin.name, action, 'failure', {
          ...fields,
          details: { ...fields.details, error: error.code },
        });
      }
      throw error;
    }
    const extra = details?.(result);
    await this.audit(admin.name, action, 'success', {
      ...fields,
      ...(extra === undefined && fields.details === undefined
        ? {}
        : { details: { ...fields.details, ...extra } }),
    });
    return result;
  }
}

function forbiddenMessage(info: AdminTokenInfo, access: Access): string {
  if (access.kind === 'tokens')
    return `admin token "${info.name}" (${info.role}) cannot manage admin tokens: server-admin only`;
  if (info.role === 'auditor' && access.write)
    return `admin token "${info.name}" is an auditor: read-only`;
  if (access.kind === 'domain')
    return `admin token "${info.name}" (${info.role}) has no access to domain "${access.domain}"`;
  return `admin token "${info.name}" (${info.role}) may not do this`;
}
