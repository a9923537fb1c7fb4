import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { z } from 'zod';
import { formatIssues } from '../crds/issues.js';
import { domainSchema, validateDomain, type Domain } from '../crds/domain.js';
import { policySchema, validatePolicy, type Policy } from '../crds/policy.js';
import { relayPoolSchema, validateRelayPool, type RelayPool } from '../crds/relaypool.js';
import { ConfigError } from './config-error.js';
import { localStackSchema, type LocalStack, type ResolvedLocalStack } from './config-schema.js';

export interface LocalConfig {
  /** Absolute path of the config file. */
  file: string;
  /** Absolute folder of the config file; relative paths in it are resolved against this. */
  dir: string;
  stack: ResolvedLocalStack;
  domains: Domain[];
  policies: Policy[];
  relayPools: RelayPool[];
}

const SUPPORTED_KINDS = ['Domain', 'Policy', 'RelayPool', 'LocalStack'] as const;
type SupportedKind = (typeof SUPPORTED_KINDS)[number];

type Parsed =
  | { kind: 'Domain'; value: Domain }
  | { kind: 'Policy'; value: Policy }
  | { kind: 'RelayPool'; value: RelayPool }
  | { kind: 'LocalStack'; value: LocalStack };

/** A document of a supported kind, valid or not: what references and counts are checked against. */
interface Declared {
  kind: SupportedKind;
  name: string | undefined;
  index: number;
  label: string;
}

/** A document that passed its schema, with what is needed to point at it in messages. */
interface Entry {
  index: number;
  label: string;
  parsed: Parsed;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isSupportedKind(kind: string): kind is SupportedKind {
  return (SUPPORTED_KINDS as readonly string[]).includes(kind);
}

function nameOf(doc: Record<string, unknown>): string | undefined {
  const meta = doc.metadata;
  return isRecord(meta) && typeof meta.name === 'string' ? meta.name : undefined;
}

function describeDocument(index: number, doc: unknown): string {
  const kind = isRecord(doc) && typeof doc.kind === 'string' ? doc.kind : undefined;
  const name = isRecord(doc) ? nameOf(doc) : undefined;
  if (kind === undefined) return `document ${index}`;
  return name === undefined
    ? `document ${index} (${kind})`
    : `document ${index} (${kind} ${JSON.stringify(name)})`;
}

function parseDocument(
  doc: Record<string, unknown>,
  kind: SupportedKind,
): { parsed?: Parsed; issues: string[] } {
  const check = <T>(
    schema: z.ZodType<T>,
    validate: ((value: T) => string[]) | undefined,
    wrap: (value: T) => Parsed,
  ): { parsed?: Parsed; issues: string[] } => {
    const result = schema.safeParse(doc);
    if (!result.success) return { issues: formatIssues(result.error.issues) };
    return { parsed: wrap(result.data), issues: validate?.(result.data) ?? [] };
  };
  switch (kind) {
    case 'Domain':
      return check(domainSchema, validateDomain, (value) => ({ kind, value }));
    case 'Policy':
      return check(policySchema, validatePolicy, (value) => ({ kind, value }));
    case 'RelayPool':
      return check(relayPoolSchema, validateRelayPool, (value) => ({ kind, value }));
    case 'LocalStack':
      return check(localStackSchema, undefined, (value) => ({ kind, value }));
  }
}

function firstLine(message: string): string {
  const line = message.split('\n', 1)[0] ?? message;
  return line.replace(/ at line \d+, column \d+:?$/, '');
}

function duplicates<T>(
  items: readonly T[],
  key: (item: T) => string,
  report: (item: T, index: number, firstIndex: number) => void,
): void {
  const seen = new Map<string, number>();
  items.forEach((item, i) => {
    const k = key(item);
    const first = seen.get(k);
    if (first === undefined) seen.set(k, i);
    else report(item, i, first);
  });
}

/**
 * Rules that span documents: one LocalStack, unique names, references, and the seed's
 * internal consistency. Names and counts come from every document of a supported kind, so
 * a document that failed its schema is not reported a second time as missing.
 */
function crossCheck(declared: readonly Declared[], entries: readonly Entry[]): string[] {
  const issues: string[] = [];
  const stacks = declared.filter((d) => d.kind === 'LocalStack');
  const [firstStack] = stacks;
  if (!firstStack) issues.push('no LocalStack document; add one with "kind: LocalStack"');
  for (const extra of stacks.slice(1)) {
    issues.push(
      `${extra.label}: only one LocalStack document is allowed (the first is document ${firstStack?.index ?? '?'})`,
    );
  }

  for (const kind of ['Domain', 'Policy', 'RelayPool'] as const) {
    const ofKind = declared.filter((d) => d.kind === kind && d.name !== undefined);
    duplicates(
      ofKind,
      (d) => d.name ?? '',
      (d, _i, first) => {
        issues.push(
          `${d.label}: metadata.name: duplicate ${kind} name (also document ${ofKind[first]?.index ?? '?'})`,
        );
      },
    );
  }

  const names = (kind: SupportedKind): Set<string | undefined> =>
    new Set(declared.filter((d) => d.kind === kind).map((d) => d.name));
  const poolNames = names('RelayPool');
  const domainNames = names('Domain');

  for (const e of entries) {
    if (e.parsed.kind !== 'Domain') continue;
    e.parsed.value.spec.relayPools.forEach((pool, i) => {
      if (!poolNames.has(pool)) {
        issues.push(
          `${e.label}: spec.relayPools[${i}]: RelayPool ${JSON.stringify(pool)} is not defined in this file`,
        );
      }
    });
  }

  const stackEntry = entries.find((e) => e.index === firstStack?.index);

  if (stackEntry?.parsed.kind !== 'LocalStack') return issues;
  const { label } = stackEntry;
  const spec = stackEntry.parsed.value.spec;

  if (!poolNames.has(spec.relayPool)) {
    issues.push(
      `${label}: spec.relayPool: RelayPool ${JSON.stringify(spec.relayPool)} is not defined in this file`,
    );
  }

  const relayNames = spec.relays.map((r, i) => r.name ?? `relay-${i}`);
  duplicates(
    relayNames,
    (n) => n,
    (n, i, first) => {
      issues.push(
        `${label}: spec.relays[${i}].name: duplicate relay name ${JSON.stringify(n)} (also spec.relays[${first}])`,
      );
    },
  );
  // Every port the stack listens on is taken once: Redis, then each relay, then their metrics.
  const usedBy = new Map<number, string>([[spec.redis.port, 'spec.redis']]);
  const claim = (port: number, at: string, what: string) => {
    const owner = usedBy.get(port);
    if (owner === undefined) usedBy.set(port, at);
    else issues.push(`${label}: ${what}: port ${port} is already used by ${owner}`);
  };
  spec.relays.forEach((r, i) => {
    claim(r.port, `spec.relays[${i}]`, `spec.relays[${i}].port`);
  });
  spec.relays.forEach((r, i) => {
    const port = r.metricsPort ?? r.port + 1000;
    const what = `spec.relays[${i}].metricsPort${r.metricsPort === undefined ? ' (default: port + 1000)' : ''}`;
    if (port > 65535) issues.push(`${label}: ${what}: port ${port} is over 65535: set metricsPort`);
    else claim(port, `spec.relays[${i}].metricsPort`, what);
  });
  claim(spec.manager.port, 'spec.manager', 'spec.manager.port');
  {
    const m = spec.manager;
    const port = m.metricsPort ?? m.port + 1000;
    const what = `spec.manager.metricsPort${m.metricsPort === undefined ? ' (default: port + 1000)' : ''}`;
    if (port > 65535) issues.push(`${label}: ${what}: port ${port} is over 65535: set metricsPort`);
    else claim(port, 'spec.manager.metricsPort', what);
  }

  duplicates(
    spec.seed,
    (s) => s.domain,
    (s, i, first) => {
      issues.push(
        `${label}: spec.seed[${i}].domain: domain ${JSON.stringify(s.domain)} is already seeded by spec.seed[${first}]`,
      );
    },
  );
  spec.seed.forEach((seed, s) => {
    const at = `${label}: spec.seed[${s}]`;
    if (!domainNames.has(seed.domain)) {
      issues.push(
        `${at}.domain: Domain ${JSON.stringify(seed.domain)} is not defined in this file`,
      );
    }
    duplicates(
      seed.members,
      (m) => m.identity,
      (m, i, first) => {
        issues.push(
          `${at}.members[${i}].identity: duplicate identity ${JSON.stringify(m.identity)} (also members[${first}])`,
        );
      },
    );
    // Device ids are unique per domain, not per identity: relays key queues by domain and device.
    const deviceOwner = new Map<string, string>();
    seed.members.forEach((m, i) => {
      m.devices.forEach((device, d) => {
        const owner = deviceOwner.get(device);
        if (owner === undefined) deviceOwner.set(device, m.identity);
        else {
          issues.push(
            `${at}.members[${i}].devices[${d}]: device ${JSON.stringify(device)} is already used by identity ${JSON.stringify(owner)}`,
          );
        }
      });
    });
    const identities = new Set(seed.members.map((m) => m.identity));
    duplicates(
      seed.workspaces,
      (w) => w.id,
      (w, i, first) => {
        issues.push(
          `${at}.workspaces[${i}].id: duplicate workspace ${JSON.stringify(w.id)} (also workspaces[${first}])`,
        );
      },
    );
    seed.workspaces.forEach((w, i) => {
      duplicates(
        w.members,
        (m) => m,
        (m, j) => {
          issues.push(`${at}.workspaces[${i}].members[${j}]: ${JSON.stringify(m)} is listed twice`);
        },
      );
      w.members.forEach((m, j) => {
        if (!identities.has(m)) {
          issues.push(
            `${at}.workspaces[${i}].members[${j}]: ${JSON.stringify(m)} is not a member of domain ${JSON.stringify(seed.domain)}; add it to spec.seed[${s}].members`,
          );
        }
      });
    });
  });
  return issues;
}

/**
 * Parses the text of a local config file. `file` names the file in messages and anchors
 * relative paths. Throws ConfigError listing every problem found.
 */
export function parseLocalConfig(text: string, file: string): LocalConfig {
  const fail = (issues: string[]): never => {
    throw new ConfigError(issues.map((issue) => `${file}: ${issue}`));
  };

  const docs = parseAllDocuments(text);
  const docList = Array.isArray(docs) ? docs : [];
  const syntax = docList.flatMap((doc) =>
    doc.errors.map((err) => {
      const pos = err.linePos?.[0];
      const where = pos ? `${file}:${pos.line}:${pos.col}` : file;
      return `${where}: YAML syntax error: ${firstLine(err.message)}`;
    }),
  );
  if (syntax.length > 0) throw new ConfigError(syntax);

  const issues: string[] = [];
  const declared: Declared[] = [];
  const entries: Entry[] = [];
  for (const [i, doc] of docList.entries()) {
    const index = i + 1;
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    const label = describeDocument(index, value);
    if (!isRecord(value)) {
      issues.push(`${label}: must be a mapping with apiVersion, kind, metadata and spec`);
      continue;
    }
    const kind = value.kind;
    const expected = `expected one of ${SUPPORTED_KINDS.join(', ')}`;
    if (typeof kind !== 'string') {
      issues.push(`${label}: kind: required; ${expected}`);
      continue;
    }
    if (!isSupportedKind(kind)) {
      const why = kind === 'BackupSchedule' ? 'is not used by the local stack' : 'is unknown';
      issues.push(`${label}: kind: ${JSON.stringify(kind)} ${why}; ${expected}`);
      continue;
    }
    declared.push({ kind, name: nameOf(value), index, label });
    const result = parseDocument(value, kind);
    issues.push(...result.issues.map((issue) => `${label}: ${issue}`));
    if (result.parsed) entries.push({ index, label, parsed: result.parsed });
  }
  issues.push(...crossCheck(declared, entries));
  if (issues.length > 0) fail(issues);

  const domains: Domain[] = [];
  const policies: Policy[] = [];
  const relayPools: RelayPool[] = [];
  let stack: LocalStack | undefined;
  for (const { parsed } of entries) {
    if (parsed.kind === 'Domain') domains.push(parsed.value);
    else if (parsed.kind === 'Policy') policies.push(parsed.value);
    else if (parsed.kind === 'RelayPool') relayPools.push(parsed.value);
    else stack ??= parsed.value;
  }
  if (!stack) return fail(['no LocalStack document; add one with "kind: LocalStack"']);

  const absFile = path.resolve(file);
  const dir = path.dirname(absFile);
  return {
    file: absFile,
    dir,
    stack: {
      ...stack,
      spec: {
        ...stack.spec,
        dataDir: path.resolve(dir, stack.spec.dataDir),
        relays: stack.spec.relays.map((r, i) => ({
          name: r.name ?? `relay-${i}`,
          port: r.port,
          metricsPort: r.metricsPort ?? r.port + 1000,
        })),
        manager: {
          port: stack.spec.manager.port,
          metricsPort: stack.spec.manager.metricsPort ?? stack.spec.manager.port + 1000,
        },
      },
    },
    domains,
    policies,
    relayPools,
  };
}

/** Reads and parses the local stack's config file; see parseLocalConfig. */
export async function loadLocalConfig(file: string): Promise<LocalConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new ConfigError([`${file}: cannot read the config file: ${reason}`], { cause: err });
  }
  return parseLocalConfig(text, file);
}
