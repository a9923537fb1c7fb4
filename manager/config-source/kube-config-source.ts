import type { JWK } from 'jose';
import type { z } from 'zod';
import { domainSchema, type Domain } from '../../crds/domain.js';
import { policiesForDomain } from '../../crds/policy-merge.js';
import { policySchema, type Policy } from '../../crds/policy.js';
import { relayPoolSchema, type RelayPool } from '../../crds/relaypool.js';
import type { DomainSigningKey } from '../../contracts/auth/device-token.js';
import type { Logger } from '../../contracts/logger.js';
import { Informer } from '../../kube/informer.js';
import type { KubeClient } from '../../kube/kube-client.js';
import type { KubeObject } from '../../kube/kube-object.js';
import { resourceTypes } from '../../kube/resource-types.js';
import {
  mergedRelayUrls,
  type ConfigSource,
  type DomainConfig,
  type DomainKeys,
} from './config-source.js';

/** The Secret the operator keeps a domain's signing keys in (operator/builders/domain/signing-keys.ts). */
export const signingKeySecretName = (domain: string): string => `${domain}-signing-key`;
const SIGNING_KEYS_DATA_KEY = 'keys.json';

interface SecretObject extends KubeObject {
  data?: Record<string, string>;
}

interface CachedKeys {
  at: number;
  keys: Promise<DomainKeys | undefined>;
}

export interface KubeConfigSourceOptions {
  /** Watch one namespace; all namespaces when omitted. */
  namespace?: string;
  log?: Logger;
  /** How long a signing key read from its Secret is used before it is read again (default 30 s). */
  keyCacheMs?: number;
  now?: () => number;
}

/** Parses the `keys.json` of a signing key Secret: `{keys: [current (with privateJwk), ...retired]}`. */
export function parseStoredKeys(json: string): DomainKeys {
  const value = JSON.parse(json) as { keys?: unknown };
  if (!Array.isArray(value.keys) || value.keys.length === 0) {
    throw new Error('keys.json has no "keys" array');
  }
  const [current, ...retired] = value.keys as (Partial<DomainSigningKey> & { kid?: string })[];
  if (current?.privateJwk === undefined || current.publicJwk === undefined || !current.kid) {
    throw new Error('the current key of keys.json has no private key');
  }
  const publicJwks: JWK[] = [current, ...retired]
    .filter((k) => k.publicJwk !== undefined)
    .map((k) => ({ ...k.publicJwk, kid: k.kid }));
  return { current: current as DomainSigningKey, publicJwks };
}

function isReady(pool: RelayPool): boolean | undefined {
  const condition = pool.status?.conditions?.find((c) => c.type === 'Ready');
  return condition === undefined ? undefined : condition.status === 'True';
}

/**
 * The configuration from the Kubernetes API: Domains, Policies and RelayPools watched with
 * informers; each domain's signing key read from its Secret (cached briefly, so a rotation is
 * picked up within keyCacheMs).
 */
export class KubeConfigSource implements ConfigSource {
  private readonly domains: Informer<KubeObject>;
  private readonly policies: Informer<KubeObject>;
  private readonly pools: Informer<KubeObject>;
  private readonly keyCache = new Map<string, CachedKeys>();
  private readonly now: () => number;
  private synced = false;

  constructor(
    private readonly client: KubeClient,
    private readonly options: KubeConfigSourceOptions = {},
  ) {
    const informerOptions = {
      ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
      ...(options.log === undefined ? {} : { log: options.log }),
    };
    this.domains = new Informer(client, resourceTypes.domains, informerOptions);
    this.policies = new Informer(client, resourceTypes.policies, informerOptions);
    this.pools = new Informer(client, resourceTypes.relayPools, informerOptions);
    this.now = options.now ?? Date.now;
  }

  async start(): Promise<void> {
    const informers = [this.domains, this.policies, this.pools];
    for (const informer of informers) informer.start();
    await Promise.all(informers.map((informer) => informer.waitForSync()));
    this.synced = true;
  }

  async stop(): Promise<void> {
    await Promise.all([this.domains.stop(), this.policies.stop(), this.pools.stop()]);
  }

  ready(): boolean {
    return this.synced;
  }

  /** Whether the cache holds this RelayPool; undefined before the caches synced. */
  relayPoolExists(namespace: string, name: string): boolean | undefined {
    return this.synced ? this.pools.get(namespace, name) !== undefined : undefined;
  }

  /** The cached RelayPool, as the API server gave it. */
  relayPool(namespace: string, name: string): KubeObject | undefined {
    return this.pools.get(namespace, name);
  }

  /** Calls `handler` with each RelayPool created or changed from now on. */
  onRelayPool(handler: (pool: KubeObject) => void): void {
    this.pools.onAdd(handler);
    this.pools.onUpdate(handler);
  }

  private parsed<T>(informer: Informer<KubeObject>, schema: z.ZodType<T>): T[] {
    const result: T[] = [];
    for (const object of informer.list()) {
      const parsed = schema.safeParse(object);
      if (parsed.success) result.push(parsed.data);
      else {
        this.options.log?.warn('ignoring an invalid object', {
          kind: object.kind,
          name: object.metadata.name,
          namespace: object.metadata.namespace,
        });
      }
    }
    return result;
  }

  private resolve(domain: Domain, policies: Policy[], pools: RelayPool[]): DomainConfig {
    const ns = domain.metadata.namespace;
    const relayPools = domain.spec.relayPools.map((name) => {
      const pool = pools.find((p) => p.metadata.name === name && p.metadata.namespace === ns);
      const urls = pool?.spec.publicUrls ?? pool?.status?.endpoints ?? [];
      const ready = pool === undefined ? false : isReady(pool);
      return { name, urls, ...(ready === undefined ? {} : { ready }) };
    });
    return {
      domain,
      policies: policiesForDomain(domain, policies),
      relayPools,
      relayUrls: mergedRelayUrls(relayPools),
    };
  }

  listDomains(): DomainConfig[] {
    const policies = this.parsed(this.policies, policySchema);
    const pools = this.parsed(this.pools, relayPoolSchema);
    const seen = new Set<string>();
    const result: DomainConfig[] = [];
    const domains = this.parsed(this.domains, domainSchema).sort((a, b) =>
      a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0,
    );
    for (const domain of domains) {
      // Domain names are the Manager's keys: with several namespaces watched, the first wins.
      if (seen.has(domain.metadata.name)) continue;
      seen.add(domain.metadata.name);
      result.push(this.resolve(domain, policies, pools));
    }
    return result;
  }

  getDomain(name: string): DomainConfig | undefined {
    return this.listDomains().find((d) => d.domain.metadata.name === name);
  }

  signingKeys(domain: string): Promise<DomainKeys | undefined> {
    const config = this.getDomain(domain);
    if (config === undefined) return Promise.resolve(undefined);
    const cached = this.keyCache.get(domain);
    if (cached !== undefined && this.now() - cached.at < (this.options.keyCacheMs ?? 30_000)) {
      return cached.keys;
    }
    const keys = this.readKeys(config.domain);
    this.keyCache.set(domain, { at: this.now(), keys });
    keys.then(
      (value) => {
        // A missing key is not cached: the operator may create it any moment.
        if (value === undefined) this.keyCache.delete(domain);
      },
      () => this.keyCache.delete(domain),
    );
    return keys;
  }

  private async readKeys(domain: Domain): Promise<DomainKeys | undefined> {
    const name = domain.status?.signingKeySecret ?? signingKeySecretName(domain.metadata.name);
    const secret = await this.client.get<SecretObject>(
      resourceTypes.secrets,
      domain.metadata.namespace ?? 'default',
      name,
    );
    const data = secret?.data?.[SIGNING_KEYS_DATA_KEY];
    if (data === undefined) return undefined;
    return parseStoredKeys(Buffer.from(data, 'base64').toString('utf8'));
  }
}
