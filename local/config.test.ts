import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it, expect } from '@jest/globals';
import { stringify } from 'yaml';
import { ConfigError } from './config-error.js';
import { loadLocalConfig, parseLocalConfig } from './config.js';
import { localStackSchema } from './config-schema.js';

const FILE = 'config/local.yaml';
const sampleFile = fileURLToPath(new URL('../config/local.yaml', import.meta.url));

const apiVersion = 'grove.dev/v1alpha1';
const domain = (name = 'example', spec: object = {}): object => ({
  apiVersion,
  kind: 'Domain',
  metadata: { name },
  spec: { relayPools: ['local'], ...spec },
});
const pool = (name = 'local', spec: object = {}): object => ({
  apiVersion,
  kind: 'RelayPool',
  metadata: { name },
  spec,
});
const policy = (name: string, spec: object): object => ({
  apiVersion,
  kind: 'Policy',
  metadata: { name },
  spec,
});
const stack = (spec: object = {}): object => ({
  apiVersion,
  kind: 'LocalStack',
  metadata: { name: 'local' },
  spec: { relayPool: 'local', ...spec },
});
const seed = (extra: object = {}): object => ({
  domain: 'example',
  members: [
    { identity: 'alice', devices: ['alice-laptop', 'alice-phone'] },
    { identity: 'bob', devices: ['bob-laptop'] },
  ],
  workspaces: [{ id: 'design', members: ['alice', 'bob'] }],
  ...extra,
});

const yaml = (...docs: object[]): string => docs.map((d) => stringify(d)).join('---\n');

function issuesOf(text: string): string[] {
  try {
    parseLocalConfig(text, FILE);
  } catch (err) {
    if (err instanceof ConfigError) return [...err.issues];
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('the default config file', () => {
  it('loads with defaults applied and paths resolved', async () => {
    const config = await loadLocalConfig(sampleFile);
    expect(config.file).toBe(sampleFile);
    expect(config.dir).toBe(path.dirname(sampleFile));
    expect(config.stack.spec.dataDir).toBe(
      path.resolve(path.dirname(sampleFile), '../.grove/data'),
    );
    expect(config.stack.spec.relays).toEqual([
      { name: 'relay-0', port: 8443, metricsPort: 9443 },
      { name: 'relay-1', port: 8444, metricsPort: 9444 },
    ]);
    expect(config.domains.map((d) => d.metadata.name)).toEqual(['example']);
    expect(config.policies.map((p) => p.metadata.name)).toEqual(['default-limits']);
    const [local] = config.relayPools;
    expect(local?.spec.publicUrls).toEqual(['ws://127.0.0.1:8443', 'ws://127.0.0.1:8444']);
    expect(local?.spec.redis).toEqual({
      external: { url: 'redis://127.0.0.1:6390', cluster: false },
    });
    expect(local?.spec.drain.gracePeriodSeconds).toBe(30);
    expect(config.domains[0]?.spec.signingKey.algorithm).toBe('EdDSA');
  });

  it('seeds alice, bob and carol into the design workspace', async () => {
    const { stack: s } = await loadLocalConfig(sampleFile);
    const [example] = s.spec.seed;
    expect(example?.domain).toBe('example');
    expect(example?.members.map((m) => [m.identity, m.devices])).toEqual([
      ['alice', ['alice-laptop', 'alice-phone']],
      ['bob', ['bob-laptop']],
      ['carol', ['carol-desktop']],
    ]);
    expect(example?.workspaces).toEqual([{ id: 'design', members: ['alice', 'bob', 'carol'] }]);
  });
});

describe('local config parsing', () => {
  it('applies LocalStack defaults and names relays by position', () => {
    const config = parseLocalConfig(yaml(domain(), pool(), stack()), '/etc/grove/local.yaml');
    expect(config.stack.spec).toEqual({
      relayPool: 'local',
      dataDir: '/etc/grove/.grove/data',
      redis: { port: 6390, appendfsync: 'always' },
      manager: { port: 8080, metricsPort: 9080 },
      relays: [
        { name: 'relay-0', port: 8443, metricsPort: 9443 },
        { name: 'relay-1', port: 8444, metricsPort: 9444 },
      ],
      seed: [],
    });
  });

  it('keeps an absolute dataDir and explicit relay names', () => {
    const config = parseLocalConfig(
      yaml(
        pool(),
        stack({
          dataDir: '/var/lib/grove',
          relays: [{ port: 9000 }, { name: 'edge', port: 9001 }],
        }),
      ),
      FILE,
    );
    expect(config.stack.spec.dataDir).toBe('/var/lib/grove');
    expect(config.stack.spec.relays).toEqual([
      { name: 'relay-0', port: 9000, metricsPort: 10000 },
      { name: 'edge', port: 9001, metricsPort: 10001 },
    ]);
  });

  it('skips empty documents but counts them in document numbers', () => {
    const text = `---\n${yaml(pool(), stack(), policy('limits', { relay: { maxInFlight: 0 } }))}---\n`;
    expect(issuesOf(`---\n${text}`)).toEqual([
      `${FILE}: document 4 (Policy "limits"): spec.relay.maxInFlight: Too small: expected number to be >=1`,
    ]);
  });

  it('names the document, its kind and name, and the field path of a schema error', () => {
    const text = yaml(pool(), policy('limits', { relay: { maxInFlight: 20000 } }), stack());
    expect(issuesOf(text)).toEqual([
      `${FILE}: document 2 (Policy "limits"): spec.relay.maxInFlight: Too big: expected number to be <=10000`,
    ]);
  });

  it('reports cross-field rules of a resource with its document', () => {
    const text = yaml(domain('example', { relayPools: ['local', 'local'] }), pool(), stack());
    expect(issuesOf(text)).toEqual([
      `${FILE}: document 1 (Domain "example"): spec.relayPools[1]: duplicate RelayPool "local"`,
    ]);
  });

  it('gives the line and column of a YAML syntax error', () => {
    const issues = issuesOf(`${yaml(pool())}---\nkind: LocalStack\nspec:\n  relays: [1, 2\n`);
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatch(/^config\/local\.yaml:\d+:\d+: YAML syntax error: \S/);
    expect(issues[0]).not.toContain('\n');
  });

  it('rejects a duplicated key as a YAML error', () => {
    expect(issuesOf('kind: LocalStack\nkind: Domain\n')).toEqual([
      `${FILE}:2:1: YAML syntax error: Map keys must be unique`,
    ]);
  });

  it('rejects unknown kinds, missing kinds and non-mapping documents', () => {
    const text = yaml(
      pool(),
      stack(),
      { apiVersion, kind: 'Gateway', metadata: { name: 'g' } },
      { apiVersion, metadata: { name: 'x' } },
    );
    expect(issuesOf(`${text}---\n- a list\n`)).toEqual([
      `${FILE}: document 3 (Gateway "g"): kind: "Gateway" is unknown; expected one of Domain, Policy, RelayPool, LocalStack`,
      `${FILE}: document 4: kind: required; expected one of Domain, Policy, RelayPool, LocalStack`,
      `${FILE}: document 5: must be a mapping with apiVersion, kind, metadata and spec`,
    ]);
  });

  it('explains that BackupSchedule is not used by the local stack', () => {
    const text = yaml(pool(), stack(), {
      apiVersion,
      kind: 'BackupSchedule',
      metadata: { name: 'b' },
    });
    expect(issuesOf(text)).toEqual([
      `${FILE}: document 3 (BackupSchedule "b"): kind: "BackupSchedule" is not used by the local stack; expected one of Domain, Policy, RelayPool, LocalStack`,
    ]);
  });

  it('requires exactly one LocalStack', () => {
    expect(issuesOf(yaml(pool()))).toEqual([
      `${FILE}: no LocalStack document; add one with "kind: LocalStack"`,
    ]);
    expect(issuesOf(yaml(pool(), stack(), { ...stack(), metadata: { name: 'other' } }))).toEqual([
      `${FILE}: document 3 (LocalStack "other"): only one LocalStack document is allowed (the first is document 2)`,
    ]);
  });

  it('does not call a LocalStack missing when it is only invalid', () => {
    expect(issuesOf(yaml(pool(), stack({ redis: { port: 0 } })))).toEqual([
      `${FILE}: document 2 (LocalStack "local"): spec.redis.port: Too small: expected number to be >=1`,
    ]);
  });

  it('rejects duplicate names within a kind but not across kinds', () => {
    const text = yaml(
      domain('local'),
      pool(),
      policy('limits', {}),
      policy('limits', { priority: 1 }),
      stack(),
    );
    expect(issuesOf(text)).toEqual([
      `${FILE}: document 4 (Policy "limits"): metadata.name: duplicate Policy name (also document 3)`,
    ]);
  });

  it('does not report a reference to an invalid document as missing', () => {
    const text = yaml(domain(), pool('local', { replicas: -1 }), stack({ seed: [seed()] }));
    expect(issuesOf(text)).toEqual([
      `${FILE}: document 2 (RelayPool "local"): spec.replicas: Too small: expected number to be >=0`,
    ]);
  });

  it('counts an invalid LocalStack when enforcing a single one', () => {
    const text = yaml(pool(), stack({ redis: { port: 0 } }), {
      ...stack(),
      metadata: { name: 'b' },
    });
    expect(issuesOf(text)).toEqual([
      `${FILE}: document 2 (LocalStack "local"): spec.redis.port: Too small: expected number to be >=1`,
      `${FILE}: document 3 (LocalStack "b"): only one LocalStack document is allowed (the first is document 2)`,
    ]);
  });

  it('rejects references to relay pools that are not in the file', () => {
    const text = yaml(
      domain('example', { relayPools: ['local', 'eu'] }),
      pool(),
      stack({ relayPool: 'us' }),
    );
    expect(issuesOf(text)).toEqual([
      `${FILE}: document 1 (Domain "example"): spec.relayPools[1]: RelayPool "eu" is not defined in this file`,
      `${FILE}: document 3 (LocalStack "local"): spec.relayPool: RelayPool "us" is not defined in this file`,
    ]);
  });

  it('rejects seed data for a domain that is not in the file', () => {
    const text = yaml(domain(), pool(), stack({ seed: [seed({ domain: 'acme' })] }));
    expect(issuesOf(text)).toEqual([
      `${FILE}: document 3 (LocalStack "local"): spec.seed[0].domain: Domain "acme" is not defined in this file`,
    ]);
  });

  it('rejects workspace members that are not members of the domain', () => {
    const text = yaml(
      domain(),
      pool(),
      stack({ seed: [seed({ workspaces: [{ id: 'design', members: ['alice', 'dave'] }] })] }),
    );
    expect(issuesOf(text)).toEqual([
      `${FILE}: document 3 (LocalStack "local"): spec.seed[0].workspaces[0].members[1]: "dave" is not a member of domain "example"; add it to spec.seed[0].members`,
    ]);
  });

  it('rejects a device id used by two identities of one domain', () => {
    const members = [
      { identity: 'alice', devices: ['laptop'] },
      { identity: 'bob', devices: ['laptop'] },
    ];
    const text = yaml(domain(), pool(), stack({ seed: [seed({ members, workspaces: [] })] }));
    expect(issuesOf(text)).toEqual([
      `${FILE}: document 3 (LocalStack "local"): spec.seed[0].members[1].devices[0]: device "laptop" is already used by identity "alice"`,
    ]);
  });

  it('rejects duplicate identities, workspaces and workspace members', () => {
    const members = [
      { identity: 'alice', devices: [] },
      { identity: 'alice', devices: [] },
    ];
    const workspaces = [
      { id: 'w', members: ['alice', 'alice'] },
      { id: 'w', members: ['alice'] },
    ];
    const text = yaml(domain(), pool(), stack({ seed: [seed({ members, workspaces })] }));
    const at = `${FILE}: document 3 (LocalStack "local"): spec.seed[0]`;
    expect(issuesOf(text)).toEqual([
      `${at}.members[1].identity: duplicate identity "alice" (also members[0])`,
      `${at}.workspaces[1].id: duplicate workspace "w" (also workspaces[0])`,
      `${at}.workspaces[0].members[1]: "alice" is listed twice`,
    ]);
  });

  it.each(['Alice', 'al:ice', 'al ice', '-alice', '{alice}'])(
    'rejects the identity id %j',
    (identity) => {
      const text = yaml(
        domain(),
        pool(),
        stack({ seed: [seed({ members: [{ identity }], workspaces: [] })] }),
      );
      expect(issuesOf(text)).toEqual([
        `${FILE}: document 3 (LocalStack "local"): spec.seed[0].members[0].identity: must be 1-128 characters of a-z, 0-9, ".", "_", "@", "-", starting with a letter or digit`,
      ]);
    },
  );

  it('accepts identity ids that look like e-mail addresses', () => {
    const members = [{ identity: 'alice@example.com', devices: ['alice_laptop.1'] }];
    const text = yaml(domain(), pool(), stack({ seed: [seed({ members, workspaces: [] })] }));
    expect(parseLocalConfig(text, FILE).stack.spec.seed[0]?.members[0]?.identity).toBe(
      'alice@example.com',
    );
  });

  it('rejects relay ports that collide with each other or with Redis', () => {
    const relays = [{ port: 7000 }, { name: 'relay-0', port: 7000 }, { port: 6390 }];
    expect(issuesOf(yaml(pool(), stack({ relays })))).toEqual([
      `${FILE}: document 2 (LocalStack "local"): spec.relays[1].name: duplicate relay name "relay-0" (also spec.relays[0])`,
      `${FILE}: document 2 (LocalStack "local"): spec.relays[1].port: port 7000 is already used by spec.relays[0]`,
      `${FILE}: document 2 (LocalStack "local"): spec.relays[2].port: port 6390 is already used by spec.redis`,
      `${FILE}: document 2 (LocalStack "local"): spec.relays[1].metricsPort (default: port + 1000): port 8000 is already used by spec.relays[0].metricsPort`,
    ]);
  });

  it('rejects a Manager metrics port that a relay listens on', () => {
    const text = yaml(pool(), stack({ relays: [{ port: 7000 }], manager: { port: 6000 } }));
    expect(issuesOf(text)).toEqual([
      `${FILE}: document 2 (LocalStack "local"): spec.manager.metricsPort (default: port + 1000): port 7000 is already used by spec.relays[0]`,
    ]);
  });

  it('rejects a metrics port that another relay listens on', () => {
    const relays = [{ port: 7000, metricsPort: 7001 }, { port: 7001 }];
    expect(issuesOf(yaml(pool(), stack({ relays })))).toEqual([
      `${FILE}: document 2 (LocalStack "local"): spec.relays[0].metricsPort: port 7001 is already used by spec.relays[1]`,
    ]);
  });

  it('reports every problem of the file at once', () => {
    const text = yaml(
      domain('Example'),
      pool('local', { replicas: -1 }),
      stack({ relays: [], extra: true }),
    );
    expect(issuesOf(text)).toEqual([
      `${FILE}: document 1 (Domain "Example"): metadata.name: must be a DNS-1123 label: lower-case letters, digits and "-", starting and ending with a letter or digit`,
      `${FILE}: document 2 (RelayPool "local"): spec.replicas: Too small: expected number to be >=0`,
      `${FILE}: document 3 (LocalStack "local"): spec.relays: Too small: expected array to have >=1 items`,
      `${FILE}: document 3 (LocalStack "local"): spec: Unrecognized key: "extra"`,
    ]);
  });

  it('throws a typed error whose message lists the issues', () => {
    let caught: unknown;
    try {
      parseLocalConfig(yaml(pool()), FILE);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect(caught).toBeInstanceOf(Error);
    const err = caught as ConfigError;
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.name).toBe('ConfigError');
    expect(err.message).toBe(err.issues.join('\n'));
  });

  it('turns an unreadable file into a ConfigError', async () => {
    await expect(loadLocalConfig('/nonexistent/grove.yaml')).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      issues: [expect.stringMatching(/^\/nonexistent\/grove\.yaml: cannot read the config file: /)],
    });
  });
});

describe('LocalStack schema', () => {
  it('rejects a seed workspace without members', () => {
    const result = localStackSchema.safeParse(
      stack({ seed: [{ domain: 'example', workspaces: [{ id: 'w', members: [] }] }] }),
    );
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['spec', 'seed', 0, 'workspaces', 0, 'members']);
  });
});
