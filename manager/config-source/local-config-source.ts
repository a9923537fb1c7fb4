import { policiesForDomain } from '../../crds/policy-merge.js';
import type { DomainSigningKey } from '../../contracts/auth/device-token.js';
import { loadLocalConfig, type LocalConfig } from '../../local/config.js';
import { loadOrCreateDomainKeys } from '../../local/domain-keys.js';
import {
  mergedRelayUrls,
  type ConfigSource,
  type DomainConfig,
  type DomainKeys,
} from './config-source.js';

/** Resolves the Domains of a local config file against its Policies and RelayPools. */
export function domainConfigsOf(config: LocalConfig): Map<string, DomainConfig> {
  const result = new Map<string, DomainConfig>();
  for (const domain of config.domains) {
    const relayPools = domain.spec.relayPools.map((name) => {
      const pool = config.relayPools.find((p) => p.metadata.name === name);
      return { name, urls: pool?.spec.publicUrls ?? pool?.status?.endpoints ?? [] };
    });
    result.set(domain.metadata.name, {
      domain,
      policies: policiesForDomain(domain, config.policies),
      relayPools,
      relayUrls: mergedRelayUrls(relayPools),
    });
  }
  return result;
}

/**
 * The local stack's configuration: the config file (read once at start) and the domain keys
 * files under its dataDir (created when missing, as the local stack does for its relays).
 */
export class LocalConfigSource implements ConfigSource {
  private domains = new Map<string, DomainConfig>();
  private readonly keys = new Map<string, Promise<DomainSigningKey[]>>();
  private config: LocalConfig | undefined;

  constructor(private readonly file: string) {}

  /** The loaded config (after start), e.g. for the default Redis port. */
  get loaded(): LocalConfig | undefined {
    return this.config;
  }

  async start(): Promise<void> {
    const config = await loadLocalConfig(this.file);
    this.config = config;
    this.domains = domainConfigsOf(config);
    // Load (or create) every key now: a token request should not be the first to write a file.
    await Promise.all([...this.domains.keys()].map((d) => this.signingKeys(d)));
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }

  ready(): boolean {
    return this.config !== undefined;
  }

  listDomains(): DomainConfig[] {
    return [...this.domains.values()];
  }

  getDomain(name: string): DomainConfig | undefined {
    return this.domains.get(name);
  }

  async signingKeys(domain: string): Promise<DomainKeys | undefined> {
    const config = this.config;
    if (config === undefined || !this.domains.has(domain)) return undefined;
    let pending = this.keys.get(domain);
    if (pending === undefined) {
      pending = loadOrCreateDomainKeys(config.stack.spec.dataDir, domain);
      this.keys.set(domain, pending);
      pending.catch(() => this.keys.delete(domain));
    }
    const [current, ...older] = await pending;
    if (current === undefined) return undefined;
    return {
      current,
      publicJwks: [current, ...older].map((k) => ({ ...k.publicJwk, kid: k.kid })),
    };
  }
}
