import { describe, expect, it } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { crdFile } from '../crds/generate-crds.js';
import { GROVE_KINDS } from '../crds/index.js';
import {
  chartCrdFile,
  chartDir,
  documentedKeys,
  staleChartFiles,
  tableEnd,
  tableStart,
  valuesJsonSchema,
  valuesTable,
  withValuesTable,
} from './generate-chart.js';
import { APP_VERSION, CHART_VERSION, defaultValues, valuesSchema } from './values-schema.js';

type Json = Record<string, unknown>;

function isJson(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Dotted paths of the object nodes (with properties) of a JSON schema, with the node. */
function objectNodes(node: Json, path = ''): [string, Json][] {
  const properties = isJson(node.properties) ? node.properties : undefined;
  if (properties === undefined) return [];
  return [
    [path, node],
    ...Object.entries(properties).flatMap(([key, child]) =>
      isJson(child) ? objectNodes(child, path === '' ? key : `${path}.${key}`) : [],
    ),
  ];
}

describe('committed chart files', () => {
  it('values.yaml holds exactly the defaults of charts/values-schema.ts, and parses under it', async () => {
    const values = parse(await readFile(join(chartDir, 'values.yaml'), 'utf8')) as unknown;
    expect(valuesSchema.parse(values)).toEqual(values);
    expect(values).toEqual(defaultValues());
  });

  it('Chart.yaml names the versions values-schema.ts documents', async () => {
    const chart = parse(await readFile(join(chartDir, 'Chart.yaml'), 'utf8')) as unknown;
    expect(chart).toMatchObject({
      apiVersion: 'v2',
      name: 'grove',
      version: CHART_VERSION,
      appVersion: APP_VERSION,
    });
  });

  it('are up to date, the CRDs byte for byte those of crds/generated (npm run check:generated)', async () => {
    expect(await staleChartFiles()).toEqual([]);
    for (const kind of GROVE_KINDS) {
      expect(await readFile(chartCrdFile(kind), 'utf8')).toBe(
        await readFile(crdFile(kind), 'utf8'),
      );
    }
  });
});

describe('values.schema.json', () => {
  const schema = valuesJsonSchema();

  it('is JSON Schema draft-07, which every Helm 3 validates', () => {
    expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#');
  });

  it('rejects unknown keys everywhere but in the security contexts, which take any field', () => {
    const open = objectNodes(schema)
      .filter(([, node]) => node.additionalProperties !== false)
      .map(([path]) => path);
    expect(open).toEqual([
      'podSecurityContext',
      'podSecurityContext.seccompProfile',
      'securityContext',
      'securityContext.capabilities',
    ]);
  });

  it('describes every key a user sets (all but the fields of the security contexts)', () => {
    const documented = new Set(documentedKeys(schema).map(({ path }) => path.join('.')));
    const undocumented = objectNodes(schema)
      .flatMap(([path, node]) =>
        Object.keys(node.properties as Json).map((key) => (path === '' ? key : `${path}.${key}`)),
      )
      .filter((path) => !documented.has(path))
      .filter((path) => !/^(podSecurityContext|securityContext)\./.test(path))
      // Toleration and affinity fields are Kubernetes' own, documented there.
      .filter((path) => !/\.(tolerations|affinity)\./.test(path));
    expect(undocumented).toEqual([]);
  });

  it('carries the real defaults, not the {} zod writes for objects filled by their fields', () => {
    const operator = (schema.properties as Json).operator as Json;
    expect(operator.default).toEqual(defaultValues().operator);
    expect(JSON.stringify(schema)).not.toContain(String(Number.MAX_SAFE_INTEGER));
  });
});

describe('values schema', () => {
  it('refuses several operators without leader election', () => {
    const parsed = valuesSchema.safeParse({ operator: { leaderElection: false, replicas: 2 } });
    expect(parsed.error?.issues.map((issue) => issue.path.join('.'))).toEqual([
      'operator.replicas',
    ]);
    expect(
      valuesSchema.safeParse({ operator: { leaderElection: false, replicas: 1 } }).success,
    ).toBe(true);
  });

  it('accepts an existing Secret name or none for the bootstrap token, nothing else', () => {
    const secret = (name: string) =>
      valuesSchema.safeParse({ manager: { bootstrapTokenSecret: { name } } }).success;
    expect(secret('')).toBe(true);
    expect(secret('grove-admin.token')).toBe(true);
    expect(secret('Grove Admin')).toBe(false);
  });
});

describe('docs/helm.md values table', () => {
  it('has a row per leaf key, with its type and default', () => {
    const table = valuesTable();
    expect(table).toContain('| `operator.replicas` | integer | `2` |');
    expect(table).toContain(
      '| `image.pullPolicy` | "Always" \\| "IfNotPresent" \\| "Never" | `"IfNotPresent"` |',
    );
    // An object whose keys are documented gets their rows instead of its own.
    expect(table).not.toContain('| `operator` |');
    expect(table).toContain('| `operator.resources.limits` | map | `{"memory":"256Mi"}` |');
  });

  it('escapes what Markdown would take for HTML', () => {
    expect(valuesTable()).toContain('&lt;release&gt;-manager-bootstrap');
  });

  it('replaces only what is between the markers, and refuses a document without them', () => {
    const doc = `# Title\n\n${tableStart}\nold table\n${tableEnd}\n\nAfter.\n`;
    expect(withValuesTable(doc, 'NEW')).toBe(
      `# Title\n\n${tableStart}\n\nNEW\n\n${tableEnd}\n\nAfter.\n`,
    );
    expect(() => withValuesTable('# Title\n', 'NEW')).toThrow(/must hold the markers/);
  });
});
