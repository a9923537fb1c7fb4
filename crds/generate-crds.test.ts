import { describe, expect, it } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import { parse, parseAllDocuments } from 'yaml';
import { z } from 'zod';
import {
  buildCrd,
  crdFile,
  crdSchema,
  kindNames,
  renderCrd,
  staleFiles,
  toStructural,
  type CrdSchema,
} from './generate-crds.js';
import { GROVE_KINDS, groveKindSchemas, type GroveKind } from './index.js';

type Json = Record<string, unknown>;

function isJson(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Every node of a schema with its path: `.spec.redis`, `[]` for items, `{}` for map values. */
function* nodes(schema: CrdSchema, path = ''): Generator<[CrdSchema, string]> {
  yield [schema, path];
  for (const [key, child] of Object.entries(schema.properties ?? {})) {
    yield* nodes(child, `${path}.${key}`);
  }
  if (schema.items) yield* nodes(schema.items, `${path}[]`);
  if (schema.additionalProperties) yield* nodes(schema.additionalProperties, `${path}{}`);
}

// The fields of the API server's JSONSchemaProps that Grove may use. Missing on purpose:
// $ref/definitions (forbidden in CRDs), anyOf/oneOf/allOf/not (allowed only without structure,
// and the generator has no use for them), uniqueItems (forbidden), additionalItems, dependencies.
const allowedKeys = new Set<string>([
  'description',
  'type',
  'format',
  'enum',
  'default',
  'nullable',
  'minimum',
  'exclusiveMinimum',
  'maximum',
  'exclusiveMaximum',
  'minLength',
  'maxLength',
  'pattern',
  'minItems',
  'maxItems',
  'minProperties',
  'maxProperties',
  'items',
  'properties',
  'required',
  'additionalProperties',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-int-or-string',
  'x-kubernetes-validations',
]);

/** The Kubernetes structural-schema rules (and CRD v1 validation) the generator must meet. */
function structuralViolations(root: CrdSchema): string[] {
  const problems: string[] = [];
  for (const [node, path] of nodes(root)) {
    const at = path === '' ? '<root>' : path;
    for (const key of Object.keys(node)) {
      if (!allowedKeys.has(key)) problems.push(`${at}: keyword ${key}`);
    }
    const escapes =
      node['x-kubernetes-int-or-string'] === true ||
      node['x-kubernetes-preserve-unknown-fields'] === true;
    if (node.type === undefined && !escapes) problems.push(`${at}: no type`);
    if (node.properties !== undefined && node.additionalProperties !== undefined) {
      problems.push(`${at}: additionalProperties beside properties`);
    }
    if ((node.properties || node.additionalProperties) && node.type !== 'object') {
      problems.push(`${at}: properties on a ${node.type}`);
    }
    if (node.type === 'array' && node.items === undefined)
      problems.push(`${at}: array without items`);
    if (node.items !== undefined && node.type !== 'array')
      problems.push(`${at}: items on a ${node.type}`);
    for (const key of node.required ?? []) {
      if (!node.properties?.[key]) problems.push(`${at}: required ${key} is no property`);
    }
    const listType = node['x-kubernetes-list-type'];
    if (listType === 'set' && node.items?.type === 'object') problems.push(`${at}: set of objects`);
    if (node['x-kubernetes-list-map-keys'] !== undefined) {
      if (listType !== 'map') problems.push(`${at}: map keys without list type map`);
      for (const key of node['x-kubernetes-list-map-keys']) {
        const item = node.items;
        if (!item?.required?.includes(key) && item?.properties?.[key]?.default === undefined) {
          problems.push(`${at}: map key ${key} is neither required nor defaulted`);
        }
      }
    }
    if (
      node.enum !== undefined &&
      node.default !== undefined &&
      !node.enum.includes(node.default)
    ) {
      problems.push(`${at}: default outside enum`);
    }
    for (const rule of node['x-kubernetes-validations'] ?? []) {
      if (rule.message.trim() === '') problems.push(`${at}: CEL rule without message`);
      // oldSelf needs an object the API server can pair with its old version: not an item of
      // an atomic or set list.
      if (rule.rule.includes('oldSelf') && /\[\](?!.*\{\})/.test(path)) {
        const listPath = path.slice(0, path.lastIndexOf('[]'));
        const list = [...nodes(root)].find(([, p]) => p === listPath)?.[0];
        if (list?.['x-kubernetes-list-type'] !== 'map') {
          problems.push(`${at}: transition rule inside a list without map keys`);
        }
      }
    }
  }
  // At the root the API server owns metadata: only name and generateName may be restricted.
  const metadata = root.properties?.metadata;
  if (metadata?.type !== 'object') problems.push('.metadata: not a plain object');
  for (const key of Object.keys(metadata?.properties ?? {})) {
    if (key !== 'name' && key !== 'generateName') problems.push(`.metadata.${key}: restricted`);
  }
  for (const [node, path] of nodes(metadata ?? {}, '.metadata')) {
    if (node.default !== undefined) problems.push(`${path}: default in metadata`);
  }
  return problems;
}

/** Resolves a printer column's simple JSONPath to the schema node it prints. */
function columnNode(root: CrdSchema, jsonPath: string): CrdSchema | undefined {
  let node: CrdSchema | undefined = root;
  for (const part of jsonPath
    .replace(/\[[^\]]*\]/g, '.[]')
    .split('.')
    .filter(Boolean)) {
    node = part === '[]' ? node?.items : node?.properties?.[part];
  }
  return node;
}

/** The API server's structural defaulting: a default fills an absent field, then recurses into it. */
function applyDefaults(value: unknown, schema: CrdSchema): unknown {
  if (Array.isArray(value)) {
    return value.map((item: unknown) => (schema.items ? applyDefaults(item, schema.items) : item));
  }
  if (!isJson(value)) return value;
  const out: Json = { ...value };
  for (const [key, prop] of Object.entries(schema.properties ?? {})) {
    if (!(key in out) && prop.default !== undefined) out[key] = structuredClone(prop.default);
    if (key in out) out[key] = applyDefaults(out[key], prop);
  }
  if (schema.additionalProperties) {
    for (const key of Object.keys(out))
      out[key] = applyDefaults(out[key], schema.additionalProperties);
  }
  return out;
}

function object(kind: GroveKind, spec: Json): Json {
  return { apiVersion: 'grove.dev/v1alpha1', kind, metadata: { name: 'x' }, spec };
}

const backupSpec = {
  domain: 'example',
  schedule: '@daily',
  destination: { pvc: { claimName: 'backups' } },
  encryption: { passwordSecretRef: { name: 'pw', key: 'password' } },
};

describe('generated CRDs', () => {
  it.each(GROVE_KINDS)('%s has a structural schema', (kind) => {
    const schema = buildCrd(kind).spec.versions[0]?.schema.openAPIV3Schema;
    expect(schema).toBeDefined();
    expect(structuralViolations(schema ?? {})).toEqual([]);
    // Not even as text: the YAML holds no JSON-schema leftovers.
    expect(JSON.stringify(schema)).not.toMatch(
      /"(\$ref|\$defs|definitions|anyOf|oneOf|allOf|propertyNames|\$schema)"/,
    );
  });

  it.each(GROVE_KINDS)('%s documents every field for kubectl explain', (kind) => {
    const undocumented = [...nodes(crdSchema(kind))]
      .filter(([, path]) => path !== '' && !path.startsWith('.metadata'))
      .filter(([node, path]) => !path.endsWith('[]') && !path.endsWith('{}') && !node.description)
      .map(([, path]) => path);
    expect(undocumented).toEqual([]);
  });

  it('names the kinds, their short names and the grove category', () => {
    const names = GROVE_KINDS.map((kind) => {
      const crd = buildCrd(kind);
      return [crd.metadata.name, crd.spec.group, crd.spec.scope, crd.spec.names];
    });
    expect(names).toEqual([
      [
        'relaypools.grove.dev',
        'grove.dev',
        'Namespaced',
        {
          kind: 'RelayPool',
          listKind: 'RelayPoolList',
          plural: 'relaypools',
          singular: 'relaypool',
          shortNames: ['rp'],
          categories: ['grove'],
        },
      ],
      [
        'domains.grove.dev',
        'grove.dev',
        'Namespaced',
        {
          kind: 'Domain',
          listKind: 'DomainList',
          plural: 'domains',
          singular: 'domain',
          shortNames: ['gdom'],
          categories: ['grove'],
        },
      ],
      [
        'policies.grove.dev',
        'grove.dev',
        'Namespaced',
        {
          kind: 'Policy',
          listKind: 'PolicyList',
          plural: 'policies',
          singular: 'policy',
          shortNames: ['gpol'],
          categories: ['grove'],
        },
      ],
      [
        'backupschedules.grove.dev',
        'grove.dev',
        'Namespaced',
        {
          kind: 'BackupSchedule',
          listKind: 'BackupScheduleList',
          plural: 'backupschedules',
          singular: 'backupschedule',
          shortNames: ['gbs'],
          categories: ['grove'],
        },
      ],
    ]);
  });

  it('serves one stored version with a status subresource, and scale on RelayPool', () => {
    for (const kind of GROVE_KINDS) {
      const { versions } = buildCrd(kind).spec;
      expect(versions).toHaveLength(1);
      expect(versions[0]).toMatchObject({ name: 'v1alpha1', served: true, storage: true });
      expect(versions[0]?.subresources).toEqual(
        kind === 'RelayPool'
          ? {
              status: {},
              scale: {
                specReplicasPath: '.spec.replicas',
                statusReplicasPath: '.status.replicas',
                labelSelectorPath: '.status.selector',
              },
            }
          : { status: {} },
      );
    }
    // The scale subresource reads and writes integers, and the selector as a string.
    const schema = crdSchema('RelayPool');
    expect(columnNode(schema, '.spec.replicas')?.type).toBe('integer');
    expect(columnNode(schema, '.status.replicas')?.type).toBe('integer');
    expect(columnNode(schema, '.status.selector')?.type).toBe('string');
  });

  it('prints Ready first and Age last, replicas for RelayPool, details with -o wide', () => {
    const columns = Object.fromEntries(
      GROVE_KINDS.map((kind) => [
        kind,
        (buildCrd(kind).spec.versions[0]?.additionalPrinterColumns ?? []).map(
          (c) => `${c.name}${c.priority === 1 ? ' (wide)' : ''}`,
        ),
      ]),
    );
    expect(columns).toEqual({
      RelayPool: [
        'Ready',
        'Replicas',
        'Ready Replicas',
        'External Redis (wide)',
        'Builtin Redis (wide)',
        'Store (wide)',
        'Max Replicas (wide)',
        'Endpoint (wide)',
        'Age',
      ],
      Domain: ['Ready', 'Home Pool (wide)', 'Display Name (wide)', 'Token TTL (wide)', 'Age'],
      Policy: ['Ready', 'Priority (wide)', 'Age'],
      BackupSchedule: [
        'Ready',
        'Suspend',
        'Last Schedule',
        'Next Schedule',
        'Last Success (wide)',
        'Domain (wide)',
        'Schedule (wide)',
        'Time Zone (wide)',
        'Age',
      ],
    });
    const ready = buildCrd('Domain').spec.versions[0]?.additionalPrinterColumns[0];
    expect(ready).toMatchObject({
      type: 'string',
      jsonPath: '.status.conditions[?(@.type=="Ready")].status',
    });
  });

  it.each(GROVE_KINDS)(
    '%s prints only columns that exist in its schema, with their type',
    (kind) => {
      const schema = crdSchema(kind);
      for (const column of buildCrd(kind).spec.versions[0]?.additionalPrinterColumns ?? []) {
        if (column.jsonPath === '.metadata.creationTimestamp') continue;
        const node = columnNode(schema, column.jsonPath);
        expect([column.name, node?.type]).toEqual([
          column.name,
          column.type === 'date' ? 'string' : column.type,
        ]);
        if (column.type === 'date') expect(node?.format).toBe('date-time');
      }
    },
  );

  it('turns the Redis union into one object with an "exactly one of" rule and a usable default', () => {
    const redis = crdSchema('RelayPool').properties?.spec?.properties?.redis;
    expect(Object.keys(redis?.properties ?? {})).toEqual(['builtin', 'external', 'relayPool']);
    expect(redis?.required).toBeUndefined();
    // A default on either key would add it beside the other one.
    expect(redis?.properties?.builtin?.default).toBeUndefined();
    expect(redis?.default).toEqual({ builtin: {} });
    expect(redis?.['x-kubernetes-validations']?.[0]).toEqual({
      rule: '[has(self.builtin), has(self.external), has(self.relayPool)].filter(x, x).size() == 1',
      message: 'must set exactly one of: builtin, external, relayPool',
    });
  });

  it('carries the CEL rules written in the schemas', () => {
    const rules = Object.fromEntries(
      GROVE_KINDS.map((kind) => [
        kind,
        [...nodes(crdSchema(kind))].flatMap(([node, path]) =>
          (node['x-kubernetes-validations'] ?? []).map(
            (rule) => `${path}${rule.fieldPath ?? ''}: ${rule.message}`,
          ),
        ),
      ]),
    );
    expect(rules).toEqual({
      RelayPool: [
        '.spec.resources.requests.cpu: resources.requests.cpu is required with autoscaling, which scales on CPU use relative to requests',
        '.spec.service.nodePort: nodePort needs type NodePort or LoadBalancer',
        '.spec.service.externalTrafficPolicy: externalTrafficPolicy needs type NodePort or LoadBalancer',
        '.spec.redis: must set exactly one of: builtin, external, relayPool',
        '.spec.redis: cannot switch between builtin, external and relayPool Redis after creation: the queued messages live in the current Redis; create a new RelayPool instead',
        '.spec.redis.builtin.highAvailability: highAvailability cannot be removed: pod 0 may not be the primary; create a new RelayPool instead',
        '.spec.redis.builtin.storageClassName: storageClassName cannot be changed after creation: the Redis volume already exists',
        '.spec.redis.builtin.storage: storage cannot be changed after creation: expand the PersistentVolumeClaim data-<pool>-redis-0 directly, if its StorageClass allows expansion',
        '.spec.redis.builtin.highAvailability.replicaAcks: replicaAcks cannot be more than replicas',
        '.spec.redis.builtin.highAvailability.replicas: replicas cannot be lowered: the Sentinels would keep counting the removed pods, the primary possibly among them; create a new RelayPool with fewer replicas and move the Domains to it',
        '.spec.autoscaling.minReplicas: minReplicas must be <= maxReplicas',
        '.spec.connection.headersTimeoutMs: headersTimeoutMs must be <= requestTimeoutMs (the relay defaults are 10000 and 30000)',
        '.spec.networkPolicy.metricsFrom[].namespaceSelector.matchExpressions[].values: values must be non-empty when operator is In or NotIn',
        '.spec.networkPolicy.metricsFrom[].namespaceSelector.matchExpressions[].values: values must be empty when operator is Exists or DoesNotExist',
        '.spec.networkPolicy.metricsFrom[].podSelector.matchExpressions[].values: values must be non-empty when operator is In or NotIn',
        '.spec.networkPolicy.metricsFrom[].podSelector.matchExpressions[].values: values must be empty when operator is Exists or DoesNotExist',
      ],
      Domain: [
        '.spec.signingKey.rotationGracePeriodSeconds: signingKey.rotationGracePeriodSeconds must be >= tokenTTLSeconds, or tokens signed just before a key rotation would stop verifying while still valid',
        '.spec.policySelector.matchExpressions[].values: values must be non-empty when operator is In or NotIn',
        '.spec.policySelector.matchExpressions[].values: values must be empty when operator is Exists or DoesNotExist',
      ],
      Policy: [
        '.spec.domainSelector.matchExpressions[].values: values must be non-empty when operator is In or NotIn',
        '.spec.domainSelector.matchExpressions[].values: values must be empty when operator is Exists or DoesNotExist',
        '.spec.relay.maxMessageBytes: maxMessageBytes must be <= maxQueuedBytes, or no message of that size could ever be queued',
      ],
      BackupSchedule: [
        '.spec.domain: domain is immutable: create a new BackupSchedule to archive another domain',
        '.spec.workspaces.selector: give include or selector, not both',
        '.spec.workspaces.selector.matchExpressions[].values: values must be non-empty when operator is In or NotIn',
        '.spec.workspaces.selector.matchExpressions[].values: values must be empty when operator is Exists or DoesNotExist',
        '.spec.destination: must set exactly one of: pvc, s3',
        '.spec.networkPolicy.metricsFrom[].namespaceSelector.matchExpressions[].values: values must be non-empty when operator is In or NotIn',
        '.spec.networkPolicy.metricsFrom[].namespaceSelector.matchExpressions[].values: values must be empty when operator is Exists or DoesNotExist',
        '.spec.networkPolicy.metricsFrom[].podSelector.matchExpressions[].values: values must be non-empty when operator is In or NotIn',
        '.spec.networkPolicy.metricsFrom[].podSelector.matchExpressions[].values: values must be empty when operator is Exists or DoesNotExist',
      ],
    });
  });

  it('lets the API server reject duplicates in unique lists and keep one condition per type', () => {
    const listTypes = GROVE_KINDS.flatMap((kind) =>
      [...nodes(crdSchema(kind))]
        .filter(([node]) => node['x-kubernetes-list-type'] !== undefined)
        .map(([node, path]) => `${kind}${path}: ${node['x-kubernetes-list-type']}`),
    );
    expect(listTypes).toEqual([
      'RelayPool.spec.publicUrls: set',
      'RelayPool.status.conditions: map',
      'Domain.spec.relayPools: set',
      'Domain.status.conditions: map',
      'Policy.status.conditions: map',
      'BackupSchedule.spec.workspaces.include: set',
      'BackupSchedule.spec.workspaces.exclude: set',
      'BackupSchedule.status.conditions: map',
    ]);
  });

  it('keeps zod’s rule for object names, the only metadata a CRD may restrict', () => {
    expect(crdSchema('Policy').properties?.metadata).toEqual({
      type: 'object',
      properties: {
        name: { type: 'string', maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' },
      },
    });
    expect(crdSchema('Policy').required).toEqual(['spec']);
  });

  const samples: [string, GroveKind, Json][] = [
    ['an empty RelayPool', 'RelayPool', {}],
    ['a RelayPool with external Redis', 'RelayPool', { redis: { external: { url: 'redis://r' } } }],
    [
      'an autoscaled RelayPool',
      'RelayPool',
      {
        autoscaling: { minReplicas: 2, maxReplicas: 5 },
        resources: { requests: { cpu: '1' } },
        redis: { builtin: { storage: '5Gi' } },
      },
    ],
    ['a minimal Domain', 'Domain', { relayPools: ['a'] }],
    ['a Domain with a signing key', 'Domain', { relayPools: ['a'], signingKey: {} }],
    ['an empty Policy', 'Policy', {}],
    ['a Policy with limits', 'Policy', { relay: { maxInFlight: 5 }, domainSelector: {} }],
    ['a minimal BackupSchedule', 'BackupSchedule', backupSpec],
  ];

  it.each(samples)('defaults %s exactly as zod does', (_what, kind, spec) => {
    const input = object(kind, spec);
    const defaulted = applyDefaults(input, crdSchema(kind)) as Json;
    const parsed = groveKindSchemas[kind].parse(input) as Json;
    expect(defaulted.spec).toEqual(parsed.spec);
  });

  it('defaults the resources of config/local.yaml exactly as zod does', async () => {
    const text = await readFile(new URL('../config/local.yaml', import.meta.url), 'utf8');
    const documents = parseAllDocuments(text).map((doc) => doc.toJSON() as Json);
    const grove = documents.filter((doc) => GROVE_KINDS.includes(doc.kind as GroveKind));
    expect(grove).toHaveLength(3);
    for (const doc of grove) {
      const kind = doc.kind as GroveKind;
      const defaulted = applyDefaults(doc, crdSchema(kind)) as Json;
      expect(defaulted.spec).toEqual((groveKindSchemas[kind].parse(doc) as Json).spec);
    }
  });

  it('is deterministic', () => {
    for (const kind of GROVE_KINDS) {
      expect(JSON.stringify(buildCrd(kind))).toBe(JSON.stringify(buildCrd(kind)));
    }
  });
});

describe('committed YAML', () => {
  it.each(GROVE_KINDS)('crds/generated holds the current CRD of %s', async (kind) => {
    const committed = await readFile(crdFile(kind), 'utf8');
    expect(committed).toBe(await renderCrd(kind));
    expect(committed.startsWith('# generated by npm run generate:crds — do not edit\n')).toBe(true);
  });

  it('has no stale or stray files (npm run check:generated)', async () => {
    expect(await staleFiles()).toEqual([]);
  });

  it.each(GROVE_KINDS)(
    '%s reads the same in YAML 1.1, as Go YAML parsers read it',
    async (kind) => {
      const committed = await readFile(crdFile(kind), 'utf8');
      const crd = JSON.parse(JSON.stringify(buildCrd(kind))) as unknown;
      expect(parse(committed, { version: '1.1' })).toEqual(crd);
      expect(parse(committed)).toEqual(crd);
    },
  );

  it('names each file after group and plural, as controller-gen does', () => {
    expect(GROVE_KINDS.map((kind) => crdFile(kind).replace(/^.*\/crds\//, 'crds/'))).toEqual([
      'crds/generated/grove.dev_relaypools.yaml',
      'crds/generated/grove.dev_domains.yaml',
      'crds/generated/grove.dev_policies.yaml',
      'crds/generated/grove.dev_backupschedules.yaml',
    ]);
    expect(kindNames.Policy.plural).toBe('policies');
  });
});

describe('toStructural', () => {
  const json = (schema: z.ZodType, reused: 'inline' | 'ref' = 'inline'): object =>
    z.toJSONSchema(schema, { io: 'input', target: 'openapi-3.0', reused });

  it('drops additionalProperties: false and propertyNames, keeps map value rules', () => {
    const schema = z.strictObject({
      labels: z.record(z.string().regex(/^[a-z]+$/), z.string().max(5)).describe('labels'),
    });
    expect(toStructural(json(schema))).toEqual({
      type: 'object',
      properties: {
        labels: {
          description: 'labels',
          type: 'object',
          additionalProperties: { type: 'string', maxLength: 5 },
        },
      },
      required: ['labels'],
    });
  });

  it('spells out the member a union default selects, as zod does', () => {
    const schema = z.strictObject({
      u: z
        .union([
          z.strictObject({ a: z.strictObject({ n: z.int().default(1) }).prefault({}) }),
          z.strictObject({ b: z.string() }),
        ])
        .prefault({}),
    });
    const union = toStructural(json(schema)).properties?.u;
    expect(union?.default).toEqual({ a: {} });
    expect(applyDefaults({}, toStructural(json(schema)))).toEqual(schema.parse({}));
  });

  it('inlines $refs to reused schemas', () => {
    const shared = z.strictObject({ n: z.int().min(0) }).describe('shared');
    const schema = z.strictObject({ a: shared, b: z.array(shared) });
    const inlined = toStructural(json(schema, 'inline'));
    expect(JSON.stringify(json(schema, 'ref'))).toContain('$ref');
    expect(toStructural(json(schema, 'ref'))).toEqual(inlined);
  });

  const recursive: z.ZodType = z.object({
    get children() {
      return z.array(recursive).optional();
    },
  });
  const refused: [string, object, RegExp][] = [
    ['a recursive schema', json(recursive), /recursive #/],
    [
      'a union of scalars',
      json(z.object({ v: z.union([z.string(), z.int()]) })),
      /\.v: a union other than of one-key objects/,
    ],
    [
      'a union whose members share a key',
      json(
        z.object({
          v: z.union([z.strictObject({ a: z.string() }), z.strictObject({ a: z.int() })]),
        }),
      ),
      /a union with key "a" twice/,
    ],
    ['an untyped value', json(z.object({ v: z.unknown() })), /\.v: type undefined/],
    ['a tuple', json(z.object({ v: z.tuple([z.string(), z.int()]) })), /\.v\[\]: a union/],
    [
      'allOf',
      { type: 'object', properties: { v: { allOf: [{ type: 'string' }] } } },
      /\.v: the keyword "allOf"/,
    ],
    [
      'a map with fixed properties too',
      {
        type: 'object',
        properties: { a: { type: 'string' } },
        additionalProperties: { type: 'string' },
      },
      /additionalProperties beside properties/,
    ],
    ['uniqueItems', { type: 'array', items: { type: 'string' }, uniqueItems: true }, /uniqueItems/],
  ];

  it.each(refused)('refuses %s, naming the field', (_what, schema, message) => {
    expect(() => toStructural(schema)).toThrow(/cannot be expressed in a structural CRD schema/);
    expect(() => toStructural(schema)).toThrow(message);
  });
});
