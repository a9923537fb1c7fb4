import type { JWK } from 'jose';
import type { Domain } from '../../crds/domain.js';
import type { Policy } from '../../crds/policy.js';
import type { DomainSigningKey } from '../../contracts/auth/device-token.js';

/** One relay pool of a domain's assignment, in the Domain's order (home pool first). */
export interface RelayPoolAssignment {
  name: string;
  urls: string[];
  /** From the RelayPool's Ready condition; unknown in local mode. */
  ready?: boolean;
}

/** What the Manager needs to know about one Domain, resolved against Policies and RelayPools. */
export interface DomainConfig {
  domain: Domain;
  /** The Policies that apply, highest precedence first (crds/policy-merge.ts policiesForDomain). */
  policies: Policy[];
  relayPools: RelayPoolAssignment[];
  /** Every pool's URLs, pools in the Domain's order, duplicates removed. */
  relayUrls: string[];
}

/** The key the Manager signs relay tokens with, and every public key that still verifies. */
export interface DomainKeys {
  current: DomainSigningKey;
  publicJwks: JWK[];
}

/**
 * Where the declarative configuration (Domain, Policy, RelayPool and the domains' signing keys)
 * comes from: the local config file, or the Kubernetes API (watched). One interface, two sources.
 */
export interface ConfigSource {
  /** Loads the configuration; resolves once it is usable (the informers synced). */
  start(): Promise<void>;
  stop(): Promise<void>;
  ready(): boolean;
  listDomains(): DomainConfig[];
  getDomain(name: string): DomainConfig | undefined;
  /** Undefined when the domain is unknown or has no signing key yet. */
  signingKeys(domain: string): Promise<DomainKeys | undefined>;
}

/** Relay URLs of a domain's pools in order, each URL once. */
export function mergedRelayUrls(pools: readonly RelayPoolAssignment[]): string[] {
  return [...new Set(pools.flatMap((pool) => pool.urls))];
}
