// Generates the CustomResourceDefinitions of Grove's kinds from their zod schemas, so the API
// server checks what the operator and the local stack check (one source of truth).
//
//   npm run generate:crds    writes crds/generated/grove.dev_<plural>.yaml
//   npm run check:generated  fails, naming the file, when a committed file is stale
//
// The OpenAPI schema is z.toJSONSchema's output rewritten into a *structural* schema, the only
// kind the API server accepts: every node has a type, no $ref, no additionalProperties beside
// properties, no anyOf/oneOf carrying structure. Anything the rewrite does not understand
// throws, so a new zod construct cannot slip into a CRD the API server would refuse.

import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as prettier from 'prettier';
import {
  runGeneratorAsMain,
  staleGeneratedFiles,
  type GeneratedFile,
  type StaleFile,
} from '../scripts/generated-files.js';
import { stringify } from 'yaml';
import { z } from 'zod';
import type { CelRule } from './crd-meta.js';
import { API_GROUP, API_VERSION, GROVE_KINDS, groveKindSchemas, type GroveKind } from './index.js';

/** A node of a structural OpenAPI v3 schema (the subset of JSONSchemaProps Grove emits). */
export interface CrdSchema {
  description?: string;
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  format?: string;
  enum?: unknown[];
  default?: unknown;
  nullable?: boolean;
  minimum?: number;
  exclusiveMinimum?: boolean;
  maximum?: number;
  exclusiveMaximum?: boolean;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  maxProperties?: number;
  items?: CrdSchema;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  properties?: Record<string, CrdSchema>;
  required?: string[];
  additionalProperties?: CrdSchema;
  'x-kubernetes-map-type'?: 'atomic' | 'granular';
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-validations'?: CelRule[];
}

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description: string;
  priority?: number;
}

export interface CustomResourceDefinition {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string; labels: Record<string, string> };
  spec: {
    group: string;
    names: {
      kind: string;
      listKind: string;
      plural: string;
      singular: string;
      shortNames: string[];
      categories: string[];
    };
    scope: 'Namespaced';
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      subresources: {
        status: Record<string, never>;
        scale?: { specReplicasPath: string; statusReplicasPath: string; labelSelectorPath: string };
      };
      additionalPrinterColumns: PrinterColumn[];
      schema: { openAPIV3Schema: CrdSchema };
    }[];
  };
}

const readyColumn: PrinterColumn = {
  name: 'Ready',
  type: 'string',
  jsonPath: '.status.conditions[?(@.type=="Ready")].status',
  description: 'Status of the Ready condition: True, False or Unknown.',
};

// Last, as in kubectl's own tables.
const ageColumn: PrinterColumn = {
  name: 'Age',
  type: 'date',
  jsonPath: '.metadata.creationTimestamp',
  description: 'Time since the object was created.',
};

interface KindNames {
  plural: string;
  singular: string;
  shortNames: string[];
  /** Columns between Ready and Age; priority 1 ones show only with `kubectl get -o wide`. */
  columns: PrinterColumn[];
  scale?: true;
}

export const kindNames: Readonly<Record<GroveKind, KindNames>> = {
  RelayPool: {
    plural: 'relaypools',
    singular: 'relaypool',
    shortNames: ['rp'],
    scale: true,
    columns: [
      {
        name: 'Replicas',
        type: 'integer',
        jsonPath: '.spec.replicas',
        description: 'Desired number of relay pods.',
      },
      {
        name: 'Ready Replicas',
        type: 'integer',
        jsonPath: '.status.readyReplicas',
        description: 'Relay pods that accept connections.',
      },
      // There is no JSONPath for "which key is set": the external URL, or the builtin Redis's
      // storage size, tells the Redis mode apart (the other column shows <none>).
      {
        name: 'External Redis',
        type: 'string',
        jsonPath: '.spec.redis.external.url',
        description: 'URL of the external Redis; <none> with the builtin Redis.',
        priority: 1,
      },
      {
        name: 'Builtin Redis',
        type: 'string',
        jsonPath: '.spec.redis.builtin.storage',
        description: 'Volume size of the builtin Redis; <none> with an external Redis.',
        priority: 1,
      },
      {
        name: 'Store',
        type: 'string',
        jsonPath: '.status.store',
        description:
          'The store the relays use (builtin:NAMESPACE/POOL, the pool’s own or a borrowed one, or external:URL).',
        priority: 1,
      },
      {
        name: 'Max Replicas',
        type: 'integer',
        jsonPath: '.spec.autoscaling.maxReplicas',
        description: 'Most relay pods the autoscaler creates; <none> without autoscaling.',
        priority: 1,
      },
      {
        name: 'Endpoint',
        type: 'string',
        jsonPath: '.status.endpoints[0]',
        description: 'First URL clients are given for this pool.',
        priority: 1,
      },
    ],
  },
  Domain: {
    plural: 'domains',
    singular: 'domain',
    shortNames: ['gdom'],
    columns: [
      {
        name: 'Home Pool',
        type: 'string',
        jsonPath: '.spec.relayPools[0]',
        description: 'The RelayPool clients connect to first.',
        priority: 1,
      },
      {
        name: 'Display Name',
        type: 'string',
        jsonPath: '.spec.displayName',
        description: 'Human-readable name of the domain.',
        priority: 1,
      },
      {
        name: 'Token TTL',
        type: 'integer',
        jsonPath: '.spec.tokenTTLSeconds',
        description: 'Lifetime of relay tokens, in seconds.',
        priority: 1,
      },
    ],
  },
  Policy: {
    plural: 'policies',
    singular: 'policy',
    shortNames: ['gpol'],
    columns: [
      {
        name: 'Priority',
        type: 'integer',
        jsonPath: '.spec.priority',
        description: 'Precedence over other Policies: the higher wins.',
        priority: 1,
      },
    ],
  },
  BackupSchedule: {
    plural: 'backupschedules',
    singular: 'backupschedule',
    shortNames: ['gbs'],
    columns: [
      {
        name: 'Suspend',
        type: 'boolean',
        jsonPath: '.spec.suspend',
        description: 'Whether scheduled runs are skipped.',
      },
      {
        name: 'Last Schedule',
        type: 'date',
        jsonPath: '.status.lastScheduleTime',
        description: 'Time since the last run started.',
      },
      {
        name: 'Next Schedule',
        type: 'string',
        jsonPath: '.status.nextScheduleTime',
        description: 'When the next scheduled run starts (RFC 3339); <none> while suspended.',
      },
      {
        name: 'Last Success',
        type: 'date',
        jsonPath: '.status.lastSuccessfulTime',
        description: 'Time since the last successful run finished.',
        priority: 1,
      },
      {
        name: 'Domain',
        type: 'string',
        jsonPath: '.spec.domain',
        description: 'Domain whose workspaces are archived.',
        priority: 1,
      },
      {
        name: 'Schedule',
        type: 'string',
        jsonPath: '.spec.schedule',
        description: 'When runs start (cron, in the time zone).',
        priority: 1,
      },
      {
        name: 'Time Zone',
        type: 'string',
        jsonPath: '.spec.timeZone',
        description: 'Time zone of the schedule; <none> means UTC.',
        priority: 1,
      },
    ],
  },
};

type Json = Record<string, unknown>;

function isJson(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

class UnsupportedSchemaError extends Error {
  constructor(path: string, what: string) {
    super(`${path}: ${what} cannot be expressed in a structural CRD schema`);
    this.name = 'UnsupportedSchemaError';
  }
}

/** Keywords copied as they are: the API server supports them in structural schemas. */
const kept = [
  'description',
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
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-int-or-string',
  'x-kubernetes-validations',
] as const satisfies readonly (keyof CrdSchema)[];

/**
 * Keywords dropped on purpose. propertyNames: the API server has no key constraints, and a CEL
 * rule over the keys of an unbounded map exceeds the cost budget (zod still checks the keys).
 * The others are annotations with no effect on validation.
 */
const dropped = new Set([
  '$schema',
  '$id',
  'id',
  'title',
  'propertyNames',
  'examples',
  'deprecated',
  'readOnly',
  'writeOnly',
]);

/** The formats the API server validates; zod-only ones would only produce warnings. */
const kubeFormats = new Set([
  'date-time',
  'date',
  'duration',
  'byte',
  'int32',
  'int64',
  'float',
  'double',
  'email',
  'hostname',
  'ipv4',
  'ipv6',
  'cidr',
  'mac',
  'uri',
  'uuid',
  'password',
]);

const types = new Set<CrdSchema['type']>([
  'object',
  'array',
  'string',
  'integer',
  'number',
  'boolean',
]);

const celIdentifier = /^[A-Za-z_][A-Za-z0-9_]*$/;
const celReserved = new Set(
  'true false null in as break const continue else for function if import let loop package namespace return var void while'.split(
    ' ',
  ),
);

interface Context {
  /** The document root, for resolving $ref. */
  root: Json;
  /** $refs being inlined, to catch recursive schemas. */
  resolving: readonly string[];
}

function resolveRef(ref: string, ctx: Context, path: string): [Json, Context] {
  if (ctx.resolving.includes(ref)) throw new UnsupportedSchemaError(path, `recursive ${ref}`);
  if (ref === '#') return [ctx.root, { ...ctx, resolving: [...ctx.resolving, ref] }];
  const match = /^#\/(\$defs|definitions|components\/schemas)\/([^/]+)$/.exec(ref);
  const section = match?.[1];
  const name = match?.[2];
  const container: unknown =
    section === 'components/schemas'
      ? (ctx.root.components as Json | undefined)?.schemas
      : section === undefined
        ? undefined
        : ctx.root[section];
  const target = isJson(container) && name !== undefined ? container[name] : undefined;
  if (!isJson(target)) throw new UnsupportedSchemaError(path, `unresolvable $ref ${ref}`);
  return [target, { ...ctx, resolving: [...ctx.resolving, ref] }];
}

function celName(key: string, path: string): string {
  if (!celIdentifier.test(key) || celReserved.has(key)) {
    throw new UnsupportedSchemaError(path, `union key "${key}" (not a plain CEL identifier)`);
  }
  return key;
}

/**
 * Grove's unions are of strict one-key objects ({builtin: …} | {external: …}). The API server
 * accepts no union with structure, so the CRD gets one object with every key optional and a
 * CEL rule that exactly one is set, with the message zod gives.
 */
function oneKeyUnion(node: Json, members: unknown[], ctx: Context, path: string): CrdSchema {
  const properties: Record<string, CrdSchema> = {};
  const optionalKeys = new Set<string>();
  const keyDefaults = new Map<string, unknown>();
  for (const raw of members) {
    const [member, memberCtx] =
      isJson(raw) && typeof raw.$ref === 'string' ? resolveRef(raw.$ref, ctx, path) : [raw, ctx];
    const memberProps = isJson(member) ? member.properties : undefined;
    const entries = isJson(memberProps) ? Object.entries(memberProps) : [];
    const only = entries.length === 1 ? entries[0] : undefined;
    if (!isJson(member) || member.type !== 'object' || only === undefined) {
      throw new UnsupportedSchemaError(path, 'a union other than of one-key objects');
    }
    const [key, value] = only;
    if (key in properties)
      throw new UnsupportedSchemaError(path, `a union with key "${key}" twice`);
    const converted = convert(value, memberCtx, `${path}.${key}`);
    // A default on a key would add it beside the key the user set; the union's default below
    // covers the one case it is for (nothing set).
    if (converted.default !== undefined) keyDefaults.set(key, converted.default);
    delete converted.default;
    properties[key] = converted;
    const required = Array.isArray(member.required) ? member.required : [];
    if (!required.includes(key)) optionalKeys.add(key);
  }
  const keys = Object.keys(properties);
  const exactlyOne: CelRule = {
    rule: `[${keys.map((key) => `has(self.${celName(key, path)})`).join(', ')}].filter(x, x).size() == 1`,
    message: `must set exactly one of: ${keys.join(', ')}`,
  };
  const result: CrdSchema = { type: 'object', properties };
  copyKept(node, result, path);
  result['x-kubernetes-validations'] = [exactlyOne, ...(result['x-kubernetes-validations'] ?? [])];
  if (result.default !== undefined) {
    result.default = unionDefault(result.default, keys, optionalKeys, keyDefaults, path);
  }
  return result;
}

/**
 * zod parses a union's default with the first member that accepts it: for `{}` the first
 * member whose key is optional, which then gets that key's own default. The API server needs
 * that outcome spelled out, or the "exactly one" rule would reject the defaulted object.
 */
function unionDefault(
  value: unknown,
  keys: string[],
  optionalKeys: ReadonlySet<string>,
  keyDefaults: ReadonlyMap<string, unknown>,
  path: string,
): unknown {
  if (!isJson(value)) throw new UnsupportedSchemaError(path, 'a union default that is no object');
  if (keys.filter((key) => key in value).length === 1) return value;
  const chosen = keys.find((key) => optionalKeys.has(key));
  if (Object.keys(value).length > 0 || chosen === undefined || !keyDefaults.has(chosen)) {
    throw new UnsupportedSchemaError(path, 'a union default that selects no single member');
  }
  return { [chosen]: keyDefaults.get(chosen) };
}

function copyKept(node: Json, out: CrdSchema, path: string): void {
  for (const key of kept) {
    const value = node[key];
    if (value === undefined) continue;
    if (key === 'format' && (typeof value !== 'string' || !kubeFormats.has(value))) continue;
    if (key === 'x-kubernetes-validations') {
      const rules = [...(out[key] ?? []), ...(value as CelRule[])];
      for (const rule of rules) {
        if (typeof rule.rule !== 'string' || typeof rule.message !== 'string' || !rule.message) {
          throw new UnsupportedSchemaError(path, 'a CEL rule without rule and message');
        }
      }
      out[key] = rules;
      continue;
    }
    (out as Record<string, unknown>)[key] = structuredClone(value);
  }
}

function convert(raw: unknown, ctx: Context, path: string): CrdSchema {
  if (!isJson(raw)) throw new UnsupportedSchemaError(path, `the schema ${JSON.stringify(raw)}`);
  let node = raw;
  let nodeCtx = ctx;
  const ref = node.$ref;
  if (typeof ref === 'string') {
    // Keywords beside a $ref (a description, say) apply in addition to the target.
    const beside = { ...node };
    delete beside.$ref;
    const [target, targetCtx] = resolveRef(ref, ctx, path);
    node = { ...target, ...beside };
    nodeCtx = targetCtx;
  }
  for (const key of Object.keys(node)) {
    const known =
      (kept as readonly string[]).includes(key) ||
      dropped.has(key) ||
      [
        'type',
        'properties',
        'required',
        'additionalProperties',
        'items',
        'anyOf',
        'oneOf',
        '$defs',
        'definitions',
      ].includes(key);
    if (!known) throw new UnsupportedSchemaError(path, `the keyword "${key}"`);
  }
  if (node.uniqueItems === true) throw new UnsupportedSchemaError(path, 'uniqueItems');

  const union = node.anyOf ?? node.oneOf;
  if (Array.isArray(union)) return oneKeyUnion(node, union, nodeCtx, path);

  const type = node.type as CrdSchema['type'];
  if (!types.has(type)) throw new UnsupportedSchemaError(path, `type ${JSON.stringify(type)}`);
  const out: CrdSchema = { type };
  copyKept(node, out, path);

  if (type === 'object') {
    const properties = isJson(node.properties) ? node.properties : undefined;
    if (properties !== undefined) {
      out.properties = Object.fromEntries(
        Object.entries(properties).map(([key, value]) => [
          key,
          convert(value, nodeCtx, `${path}.${key}`),
        ]),
      );
      const required = Array.isArray(node.required) ? (node.required as string[]) : [];
      if (required.length > 0) out.required = [...required];
    }
    const extra = node.additionalProperties;
    // false beside properties is what strict objects emit; the API server prunes (and with
    // strict field validation rejects) unknown fields anyway.
    if (isJson(extra) && Object.keys(extra).length > 0) {
      if (properties !== undefined && Object.keys(properties).length > 0) {
        throw new UnsupportedSchemaError(path, 'additionalProperties beside properties');
      }
      out.additionalProperties = convert(extra, nodeCtx, `${path}{}`);
    } else if (extra === true || (isJson(extra) && properties === undefined)) {
      throw new UnsupportedSchemaError(path, 'an object with arbitrary values');
    }
  }
  if (type === 'array') {
    if (!isJson(node.items)) throw new UnsupportedSchemaError(path, 'an array without items');
    out.items = convert(node.items, nodeCtx, `${path}[]`);
  }
  return out;
}

/** Rewrites a JSON schema from z.toJSONSchema into a structural schema (throws on what cannot be). */
export function toStructural(jsonSchema: object, path = ''): CrdSchema {
  const root = jsonSchema as Json;
  // '#' is the root itself: a $ref to it is always recursive.
  return convert(root, { root, resolving: ['#'] }, path);
}

// Readable, stable key order: what a node is, then its constraints, then its children.
const keyOrder: readonly (keyof CrdSchema)[] = [
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
  'x-kubernetes-int-or-string',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
  'items',
  'properties',
  'required',
  'additionalProperties',
  'x-kubernetes-validations',
];

function ordered(schema: CrdSchema): CrdSchema {
  const out: Record<string, unknown> = {};
  for (const key of keyOrder) {
    const value = schema[key];
    if (value === undefined) continue;
    if (key === 'items' || key === 'additionalProperties') out[key] = ordered(value as CrdSchema);
    else if (key === 'properties') {
      out[key] = Object.fromEntries(
        Object.entries(value as Record<string, CrdSchema>).map(([k, v]) => [k, ordered(v)]),
      );
    } else out[key] = value;
  }
  return out;
}

/** The openAPIV3Schema of a kind: its zod schema, made structural, with the root as the API server wants it. */
export function crdSchema(kind: GroveKind): CrdSchema {
  const json = z.toJSONSchema(groveKindSchemas[kind], {
    io: 'input',
    target: 'openapi-3.0',
    reused: 'inline',
    unrepresentable: 'throw',
  });
  const schema = toStructural(json, kind);
  const properties = schema.properties ?? {};
  const { apiVersion, kind: kindProp, metadata, ...rest } = properties;
  // The API server sets and checks apiVersion and kind itself and owns metadata: at the root,
  // a CRD may only restrict metadata.name (and generateName). Keeping zod's name rule means
  // the API server refuses the names the operator would (a DNS label, not a subdomain).
  const name = metadata?.properties?.name;
  schema.properties = {
    apiVersion: { description: apiVersion?.description, type: 'string' },
    kind: { description: kindProp?.description, type: 'string' },
    metadata: {
      type: 'object',
      ...(name && {
        properties: {
          name: {
            type: 'string',
            maxLength: name.maxLength,
            pattern: name.pattern,
          },
        },
      }),
    },
    ...rest,
  };
  schema.required = (schema.required ?? []).filter(
    (key) => !['apiVersion', 'kind', 'metadata'].includes(key),
  );
  if (schema.required.length === 0) delete schema.required;
  return ordered(JSON.parse(JSON.stringify(schema)) as CrdSchema);
}

/** The CustomResourceDefinition of a kind. Pure: the same schemas always give the same object. */
export function buildCrd(kind: GroveKind): CustomResourceDefinition {
  const names = kindNames[kind];
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${names.plural}.${API_GROUP}`,
      labels: { 'app.kubernetes.io/part-of': 'grove' },
    },
    spec: {
      group: API_GROUP,
      names: {
        kind,
        listKind: `${kind}List`,
        plural: names.plural,
        singular: names.singular,
        shortNames: [...names.shortNames],
        categories: ['grove'],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: API_VERSION,
          served: true,
          storage: true,
          subresources: {
            status: {},
            ...(names.scale && {
              scale: {
                specReplicasPath: '.spec.replicas',
                statusReplicasPath: '.status.replicas',
                labelSelectorPath: '.status.selector',
              },
            }),
          },
          additionalPrinterColumns: [readyColumn, ...names.columns, ageColumn],
          schema: { openAPIV3Schema: crdSchema(kind) },
        },
      ],
    },
  };
}

export const generatedDir = fileURLToPath(new URL('./generated/', import.meta.url));

export function crdFile(kind: GroveKind): string {
  return join(generatedDir, `${API_GROUP}_${kindNames[kind].plural}.yaml`);
}

const header = '# generated by npm run generate:crds — do not edit';

/** The file content for a kind: YAML, formatted as `prettier --check` expects it. */
export async function renderCrd(kind: GroveKind): Promise<string> {
  const file = crdFile(kind);
  // Plain JSON data, no anchors; lineWidth 0 leaves long descriptions on one line.
  const yaml = stringify(buildCrd(kind), { lineWidth: 0, aliasDuplicateObjects: false });
  const options = (await prettier.resolveConfig(file)) ?? {};
  return prettier.format(`${header}\n${yaml}`, { ...options, filepath: file });
}

/** The CRD files as the schemas generate them now. */
export async function generatedCrdFiles(): Promise<GeneratedFile[]> {
  return Promise.all(
    GROVE_KINDS.map(async (kind) => ({ file: crdFile(kind), content: await renderCrd(kind) })),
  );
}

/** Committed files that differ from what the schemas generate now. */
export async function staleFiles(): Promise<StaleFile[]> {
  return staleGeneratedFiles(await generatedCrdFiles(), generatedDir);
}

runGeneratorAsMain(import.meta.url, {
  files: generatedCrdFiles,
  ownedDir: generatedDir,
  advice: {
    missing: 'run `npm run generate:crds` and commit the result',
    'out of date':
      'it does not match the zod schemas in crds/; run `npm run generate:crds` and commit the result',
    'not generated': 'no kind generates it; delete it (or rename it after its kind)',
  },
  upToDate: 'crds/generated is up to date',
});
