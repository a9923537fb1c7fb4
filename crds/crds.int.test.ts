// The committed CRDs against a real kube-apiserver: it must accept them (structural schema,
// CEL compiles within the cost budget), apply the defaults zod applies, and reject what the
// CEL rules and patterns forbid with the messages written in crds/*.ts.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { parseAllDocuments } from 'yaml';
import { KubeApiServer } from '../test/support/kube-apiserver.js';
import { waitFor } from '../test/support/ports.js';
import { crdFile, kindNames } from './generate-crds.js';
import { API_GROUP, API_VERSION, GROVE_KINDS, groveKindSchemas, type GroveKind } from './index.js';

type Json = Record<string, unknown>;

interface Reply {
  status: number;
  body: Json;
}

const namespace = 'grove-crds';
const fieldManager = 'grove-crds-test';

let started: KubeApiServer | undefined;
/** The admin user's client certificate, from the harness's PKI. */
let tls: { ca: Buffer; cert: Buffer; key: Buffer } | undefined;

function kube(): KubeApiServer {
  if (started === undefined) throw new Error('KubeApiServer did not start');
  return started;
}

/** One request as the admin user; the body is JSON (or YAML for server-side apply). */
function api(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const { url } = kube();
  const payload =
    body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}${path}`,
      {
        method,
        ...tls,
        headers: {
          accept: 'application/json',
          ...(payload !== undefined && { 'content-type': 'application/json' }),
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: Json;
          try {
            parsed = text === '' ? {} : (JSON.parse(text) as Json);
          } catch {
            parsed = { text };
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

function resourcePath(kind: GroveKind, name?: string, subresource?: string): string {
  const base = `/apis/${API_GROUP}/${API_VERSION}/namespaces/${namespace}/${kindNames[kind].plural}`;
  return [base, name, subresource].filter((part) => part !== undefined).join('/');
}

function resource(kind: GroveKind, name: string, spec: Json, metadata: Json = {}): Json {
  return { apiVersion: `${API_GROUP}/${API_VERSION}`, kind, metadata: { name, ...metadata }, spec };
}

/** Creates with strict field validation, as `kubectl apply` does by default. */
function create(kind: GroveKind, object: Json): Promise<Reply> {
  return api('POST', `${resourcePath(kind)}?fieldValidation=Strict`, object);
}

function mergePatch(kind: GroveKind, name: string, patch: Json): Promise<Reply> {
  return api('PATCH', `${resourcePath(kind, name)}?fieldValidation=Strict`, patch, {
    'content-type': 'application/merge-patch+json',
  });
}

function specOf(reply: Reply): unknown {
  return reply.body.spec;
}

/** The Status message of a failed request, e.g. `RelayPool.grove.dev "x" is invalid: …`. */
function messageOf(reply: Reply): string {
  return typeof reply.body.message === 'string' ? reply.body.message : JSON.stringify(reply.body);
}

const minimalSpecs: Record<GroveKind, Json> = {
  RelayPool: {},
  Domain: { relayPools: ['home'] },
  Policy: {},
  BackupSchedule: {
    domain: 'example',
    schedule: '30 2 * * *',
    destination: { pvc: { claimName: 'grove-backups' } },
    encryption: { passwordSecretRef: { name: 'backup-password', key: 'password' } },
  },
};

beforeAll(async () => {
  started = await KubeApiServer.start();
  const { pki } = started;
  tls = {
    ca: await readFile(pki.caCert),
    cert: await readFile(pki.adminCert),
    key: await readFile(pki.adminKey),
  };
  for (const kind of GROVE_KINDS) {
    // The committed YAML as it is, so YAML parsing by the API server is covered too.
    const yaml = await readFile(crdFile(kind), 'utf8');
    const name = `${kindNames[kind].plural}.${API_GROUP}`;
    const applied = await api(
      'PATCH',
      `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}?fieldManager=${fieldManager}&force=true&fieldValidation=Strict`,
      yaml,
      { 'content-type': 'application/apply-patch+yaml' },
    );
    if (applied.status !== 200 && applied.status !== 201) {
      throw new Error(`applying ${name} failed (${applied.status}): ${messageOf(applied)}`);
    }
  }
  const created = await api('POST', '/api/v1/namespaces', { metadata: { name: namespace } });
  expect(created.status).toBe(201);
}, 180_000);

afterAll(async () => {
  await started?.stop();
});

describe('generated CRDs on a real API server', () => {
  it('are established with their names accepted and served', async () => {
    for (const kind of GROVE_KINDS) {
      const name = `${kindNames[kind].plural}.${API_GROUP}`;
      const conditions = await waitFor(
        async () => {
          const reply = await api(
            'GET',
            `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`,
          );
          const status = reply.body.status as { conditions?: { type: string; status: string }[] };
          const list = status.conditions ?? [];
          const established = list.some((c) => c.type === 'Established' && c.status === 'True');
          return established ? list : undefined;
        },
        `${name} to be Established`,
        30_000,
        200,
      );
      expect(conditions).toContainEqual(
        expect.objectContaining({ type: 'NamesAccepted', status: 'True' }),
      );
    }
    // Discovery lags behind Established for a moment; creating objects needs it.
    await waitFor(
      async () => {
        const reply = await api('GET', `/apis/${API_GROUP}/${API_VERSION}`);
        const resources = (reply.body.resources ?? []) as { name: string; shortNames?: string[] }[];
        return GROVE_KINDS.every((kind) =>
          resources.some((r) => r.name === kindNames[kind].plural),
        );
      },
      'discovery to list the grove.dev resources',
      30_000,
      200,
    );
    const discovery = await api('GET', `/apis/${API_GROUP}/${API_VERSION}`);
    const resources = discovery.body.resources as {
      name: string;
      shortNames?: string[];
      categories?: string[];
    }[];
    for (const kind of GROVE_KINDS) {
      const entry = resources.find((r) => r.name === kindNames[kind].plural);
      expect(entry?.shortNames).toEqual(kindNames[kind].shortNames);
      expect(entry?.categories).toEqual(['grove']);
    }
    expect(resources.map((r) => r.name)).toEqual(
      expect.arrayContaining(['relaypools/status', 'relaypools/scale', 'domains/status']),
    );
  }, 90_000);

  it('accepts the resources of config/local.yaml and applies the defaults zod applies', async () => {
    const text = await readFile(new URL('../config/local.yaml', import.meta.url), 'utf8');
    const documents = parseAllDocuments(text).map((doc) => doc.toJSON() as Json);
    const grove = documents.filter((doc) => GROVE_KINDS.includes(doc.kind as GroveKind));
    expect(grove.map((doc) => doc.kind).sort()).toEqual(['Domain', 'Policy', 'RelayPool']);
    for (const doc of grove) {
      const kind = doc.kind as GroveKind;
      const reply = await create(kind, doc);
      expect([reply.status, messageOf(reply)]).toEqual([201, expect.any(String)]);
      const parsed = groveKindSchemas[kind].parse(doc) as { spec: unknown };
      expect(specOf(reply)).toEqual(parsed.spec);
    }
  });

  it.each(GROVE_KINDS)('fills in every default of a minimal %s as zod does', async (kind) => {
    const object = resource(kind, `minimal-${kind.toLowerCase()}`, minimalSpecs[kind]);
    const reply = await create(kind, object);
    expect([reply.status, messageOf(reply)]).toEqual([201, expect.any(String)]);
    const parsed = groveKindSchemas[kind].parse(object) as { spec: unknown };
    expect(specOf(reply)).toEqual(parsed.spec);
  });

  const autoscaling = { minReplicas: 2, maxReplicas: 4 };
  const cpu = { requests: { cpu: '500m' } };
  const selector = (expression: Json): Json => ({ matchExpressions: [expression] });
  // [what, kind, spec, field path the error names, text of the error after it]. The text is
  // the CEL message for CEL rules, and the API server's own wording for schema keywords.
  const invalid: [string, GroveKind, Json, string, string][] = [
    [
      'both Redis kinds',
      'RelayPool',
      { redis: { builtin: {}, external: { url: 'redis://r:6379' } } },
      'spec.redis',
      'must set exactly one of: builtin, external, relayPool',
    ],
    [
      'no Redis kind',
      'RelayPool',
      { redis: {} },
      'spec.redis',
      'must set exactly one of: builtin, external, relayPool',
    ],
    [
      'an autoscaler minimum above its maximum',
      'RelayPool',
      { autoscaling: { minReplicas: 5, maxReplicas: 2 }, resources: cpu },
      'spec.autoscaling.minReplicas',
      'minReplicas must be <= maxReplicas',
    ],
    [
      'autoscaling without a CPU request',
      'RelayPool',
      { autoscaling },
      'spec.resources.requests.cpu',
      'resources.requests.cpu is required with autoscaling, which scales on CPU use relative to requests',
    ],
    [
      'a duplicate public URL',
      'RelayPool',
      { publicUrls: ['wss://a.example', 'wss://a.example'] },
      'spec.publicUrls[1]',
      'Duplicate value: "wss://a.example"',
    ],
    [
      'an ftp public URL',
      'RelayPool',
      { publicUrls: ['ftp://a.example'] },
      'spec.publicUrls[0]',
      'should match',
    ],
    [
      'negative replicas',
      'RelayPool',
      { replicas: -1 },
      'spec.replicas',
      'should be greater than or equal to 0',
    ],
    [
      'a headers timeout longer than the default request timeout',
      'RelayPool',
      { connection: { headersTimeoutMs: 40_000 } },
      'spec.connection.headersTimeoutMs',
      'headersTimeoutMs must be <= requestTimeoutMs (the relay defaults are 10000 and 30000)',
    ],
    [
      'an http Redis URL',
      'RelayPool',
      { redis: { external: { url: 'http://r' } } },
      'spec.redis.external.url',
      'should match',
    ],
    [
      'a storage size that is no quantity',
      'RelayPool',
      { redis: { builtin: { storage: 'lots' } } },
      'spec.redis.builtin.storage',
      'should match',
    ],
    [
      'a grace period shorter than the token lifetime',
      'Domain',
      {
        relayPools: ['p'],
        tokenTTLSeconds: 7200,
        signingKey: { rotationGracePeriodSeconds: 3600 },
      },
      'spec.signingKey.rotationGracePeriodSeconds',
      'signingKey.rotationGracePeriodSeconds must be >= tokenTTLSeconds, or tokens signed just ' +
        'before a key rotation would stop verifying while still valid',
    ],
    [
      'a duplicate relay pool',
      'Domain',
      { relayPools: ['a', 'b', 'a'] },
      'spec.relayPools[2]',
      'Duplicate value: "a"',
    ],
    ['no relay pool', 'Domain', { relayPools: [] }, 'spec.relayPools', 'at least 1 items'],
    [
      'a token lifetime under a minute',
      'Domain',
      { relayPools: ['p'], tokenTTLSeconds: 30 },
      'spec.tokenTTLSeconds',
      'should be greater than or equal to 60',
    ],
    [
      'In without values',
      'Domain',
      { relayPools: ['p'], policySelector: selector({ key: 'tier', operator: 'In' }) },
      'spec.policySelector.matchExpressions[0].values',
      'values must be non-empty when operator is In or NotIn',
    ],
    [
      'Exists with values',
      'Policy',
      { domainSelector: selector({ key: 'tier', operator: 'Exists', values: ['gold'] }) },
      'spec.domainSelector.matchExpressions[0].values',
      'values must be empty when operator is Exists or DoesNotExist',
    ],
    [
      'an unknown selector operator',
      'Policy',
      { domainSelector: selector({ key: 'tier', operator: 'Equals' }) },
      'spec.domainSelector.matchExpressions[0].operator',
      'Unsupported value: "Equals"',
    ],
    [
      'a message size above the byte quota',
      'Policy',
      { relay: { maxMessageBytes: 2000, maxQueuedBytes: 1000 } },
      'spec.relay.maxMessageBytes',
      'maxMessageBytes must be <= maxQueuedBytes, or no message of that size could ever be queued',
    ],
    [
      'a zero send rate',
      'Policy',
      { relay: { sendRatePerSecond: 0 } },
      'spec.relay.sendRatePerSecond',
      'should be greater than 0',
    ],
    [
      'a fractional priority',
      'Policy',
      { priority: 1.5 },
      'spec.priority',
      'must be of type integer',
    ],
    [
      'a three-field cron schedule',
      'BackupSchedule',
      { ...minimalSpecs.BackupSchedule, schedule: '* * *' },
      'spec.schedule',
      'should match',
    ],
    [
      'an archive path that escapes the volume',
      'BackupSchedule',
      { ...minimalSpecs.BackupSchedule, destination: { pvc: { claimName: 'b', path: '../etc' } } },
      'spec.destination.pvc.path',
      'should match',
    ],
    [
      'a workspace listed twice',
      'BackupSchedule',
      { ...minimalSpecs.BackupSchedule, workspaces: { include: ['a', 'a'] } },
      'spec.workspaces.include[1]',
      'Duplicate value: "a"',
    ],
    [
      'a missing destination',
      'BackupSchedule',
      { ...minimalSpecs.BackupSchedule, destination: {} },
      'spec.destination',
      'must set exactly one of: pvc, s3',
    ],
  ];

  it.each(invalid)('rejects %s', async (_what, kind, spec, path, expected) => {
    const reply = await create(kind, resource(kind, 'invalid', spec));
    expect(reply.status).toBe(422);
    expect(messageOf(reply)).toContain(`${path}: `);
    expect(messageOf(reply)).toContain(expected);
  });

  it('rejects a misspelt field under strict field validation, as zod does', async () => {
    const reply = await create('RelayPool', resource('RelayPool', 'misspelt', { replica: 3 }));
    expect(reply.status).toBe(400);
    expect(messageOf(reply)).toContain('unknown field "spec.replica"');
  });

  it('rejects a name that is no DNS label, as zod does', async () => {
    const reply = await create('RelayPool', resource('RelayPool', 'a.b', {}));
    expect(reply.status).toBe(422);
    expect(messageOf(reply)).toContain('metadata.name: ');
    expect(messageOf(reply)).toContain('should match');
  });

  const transitions: [string, GroveKind, Json, Json, string, string][] = [
    [
      'switching a RelayPool from builtin to external Redis',
      'RelayPool',
      {},
      { spec: { redis: { builtin: null, external: { url: 'redis://r:6379' } } } },
      'spec.redis',
      'cannot switch between builtin, external and relayPool Redis after creation: the queued messages ' +
        'live in the current Redis; create a new RelayPool instead',
    ],
    [
      'switching a RelayPool from external to builtin Redis',
      'RelayPool',
      { redis: { external: { url: 'redis://r:6379' } } },
      { spec: { redis: { builtin: {}, external: null } } },
      'spec.redis',
      'cannot switch between builtin, external and relayPool Redis after creation',
    ],
    [
      'switching a RelayPool from builtin Redis to borrowing another pool’s',
      'RelayPool',
      {},
      { spec: { redis: { builtin: null, relayPool: { name: 'home' } } } },
      'spec.redis',
      'cannot switch between builtin, external and relayPool Redis after creation',
    ],
    [
      'switching a RelayPool from another pool’s Redis to an external one',
      'RelayPool',
      { redis: { relayPool: { name: 'home' } } },
      { spec: { redis: { relayPool: null, external: { url: 'redis://r:6379' } } } },
      'spec.redis',
      'cannot switch between builtin, external and relayPool Redis after creation',
    ],
    [
      'changing the storage class of the builtin Redis',
      'RelayPool',
      { redis: { builtin: { storageClassName: 'fast' } } },
      { spec: { redis: { builtin: { storageClassName: 'slow' } } } },
      'spec.redis.builtin.storageClassName',
      'storageClassName cannot be changed after creation: the Redis volume already exists',
    ],
    [
      'resizing the builtin Redis volume through the RelayPool',
      'RelayPool',
      { redis: { builtin: { storage: '1Gi' } } },
      { spec: { redis: { builtin: { storage: '2Gi' } } } },
      'spec.redis.builtin.storage',
      'storage cannot be changed after creation: expand the PersistentVolumeClaim',
    ],
    [
      'setting a storage class on an existing builtin Redis',
      'RelayPool',
      {},
      { spec: { redis: { builtin: { storageClassName: 'slow' } } } },
      'spec.redis.builtin.storageClassName',
      'storageClassName cannot be changed after creation',
    ],
    [
      'changing the domain of a BackupSchedule',
      'BackupSchedule',
      minimalSpecs.BackupSchedule,
      { spec: { domain: 'other' } },
      'spec.domain',
      'domain is immutable: create a new BackupSchedule to archive another domain',
    ],
  ];

  let created = 0;
  it.each(transitions)('rejects %s', async (_what, kind, spec, patch, path, expected) => {
    created += 1;
    const name = `immutable-${created}`;
    const original = await create(kind, resource(kind, name, spec));
    expect([original.status, messageOf(original)]).toEqual([201, expect.any(String)]);
    const reply = await mergePatch(kind, name, patch);
    expect(reply.status).toBe(422);
    expect(messageOf(reply)).toContain(`${path}: `);
    expect(messageOf(reply)).toContain(expected);
  });

  it('allows changes that keep the Redis mode and the domain', async () => {
    const pool = await create('RelayPool', resource('RelayPool', 'mutable', {}));
    expect(pool.status).toBe(201);
    const patched = await mergePatch('RelayPool', 'mutable', {
      spec: { replicas: 3, redis: { builtin: { appendfsync: 'everysec' } } },
    });
    expect([patched.status, messageOf(patched)]).toEqual([200, expect.any(String)]);
    const schedule = await create(
      'BackupSchedule',
      resource('BackupSchedule', 'mutable', minimalSpecs.BackupSchedule),
    );
    expect(schedule.status).toBe(201);
    const resumed = await mergePatch('BackupSchedule', 'mutable', {
      spec: { schedule: '@daily', suspend: true },
    });
    expect([resumed.status, messageOf(resumed)]).toEqual([200, expect.any(String)]);
  });

  it('serves status and scale subresources and prints the columns', async () => {
    const created = await create(
      'RelayPool',
      resource('RelayPool', 'columns', { replicas: 3, redis: { external: { url: 'redis://r' } } }),
    );
    expect(created.status).toBe(201);
    const current = await api('GET', resourcePath('RelayPool', 'columns'));
    const status = {
      observedGeneration: 1,
      replicas: 3,
      readyReplicas: 2,
      selector: 'app.kubernetes.io/instance=columns',
      endpoints: ['wss://columns.example'],
      store: 'external:redis://r:6379/0',
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          observedGeneration: 1,
          lastTransitionTime: '2026-01-02T03:04:05Z',
          reason: 'PodsReady',
          message: '',
        },
      ],
    };
    const written = await api('PUT', resourcePath('RelayPool', 'columns', 'status'), {
      ...current.body,
      status,
    });
    expect([written.status, messageOf(written)]).toEqual([200, expect.any(String)]);
    expect(written.body.status).toEqual(status);

    const scale = await api('GET', resourcePath('RelayPool', 'columns', 'scale'));
    expect(scale.body).toMatchObject({
      kind: 'Scale',
      spec: { replicas: 3 },
      status: { replicas: 3, selector: 'app.kubernetes.io/instance=columns' },
    });
    const scaled = await api(
      'PATCH',
      resourcePath('RelayPool', 'columns', 'scale'),
      { spec: { replicas: 5 } },
      { 'content-type': 'application/merge-patch+json' },
    );
    expect(scaled.status).toBe(200);
    const after = await api('GET', resourcePath('RelayPool', 'columns'));
    expect((after.body.spec as Json).replicas).toBe(5);

    const table = await api('GET', resourcePath('RelayPool', 'columns'), undefined, {
      accept: 'application/json;as=Table;v=v1;g=meta.k8s.io',
    });
    const columns = (table.body.columnDefinitions as { name: string; priority: number }[]).map(
      (c) => [c.name, c.priority],
    );
    expect(columns).toEqual([
      ['Name', 0],
      ['Ready', 0],
      ['Replicas', 0],
      ['Ready Replicas', 0],
      ['External Redis', 1],
      ['Builtin Redis', 1],
      ['Store', 1],
      ['Max Replicas', 1],
      ['Endpoint', 1],
      ['Age', 0],
    ]);
    const [row] = table.body.rows as { cells: unknown[] }[];
    expect(row?.cells.slice(0, 9)).toEqual([
      'columns',
      'True',
      5,
      2,
      'redis://r',
      null,
      'external:redis://r:6379/0',
      null,
      'wss://columns.example',
    ]);
  });

  it('prints the columns of the other kinds', async () => {
    const cases: [GroveKind, Json, unknown[]][] = [
      ['Domain', { relayPools: ['home', 'away'] }, ['columns', null, 'home', null, 3600]],
      ['Policy', { priority: -3 }, ['columns', null, -3]],
      [
        'BackupSchedule',
        { ...minimalSpecs.BackupSchedule, timeZone: 'Europe/Paris' },
        // Ready, Suspend, Last Schedule, Next Schedule, Last Success: no status yet.
        ['columns', null, false, null, null, null, 'example', '30 2 * * *', 'Europe/Paris'],
      ],
    ];
    for (const [kind, spec, cells] of cases) {
      const reply = await create(kind, resource(kind, 'columns', spec));
      expect([reply.status, messageOf(reply)]).toEqual([201, expect.any(String)]);
      const table = await api('GET', resourcePath(kind, 'columns'), undefined, {
        accept: 'application/json;as=Table;v=v1;g=meta.k8s.io',
      });
      const [row] = table.body.rows as { cells: unknown[] }[];
      expect(row?.cells.slice(0, cells.length)).toEqual(cells);
    }
  });
});
