import { issueDeviceToken } from '../../contracts/auth/device-token.js';
import { verifyChallenge, CHALLENGE_WINDOW_SECONDS } from '../auth/device-challenge.js';
import { verifyRelayToken } from '../auth/relay-token.js';
import type { DomainConfig, DomainKeys } from '../config-source/config-source.js';
import { ManagerError } from '../errors.js';
import type { ManagerContext } from './context.js';
import { effectivePolicy } from './effective-policy.js';
import type { RouteTable } from './route-table.js';
import {
  contactsQuery,
  contactsResponse,
  effectivePolicySchema,
  enrollBody,
  enrollResponse,
  tokenBody,
  tokenResponse,
} from './schemas.js';

const outcomeOf = (error: unknown): string =>
  error instanceof ManagerError ? error.code : 'INTERNAL';

async function keysOf(ctx: ManagerContext, domain: string): Promise<DomainKeys> {
  const keys = await ctx.config.signingKeys(domain);
  if (keys === undefined) {
    throw new ManagerError(
      'STORAGE_UNAVAILABLE',
      `domain "${domain}" has no signing key yet (the operator creates it); retry shortly`,
    );
  }
  return keys;
}

async function relayToken(
  ctx: ManagerContext,
  config: DomainConfig,
  keys: DomainKeys,
  identity: string,
  device: string,
): Promise<{ token: string; expiresAt: string }> {
  const nowSeconds = Math.floor(ctx.now().getTime() / 1000);
  const ttl = config.domain.spec.tokenTTLSeconds;
  const token = await issueDeviceToken(
    keys.current,
    { domain: config.domain.metadata.name, identity, device },
    ttl,
    nowSeconds,
  );
  return { token, expiresAt: new Date((nowSeconds + ttl) * 1000).toISOString() };
}

/** Bodies of the enrollment and token routes are small: a code, a key, a name, a signature. */
const CLIENT_BODY_LIMIT = 16 * 1024;

/** Requests per client address and minute of the routes anyone may call (ManagerLimits). */
export interface ClientRateLimits {
  enrollPerMinute: number;
  tokenPerMinute: number;
}

export function registerClientRoutes(
  routes: RouteTable,
  ctx: ManagerContext,
  limits?: ClientRateLimits,
): void {
  routes.add({
    method: 'POST',
    url: '/v1/enroll',
    summary:
      'Enroll a device with an activation code: its id, identity, relay URLs, effective policy and a first relay token.',
    tag: 'client',
    body: enrollBody,
    bodyLimit: CLIENT_BODY_LIMIT,
    ...(limits === undefined
      ? {}
      : {
          rateLimit: {
            perMinute: limits.enrollPerMinute,
            onExceeded: () => ctx.metrics.enrollments.inc({ outcome: 'RATE_LIMITED' }),
          },
        }),
    responses: { 201: enrollResponse },
    handler: async ({ body, request }, reply) => {
      // The code names its domain: `<domain>.<secret>`.
      const domainName = body.code.slice(0, Math.max(0, body.code.indexOf('.')));
      const config = ctx.config.getDomain(domainName);
      try {
        if (config === undefined) {
          throw new ManagerError(
            'CODE_INVALID',
            'this activation code is not valid: check it, or ask for a new one',
          );
        }
        // Before redeeming: a missing key must not use up the code.
        const keys = await keysOf(ctx, domainName);
        const { member, device } = await ctx.store.redeemCode(
          body.code,
          { name: body.deviceName, publicKey: body.publicKey },
          ctx.now(),
        );
        const token = await relayToken(ctx, config, keys, member.id, device.id);
        await ctx.audit(`device:${device.id}`, 'device.enroll', 'success', {
          domain: domainName,
          target: `device:${device.id}`,
          details: { member: member.id, deviceName: device.name },
        });
        ctx.metrics.enrollments.inc({ outcome: 'success' });
        return await reply.code(201).send({
          deviceId: device.id,
          identityId: member.id,
          domain: domainName,
          relays: config.relayUrls,
          pools: poolUrls(config),
          policy: effectivePolicy(config.policies),
          token: token.token,
          tokenExpiresAt: token.expiresAt,
        });
      } catch (error) {
        ctx.metrics.enrollments.inc({ outcome: outcomeOf(error) });
        // Failed enrollments are audited in the domain the code names (when it is one), their
        // repeats from one address as one entry with a count; the device name is the caller's
        // free text and is not kept.
        if (config !== undefined && error instanceof ManagerError) {
          await ctx.refused({
            action: 'device.enroll',
            domain: domainName,
            reason: error.code,
            address: request.ip,
            details: { error: error.code },
          });
        }
        throw error;
      }
    },
  });

  routes.add({
    method: 'POST',
    url: '/v1/token',
    summary:
      'A fresh relay token for an enrolled device that signs a timestamped challenge with its key (replays refused).',
    tag: 'client',
    body: tokenBody,
    bodyLimit: CLIENT_BODY_LIMIT,
    ...(limits === undefined
      ? {}
      : {
          rateLimit: {
            perMinute: limits.tokenPerMinute,
            onExceeded: () => ctx.metrics.tokenRefreshes.inc({ outcome: 'RATE_LIMITED' }),
          },
        }),
    responses: { 200: tokenResponse },
    handler: async ({ body }) => {
      try {
        const config = ctx.domain(body.domain);
        const device = await ctx.store.getDevice(body.domain, body.deviceId);
        if (device === undefined) {
          // Same answer as a bad signature: the route does not tell which device ids exist.
          throw new ManagerError(
            'SIGNATURE_INVALID',
            'signature does not verify with the key this device enrolled with',
          );
        }
        const now = ctx.now();
        verifyChallenge(body, device.publicKey, now);
        // Nonces are remembered a little longer than a timestamp stays acceptable.
        const fresh = await ctx.store.useNonce(
          body.domain,
          body.deviceId,
          body.nonce,
          2 * CHALLENGE_WINDOW_SECONDS + 60,
        );
        if (!fresh) {
          throw new ManagerError(
            'REPLAYED',
            'this challenge was already used: sign a new one with a fresh nonce',
          );
        }
        if (device.revokedAt !== undefined) {
          throw new ManagerError(
            'DEVICE_REVOKED',
            `device "${device.id}" was revoked at ${device.revokedAt}: enroll again with a new activation code`,
          );
        }
        const keys = await keysOf(ctx, body.domain);
        const token = await relayToken(ctx, config, keys, device.memberId, device.id);
        await ctx.store.touchDevice(body.domain, device.id, now);
        ctx.metrics.tokenRefreshes.inc({ outcome: 'success' });
        return {
          token: token.token,
          expiresAt: token.expiresAt,
          relays: config.relayUrls,
          pools: poolUrls(config),
        };
      } catch (error) {
        ctx.metrics.tokenRefreshes.inc({ outcome: outcomeOf(error) });
        throw error;
      }
    },
  });

  /** The device of a relay token, refused when revoked. */
  const deviceOf = async (authorization: string | undefined) => {
    const claims = await verifyRelayToken(
      ctx.config,
      authorization,
      Math.floor(ctx.now().getTime() / 1000),
    );
    const device = await ctx.store.getDevice(claims.domain, claims.device);
    if (device === undefined || device.memberId !== claims.identity) {
      throw new ManagerError(
        'UNAUTHENTICATED',
        'the relay token names a device that is not enrolled',
      );
    }
    if (device.revokedAt !== undefined) {
      throw new ManagerError('DEVICE_REVOKED', `device "${device.id}" was revoked`);
    }
    return { claims, config: ctx.domain(claims.domain) };
  };

  routes.add({
    method: 'GET',
    url: '/v1/policy',
    summary: 'The effective policy of the device’s domain.',
    tag: 'client',
    security: 'relayToken',
    responses: { 200: effectivePolicySchema },
    handler: async ({ request }) => {
      const { config } = await deviceOf(request.headers.authorization);
      return effectivePolicy(config.policies);
    },
  });

  routes.add({
    method: 'GET',
    url: '/v1/contacts',
    summary: 'Members of the device’s domain whose id or display name contains q (at most 50).',
    tag: 'client',
    security: 'relayToken',
    query: contactsQuery,
    responses: { 200: contactsResponse },
    handler: async ({ request, query }) => {
      const { claims, config } = await deviceOf(request.headers.authorization);
      if (!effectivePolicy(config.policies).identity.contactSearch) {
        throw new ManagerError(
          'CONTACT_SEARCH_DISABLED',
          'the domain’s policy turns contact search off',
        );
      }
      // Only what a contact list needs: never e-mail addresses, so never matched on them.
      const page = await ctx.store.listMembers(claims.domain, {
        query: query.q,
        limit: 50,
        searchEmail: false,
      });
      return page.items.map((m) => ({ id: m.id, displayName: m.displayName }));
    },
  });
}

/** The Domain's pools' URLs in its order, pools without an address left out. */
function poolUrls(config: DomainConfig): string[][] {
  return config.relayPools.map((pool) => [...pool.urls]).filter((urls) => urls.length > 0);
}
