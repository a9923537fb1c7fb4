import { effectiveRelayLimits, policiesForDomain } from '../crds/policy-merge.js';
import { relayPublicKey, type DomainSigningKey } from '../contracts/auth/device-token.js';
import type { RelayConfigInput } from '../relay/config.js';
import type { LocalConfig } from './config.js';

/**
 * The configuration of each local relay process, derived from the CR-shaped config: the
 * domains served by the stack's RelayPool, their public keys and merged Policy limits.
 */
export function localRelayConfigs(
  config: LocalConfig,
  keys: ReadonlyMap<string, DomainSigningKey[]>,
): { name: string; config: RelayConfigInput }[] {
  const pool = config.stack.spec.relayPool;
  const domains = config.domains
    .filter((domain) => domain.spec.relayPools.includes(pool))
    .map((domain) => ({
      name: domain.metadata.name,
      publicKeys: (keys.get(domain.metadata.name) ?? []).map(relayPublicKey),
      limits: effectiveRelayLimits(policiesForDomain(domain, config.policies)),
    }));
  return config.stack.spec.relays.map((relay) => ({
    name: relay.name,
    config: {
      podId: `local-${relay.name}`,
      host: '127.0.0.1',
      port: relay.port,
      metrics: { port: relay.metricsPort },
      redis: { url: `redis://127.0.0.1:${config.stack.spec.redis.port}`, cluster: false },
      domains,
    },
  }));
}
