import { readFileSync } from 'node:fs';
import { describe, it, expect } from '@jest/globals';
import { parseAllDocuments } from 'yaml';
import { z } from 'zod';
import {
  backupScheduleSchema,
  cronPattern,
  domainSchema,
  formatIssues,
  groveResourceSchema,
  policySchema,
  relativePathPattern,
  relayLimitsSchema,
  relayPoolSchema,
  validateBackupSchedule,
  validateDomain,
  validatePolicy,
  validateRelayLimits,
  validateRelayPool,
  DEFAULT_RELAY_LIMITS,
  type BackupSchedule,
  type Domain,
  type Policy,
  type RelayPool,
} from './index.js';
import * as crds from './index.js';

const sampleStream = parseAllDocuments(
  readFileSync(new URL('../config/local.yaml', import.meta.url), 'utf8'),
);
const samples = (Array.isArray(sampleStream) ? sampleStream : []).map((doc) => {
  const value: unknown = doc.toJS();
  return value;
});

function sample(kind: string): unknown {
  const found = samples.find(
    (doc) => typeof doc === 'object' && doc !== null && (doc as { kind?: unknown }).kind === kind,
  );
  if (found === undefined) throw new Error(`no ${kind} in config/local.yaml`);
  return found;
}

const meta = { apiVersion: 'grove.dev/v1alpha1' };
const relayPool = (spec: unknown): unknown => ({
  ...meta,
  kind: 'RelayPool',
  metadata: { name: 'p' },
  spec,
});
const domain = (spec: unknown): unknown => ({
  ...meta,
  kind: 'Domain',
  metadata: { name: 'd' },
  spec,
});
const policy = (spec: unknown): unknown => ({
  ...meta,
  kind: 'Policy',
  metadata: { name: 'x' },
  spec,
});
const backup = (spec: unknown): unknown => ({
  ...meta,
  kind: 'BackupSchedule',
  metadata: { name: 'nightly' },
  spec: {
    domain: 'example',
    schedule: '30 2 * * *',
    destination: { pvc: { claimName: 'backups' } },
    encryption: { passwordSecretRef: { name: 'backup-password', key: 'password' } },
    ...(spec as object),
  },
});

const startsWith = (text: string): RegExp =>
  new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`);

function problems(schema: z.ZodType, input: unknown): string[] {
  const result = schema.safeParse(input);
  return result.success ? [] : formatIssues(result.error.issues);
}

describe('resource schemas', () => {
  it('accept the sample documents of config/local.yaml', () => {
    for (const kind of ['Domain', 'Policy', 'RelayPool']) {
      expect(problems(groveResourceSchema, sample(kind))).toEqual([]);
    }
  });

  it('accept a complete BackupSchedule', () => {
    const parsed = backupScheduleSchema.parse(
      backup({
        timeZone: 'Europe/Paris',
        workspaces: { include: ['design'], exclude: ['scratch'] },
        retention: { keepLast: 3, maxAgeDays: 30 },
        destination: { pvc: { claimName: 'backups', path: 'grove/example' } },
      }),
    );
    expect(parsed.spec.suspend).toBe(false);
    expect(validateBackupSchedule(parsed)).toEqual([]);
  });

  it('fill in RelayPool defaults from an empty spec', () => {
    const pool = relayPoolSchema.parse(relayPool({}));
    expect(pool.spec).toEqual({
      replicas: 2,
      service: { type: 'ClusterIP', port: 443 },
      redis: { builtin: { storage: '1Gi', appendfsync: 'always' } },
      drain: { gracePeriodSeconds: 30, batchSize: 100, batchIntervalMs: 200 },
      disruptionBudget: { maxUnavailable: 1 },
      topologySpread: true,
      networkPolicy: { enabled: true },
    });
  });

  it('fill in external Redis defaults', () => {
    const pool = relayPoolSchema.parse(
      relayPool({ redis: { external: { url: 'rediss://r:6379' } } }),
    );
    expect(pool.spec.redis).toEqual({ external: { url: 'rediss://r:6379', cluster: false } });
  });

  it('take another pool’s built-in Redis by name', () => {
    const pool = relayPoolSchema.parse(relayPool({ redis: { relayPool: { name: 'home' } } }));
    expect(pool.spec.redis).toEqual({ relayPool: { name: 'home' } });
  });

  it('fill in Domain defaults', () => {
    const d = domainSchema.parse(domain({ relayPools: ['home', 'backup'] }));
    expect(d.spec).toEqual({
      relayPools: ['home', 'backup'],
      signingKey: { algorithm: 'EdDSA', rotationGracePeriodSeconds: 86400 },
      tokenTTLSeconds: 3600,
    });
  });

  it('leave unset Policy limits unset so merging can tell them apart', () => {
    const p = policySchema.parse(policy({ relay: { maxInFlight: 5 } }));
    expect(p.spec).toEqual({ priority: 0, relay: { maxInFlight: 5 } });
  });

  it.each([
    [
      'wrong apiVersion',
      { ...(relayPool({}) as object), apiVersion: 'grove.dev/v1' },
      'apiVersion',
    ],
    [
      'bad name',
      { ...(domain({ relayPools: ['p'] }) as object), metadata: { name: 'Example' } },
      'metadata.name: must be a DNS-1123 label',
    ],
    [
      'bad label key',
      {
        ...(domain({ relayPools: ['p'] }) as object),
        metadata: { name: 'd', labels: { 'a b': 'x' } },
      },
      'metadata.labels["a b"]: invalid key: must be a qualified name',
    ],
    ['negative replicas', relayPool({ replicas: -1 }), 'spec.replicas: Too small'],
    ['misspelt field', relayPool({ replica: 3 }), 'spec: Unrecognized key: "replica"'],
    ['unknown service type', relayPool({ service: { type: 'Ingress' } }), 'spec.service.type'],
    ['port out of range', relayPool({ service: { port: 70000 } }), 'spec.service.port: Too big'],
    [
      'ftp public URL',
      relayPool({ publicUrls: ['ftp://x'] }),
      'spec.publicUrls[0]: must be a ws://, wss://, http:// or https:// URL',
    ],
    [
      'both Redis kinds',
      relayPool({ redis: { builtin: {}, external: { url: 'redis://r' } } }),
      'spec.redis: must set exactly one of: builtin, external, relayPool',
    ],
    [
      'Redis not an object',
      relayPool({ redis: 'redis://r' }),
      'spec.redis: must set exactly one of: builtin, external, relayPool',
    ],
    [
      'a borrowed Redis beside a built-in one',
      relayPool({ redis: { builtin: {}, relayPool: { name: 'home' } } }),
      'spec.redis: must set exactly one of: builtin, external, relayPool',
    ],
    [
      'a borrowed Redis named by no DNS label',
      relayPool({ redis: { relayPool: { name: 'Home Pool' } } }),
      'spec.redis.relayPool.name: must be a DNS-1123 label',
    ],
    [
      'http Redis URL',
      relayPool({ redis: { external: { url: 'http://r' } } }),
      'spec.redis.external.url: must be a redis:// or rediss:// URL',
    ],
    [
      'bad storage quantity',
      relayPool({ redis: { builtin: { storage: 'lots' } } }),
      'spec.redis.builtin.storage: must be a Kubernetes quantity',
    ],
    [
      'numeric cpu',
      relayPool({ resources: { requests: { cpu: 1 } } }),
      'spec.resources.requests.cpu: Invalid input: expected string',
    ],
    ['no relay pools', domain({ relayPools: [] }), 'spec.relayPools: Too small'],
    ['missing relay pools', domain({}), 'spec.relayPools: Invalid input'],
    [
      'short token TTL',
      domain({ relayPools: ['p'], tokenTTLSeconds: 30 }),
      'spec.tokenTTLSeconds: Too small',
    ],
    [
      'RSA signing',
      domain({ relayPools: ['p'], signingKey: { algorithm: 'RS256' } }),
      'spec.signingKey.algorithm',
    ],
    [
      'big in-flight window',
      policy({ relay: { maxInFlight: 20000 } }),
      'spec.relay.maxInFlight: Too big: expected number to be <=10000',
    ],
    ['fractional priority', policy({ priority: 1.5 }), 'spec.priority'],
    [
      'zero send rate',
      policy({ relay: { sendRatePerSecond: 0 } }),
      'spec.relay.sendRatePerSecond: Too small',
    ],
    [
      'short retention',
      policy({ relay: { retentionSeconds: 10 } }),
      'spec.relay.retentionSeconds: Too small',
    ],
    [
      'unknown operator',
      policy({ domainSelector: { matchExpressions: [{ key: 'a', operator: 'Equals' }] } }),
      'spec.domainSelector.matchExpressions[0].operator',
    ],
    [
      'three-field cron',
      backup({ schedule: '* * *' }),
      'spec.schedule: must be a 5-field cron expression',
    ],
    [
      'empty destination',
      backup({ destination: {} }),
      'spec.destination: must set exactly one of: pvc, s3',
    ],
    [
      'two destinations',
      backup({
        destination: {
          pvc: { claimName: 'b' },
          s3: { bucket: 'grove', credentialsSecret: 's3' },
        },
      }),
      'spec.destination: must set exactly one of: pvc, s3',
    ],

    [
      'escaping path',
      backup({ destination: { pvc: { claimName: 'b', path: '../etc' } } }),
      'spec.destination.pvc.path',
    ],
    [
      'bad workspace id',
      backup({ workspaces: { include: ['Design Team'] } }),
      'spec.workspaces.include[0]: must be 1-128 characters',
    ],
  ])('reject %s with the field path', (_what, input, expected) => {
    const found = problems(groveResourceSchema, input);
    expect(found).toContainEqual(expect.stringMatching(startsWith(expected)));
  });
});

describe('cron schedules', () => {
  it.each([
    '30 2 * * *',
    '*/15 * * * *',
    '0 9-17 * * MON-FRI',
    '0 0 1 */3 *',
    '5,35 0-6/2 * jan,jul 0',
    '@daily',
  ])('accepts %s', (cron) => {
    expect(cronPattern.test(cron)).toBe(true);
  });

  it.each([
    '60 * * * *',
    '0 24 * * *',
    '* * 0 * *',
    '* * * 13 *',
    '* * * * 8',
    '*/0 * * * *',
    '* * *',
    '* * * * * *',
    '@often',
    '',
  ])('rejects %s', (cron) => {
    expect(cronPattern.test(cron)).toBe(false);
  });
});

describe('archive paths', () => {
  it.each(['a', 'a/b', '.hidden', 'a..b', '..x/y'])('accepts %s', (p) => {
    expect(relativePathPattern.test(p)).toBe(true);
  });
  it.each(['/a', '.', '..', 'a/../b', 'a/./b', 'a//b', 'a/', ''])('rejects %s', (p) => {
    expect(relativePathPattern.test(p)).toBe(false);
  });
});

describe('cross-field rules', () => {
  it('reject an autoscaler whose minimum exceeds its maximum', () => {
    const pool: RelayPool = relayPoolSchema.parse(
      relayPool({
        autoscaling: { minReplicas: 5, maxReplicas: 2 },
        resources: { requests: { cpu: '500m' } },
      }),
    );
    expect(validateRelayPool(pool)).toEqual([
      'spec.autoscaling.minReplicas: must be <= spec.autoscaling.maxReplicas (2)',
    ]);
  });

  it('require a CPU request when autoscaling', () => {
    const pool = relayPoolSchema.parse(
      relayPool({ autoscaling: { minReplicas: 2, maxReplicas: 4 } }),
    );
    expect(validateRelayPool(pool)[0]).toMatch(/^spec\.resources\.requests\.cpu: required/);
  });

  it('allow a node port and a traffic policy only on NodePort and LoadBalancer Services', () => {
    const clusterIp = relayPoolSchema.parse(
      relayPool({ service: { nodePort: 30443, externalTrafficPolicy: 'Local' } }),
    );
    expect(validateRelayPool(clusterIp)).toEqual([
      'spec.service.nodePort: needs type NodePort or LoadBalancer',
      'spec.service.externalTrafficPolicy: needs type NodePort or LoadBalancer',
    ]);
    const nodePort = relayPoolSchema.parse(
      relayPool({
        service: { type: 'NodePort', nodePort: 30443, externalTrafficPolicy: 'Local' },
        ingress: { host: 'relays.example.com', tls: { secretName: 'relays-tls' } },
        tls: { secretName: 'relay-tls' },
      }),
    );
    expect(validateRelayPool(nodePort)).toEqual([]);
    expect(relayPoolSchema.safeParse(relayPool({ ingress: { host: 'Not A Host' } })).success).toBe(
      false,
    );
  });

  it('reject a pool that names itself for its Redis', () => {
    const pool = relayPoolSchema.parse(relayPool({ redis: { relayPool: { name: 'p' } } }));
    expect(validateRelayPool(pool)).toEqual([
      'spec.redis.relayPool.name: names this pool itself; name the pool whose built-in Redis to use',
    ]);
  });

  it('reject duplicate public URLs and relay pools', () => {
    const pool = relayPoolSchema.parse(relayPool({ publicUrls: ['wss://a', 'wss://a'] }));
    expect(validateRelayPool(pool)).toEqual(['spec.publicUrls[1]: duplicate URL wss://a']);
    const d: Domain = domainSchema.parse(domain({ relayPools: ['a', 'b', 'a'] }));
    expect(validateDomain(d)).toEqual(['spec.relayPools[2]: duplicate RelayPool "a"']);
  });

  it('keep a retired signing key published for at least a token lifetime', () => {
    const d = domainSchema.parse(
      domain({
        relayPools: ['a'],
        tokenTTLSeconds: 7200,
        signingKey: { rotationGracePeriodSeconds: 3600 },
      }),
    );
    expect(validateDomain(d)[0]).toMatch(
      /^spec\.signingKey\.rotationGracePeriodSeconds: must be >= spec\.tokenTTLSeconds \(7200\)/,
    );
  });

  it('check selector operators against their values', () => {
    const p: Policy = policySchema.parse(
      policy({
        domainSelector: {
          matchExpressions: [
            { key: 'a', operator: 'In' },
            { key: 'b', operator: 'Exists', values: ['x'] },
          ],
        },
      }),
    );
    expect(validatePolicy(p)).toEqual([
      'spec.domainSelector.matchExpressions[0].values: must be non-empty when operator is In',
      'spec.domainSelector.matchExpressions[1].values: must be empty when operator is Exists',
    ]);
  });

  it('reject a message size above the queue byte quota', () => {
    const p = policySchema.parse(
      policy({ relay: { maxMessageBytes: 2000, maxQueuedBytes: 1000 } }),
    );
    expect(validatePolicy(p)).toEqual([
      'spec.relay.maxMessageBytes: must be <= spec.relay.maxQueuedBytes (1000)',
    ]);
    expect(
      validateRelayLimits({ ...DEFAULT_RELAY_LIMITS, maxQueuedBytes: 10 }, 'relay')[0],
    ).toMatch(/^relay\.maxMessageBytes: must be <= maxQueuedBytes \(10\)/);
  });

  it('reject a workspace both included and excluded', () => {
    const s: BackupSchedule = backupScheduleSchema.parse(
      backup({ workspaces: { include: ['a', 'b'], exclude: ['b'] } }),
    );
    expect(validateBackupSchedule(s)).toEqual([
      'spec.workspaces.exclude[0]: "b" is also in include; list it in one of them',
    ]);
  });

  it('accept the defaults as valid runtime limits', () => {
    expect(relayLimitsSchema.parse(DEFAULT_RELAY_LIMITS)).toEqual(DEFAULT_RELAY_LIMITS);
    expect(validateRelayLimits(DEFAULT_RELAY_LIMITS)).toEqual([]);
  });
});

type JsonSchema = {
  description?: string;
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  additionalProperties?: JsonSchema | boolean;
  pattern?: string;
};

function walk(
  schema: JsonSchema,
  path: string,
  visit: (s: JsonSchema, path: string) => void,
): void {
  visit(schema, path);
  for (const [key, prop] of Object.entries(schema.properties ?? {}))
    walk(prop, `${path}.${key}`, visit);
  if (schema.items) walk(schema.items, `${path}[]`, visit);
  for (const member of schema.anyOf ?? []) walk(member, path, visit);
  if (typeof schema.additionalProperties === 'object') {
    walk(schema.additionalProperties, `${path}{}`, visit);
  }
}

describe('generated JSON schema', () => {
  const kinds = { relayPoolSchema, domainSchema, policySchema, backupScheduleSchema };

  it.each(Object.entries(kinds))('documents every field of %s', (_name, schema) => {
    const json = z.toJSONSchema(schema, { io: 'input' }) as JsonSchema;
    const undocumented: string[] = [];
    walk(json, '', (s, path) => {
      for (const [key, prop] of Object.entries(s.properties ?? {})) {
        if (!prop.description) undocumented.push(`${path}.${key}`);
      }
    });
    expect(undocumented).toEqual([]);
  });

  it('uses only patterns that Go RE2 (the API server) can compile', () => {
    const patterns = new Set<string>();
    for (const schema of Object.values(kinds)) {
      walk(z.toJSONSchema(schema, { io: 'input' }) as JsonSchema, '', (s) => {
        if (s.pattern) patterns.add(s.pattern);
      });
    }
    for (const value of Object.values(crds)) {
      if (value instanceof RegExp) patterns.add(value.source);
    }
    expect(patterns.size).toBeGreaterThan(5);
    for (const pattern of patterns) {
      expect(pattern).not.toMatch(/\(\?<?[=!]|\\[1-9]/);
    }
  });
});
