import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { CliError, usage } from './cli-error.js';
import { ManagerClient, ManagerHttpError, ManagerUnreachable } from './manager-client.js';

/**
 * `grove admin …`: the Manager's admin API from the shell. Output: one JSON document, or one
 * JSON line per item for lists. `--manager URL` (or GROVE_MANAGER_URL) and `--token T` (or
 * GROVE_ADMIN_TOKEN) say where and as whom.
 */

type Values = Record<string, string | boolean | undefined>;

interface AdminContext {
  client: ManagerClient;
  values: Values;
  out: (line: string) => void;
  readInput: (file: string) => Promise<string>;
}

interface AdminCommand {
  /** Required options first (names without --), then optional ones. */
  required: string[];
  optional: string[];
  run(context: AdminContext): Promise<void>;
}

/** Every option of every admin command, so one parse finds the command words wherever they are. */
const allOptions = {
  manager: { type: 'string' },
  token: { type: 'string' },
  domain: { type: 'string' },
  id: { type: 'string' },
  name: { type: 'string' },
  email: { type: 'string' },
  query: { type: 'string' },
  limit: { type: 'string' },
  cursor: { type: 'string' },
  file: { type: 'string' },
  format: { type: 'string' },
  'all-or-nothing': { type: 'boolean' },
  member: { type: 'string' },
  members: { type: 'string' },
  ttl: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  actor: { type: 'string' },
  action: { type: 'string' },
  jsonl: { type: 'boolean' },
  raw: { type: 'boolean' },
  role: { type: 'string' },
  domains: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const str = (values: Values, name: string): string => {
  const value = values[name];
  return typeof value === 'string' ? value : '';
};
const opt = (values: Values, name: string): string | undefined => {
  const value = values[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
};
const list = (value: string): string[] =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');

function positiveInt(values: Values, name: string): number | undefined {
  const value = opt(values, name);
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number <= 0) throw usage(`--${name} must be a positive integer`);
  return number;
}

function time(values: Values, name: string): string | undefined {
  const value = opt(values, name);
  if (value === undefined) return undefined;
  if (Number.isNaN(Date.parse(value)))
    throw usage(`--${name} must be an RFC 3339 time, e.g. 2026-01-31T12:00:00Z`);
  return new Date(value).toISOString();
}

const json = (context: AdminContext, document: unknown) => context.out(JSON.stringify(document));
const lines = (context: AdminContext, items: readonly unknown[]) => {
  for (const item of items) context.out(JSON.stringify(item));
};

export const adminCommands: Record<string, AdminCommand> = {
  whoami: { required: [], optional: [], run: async (c) => json(c, await c.client.whoami()) },
  domains: { required: [], optional: [], run: async (c) => lines(c, await c.client.domains()) },
  'members list': {
    required: ['domain'],
    optional: ['query', 'limit'],
    run: async (c) => {
      const limit = positiveInt(c.values, 'limit');
      const query = opt(c.values, 'query');
      for await (const member of c.client.allMembers(str(c.values, 'domain'), {
        ...(query === undefined ? {} : { query }),
        ...(limit === undefined ? {} : { limit }),
      }))
        json(c, member);
    },
  },
  'members get': {
    required: ['domain', 'id'],
    optional: [],
    run: async (c) =>
      json(c, await c.client.getMember(str(c.values, 'domain'), str(c.values, 'id'))),
  },
  'members add': {
    required: ['domain', 'id', 'name'],
    optional: ['email'],
    run: async (c) =>
      json(
        c,
        await c.client.addMember(str(c.values, 'domain'), {
          id: str(c.values, 'id'),
          displayName: str(c.values, 'name'),
          ...(opt(c.values, 'email') === undefined ? {} : { email: str(c.values, 'email') }),
        }),
      ),
  },
  'members update': {
    required: ['domain', 'id'],
    optional: ['name', 'email'],
    run: async (c) => {
      const email = c.values.email;
      if (opt(c.values, 'name') === undefined && email === undefined)
        throw usage('grove admin members update needs --name or --email (--email "" clears it)');
      json(
        c,
        await c.client.updateMember(str(c.values, 'domain'), str(c.values, 'id'), {
          ...(opt(c.values, 'name') === undefined ? {} : { displayName: str(c.values, 'name') }),
          ...(email === undefined ? {} : { email: email === '' ? null : str(c.values, 'email') }),
        }),
      );
    },
  },
  'members delete': {
    required: ['domain', 'id'],
    optional: [],
    run: async (c) =>
      json(c, await c.client.deleteMember(str(c.values, 'domain'), str(c.values, 'id'))),
  },
  'members import': {
    required: ['domain', 'file'],
    optional: ['format', 'all-or-nothing'],
    run: async (c) => {
      const file = str(c.values, 'file');
      const format =
        opt(c.values, 'format') ?? (file.toLowerCase().endsWith('.json') ? 'json' : 'csv');
      if (format !== 'csv' && format !== 'json') throw usage('--format must be csv or json');
      const text = await c.readInput(file);
      json(
        c,
        await c.client.importMembers(str(c.values, 'domain'), text, format, {
          allOrNothing: c.values['all-or-nothing'] === true,
        }),
      );
    },
  },
  'codes issue': {
    required: ['domain', 'member'],
    optional: ['ttl', 'raw'],
    run: async (c) => {
      const ttlSeconds = positiveInt(c.values, 'ttl');
      const issued = await c.client.issueCode(
        str(c.values, 'domain'),
        str(c.values, 'member'),
        ttlSeconds === undefined ? {} : { ttlSeconds },
      );
      // --raw: the code alone, for CODE=$(grove admin codes issue … --raw)
      if (c.values.raw === true) c.out(issued.code);
      else json(c, issued);
    },
  },
  'codes list': {
    required: ['domain'],
    optional: ['member'],
    run: async (c) => {
      const memberId = opt(c.values, 'member');
      lines(
        c,
        await c.client.listCodes(
          str(c.values, 'domain'),
          memberId === undefined ? {} : { memberId },
        ),
      );
    },
  },
  'codes revoke': {
    required: ['domain', 'id'],
    optional: [],
    run: async (c) =>
      json(c, await c.client.revokeCode(str(c.values, 'domain'), str(c.values, 'id'))),
  },
  'devices list': {
    required: ['domain'],
    optional: ['member'],
    run: async (c) => {
      const memberId = opt(c.values, 'member');
      lines(
        c,
        await c.client.listDevices(
          str(c.values, 'domain'),
          memberId === undefined ? {} : { memberId },
        ),
      );
    },
  },
  'devices revoke': {
    required: ['domain', 'id'],
    optional: [],
    run: async (c) =>
      json(c, await c.client.revokeDevice(str(c.values, 'domain'), str(c.values, 'id'))),
  },
  'workspaces list': {
    required: ['domain'],
    optional: [],
    run: async (c) => lines(c, await c.client.listWorkspaces(str(c.values, 'domain'))),
  },
  'workspaces create': {
    required: ['domain', 'id', 'name'],
    optional: ['members'],
    run: async (c) =>
      json(
        c,
        await c.client.createWorkspace(str(c.values, 'domain'), {
          id: str(c.values, 'id'),
          name: str(c.values, 'name'),
          ...(opt(c.values, 'members') === undefined
            ? {}
            : { members: list(str(c.values, 'members')) }),
        }),
      ),
  },
  'workspaces rename': {
    required: ['domain', 'id', 'name'],
    optional: [],
    run: async (c) =>
      json(
        c,
        await c.client.renameWorkspace(
          str(c.values, 'domain'),
          str(c.values, 'id'),
          str(c.values, 'name'),
        ),
      ),
  },
  'workspaces delete': {
    required: ['domain', 'id'],
    optional: [],
    run: async (c) => {
      await c.client.deleteWorkspace(str(c.values, 'domain'), str(c.values, 'id'));
      json(c, { id: str(c.values, 'id'), deleted: true });
    },
  },
  'workspaces add-members': {
    required: ['domain', 'id', 'members'],
    optional: [],
    run: async (c) =>
      json(
        c,
        await c.client.addWorkspaceMembers(
          str(c.values, 'domain'),
          str(c.values, 'id'),
          list(str(c.values, 'members')),
        ),
      ),
  },
  'workspaces remove-member': {
    required: ['domain', 'id', 'member'],
    optional: [],
    run: async (c) =>
      json(
        c,
        await c.client.removeWorkspaceMember(
          str(c.values, 'domain'),
          str(c.values, 'id'),
          str(c.values, 'member'),
        ),
      ),
  },
  audit: {
    required: [],
    optional: ['domain', 'since', 'until', 'actor', 'action', 'limit', 'cursor', 'jsonl'],
    run: async (c) => {
      const query = {
        domain: opt(c.values, 'domain'),
        since: time(c.values, 'since'),
        until: time(c.values, 'until'),
        actor: opt(c.values, 'actor'),
        action: opt(c.values, 'action'),
        limit: positiveInt(c.values, 'limit'),
      };
      if (c.values.jsonl === true) {
        for await (const entry of c.client.auditLines(query)) json(c, entry);
        return;
      }
      json(c, await c.client.audit({ ...query, cursor: opt(c.values, 'cursor') }));
    },
  },
  usage: {
    required: ['domain'],
    optional: [],
    run: async (c) => json(c, await c.client.usage(str(c.values, 'domain'))),
  },
  'tokens list': {
    required: [],
    optional: [],
    run: async (c) => lines(c, await c.client.listAdminTokens()),
  },
  'tokens create': {
    required: ['name', 'role'],
    optional: ['domains'],
    run: async (c) =>
      json(
        c,
        await c.client.createAdminToken({
          name: str(c.values, 'name'),
          role: str(c.values, 'role'),
          domains: list(str(c.values, 'domains')),
        }),
      ),
  },
};

export const ADMIN_HELP = `grove admin — the Manager's admin API (JSON output; lists as JSON lines)

Usage: grove admin COMMAND [--manager URL] [--token T] OPTIONS
  --manager defaults to $GROVE_MANAGER_URL, --token to $GROVE_ADMIN_TOKEN.

${Object.entries(adminCommands)
  .map(
    ([name, command]) =>
      `  grove admin ${name}${command.required.map((option) => ` --${option} ${option.toUpperCase()}`).join('')}${command.optional.map((option) => ` [--${option}]`).join('')}`,
  )
  .join('\n')}
`;

export interface ParsedAdminArgs {
  name: string;
  command: AdminCommand;
  values: Values;
  managerUrl: string;
  token: string;
}

/** Finds the command and checks its options (no I/O); every problem is a usage error. */
export function parseAdminArgs(
  args: string[],
  env: Record<string, string | undefined>,
): ParsedAdminArgs | 'help' {
  const { values, positionals } = parseArgs({
    args,
    options: allOptions,
    allowPositionals: true,
    strict: true,
  });
  if (values.help === true || positionals.length === 0) return 'help';
  const [group = '', action] = positionals;
  let name = group;
  let command = adminCommands[group];
  if (command === undefined || action !== undefined) {
    name = `${group} ${action ?? ''}`.trim();
    command = adminCommands[name];
  }
  if (command === undefined || positionals.length > (name.includes(' ') ? 2 : 1)) {
    const actions = Object.keys(adminCommands)
      .filter((known) => known.startsWith(`${group} `))
      .map((known) => known.slice(group.length + 1));
    throw usage(
      actions.length > 0
        ? `unknown command "grove admin ${positionals.join(' ')}": ${group} takes ${actions.join(', ')}`
        : `unknown command "grove admin ${positionals.join(' ')}" (see grove admin --help)`,
    );
  }
  const allowed = new Set(['manager', 'token', ...command.required, ...command.optional]);
  for (const option of Object.keys(values)) {
    if (!allowed.has(option)) throw usage(`--${option} is not an option of grove admin ${name}`);
  }
  const missing = command.required.filter((option) => opt(values, option) === undefined);
  if (missing.length > 0)
    throw usage(
      `grove admin ${name}: missing ${missing.map((option) => `--${option}`).join(', ')}`,
    );
  const managerUrl = opt(values, 'manager') ?? env.GROVE_MANAGER_URL ?? '';
  if (managerUrl === '') throw usage('missing --manager URL (or GROVE_MANAGER_URL)');
  try {
    new URL(managerUrl);
  } catch {
    throw usage(`--manager "${managerUrl}" is not a URL`);
  }
  const token = opt(values, 'token') ?? env.GROVE_ADMIN_TOKEN ?? '';
  if (token === '') throw usage('missing --token (or GROVE_ADMIN_TOKEN)');
  return { name, command, values, managerUrl, token };
}

export async function adminCommand(
  args: string[],
  out: (line: string) => void,
  env: Record<string, string | undefined> = process.env,
  options: { fetch?: typeof fetch } = {},
): Promise<void> {
  const parsed = parseAdminArgs(args, env);
  if (parsed === 'help') {
    out(ADMIN_HELP);
    return;
  }
  const client = new ManagerClient(parsed.managerUrl, parsed.token, options);
  const readInput = async (file: string): Promise<string> => {
    try {
      if (file === '-') {
        const chunks: Buffer[] = [];
        for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
        return Buffer.concat(chunks).toString('utf8');
      }
      return await readFile(file, 'utf8');
    } catch (error) {
      throw usage(`cannot read --file ${file}: ${(error as Error).message}`);
    }
  };
  try {
    await parsed.command.run({ client, values: parsed.values, out, readInput });
  } catch (error) {
    if (error instanceof ManagerHttpError) throw new CliError(error.code, error.message);
    if (error instanceof ManagerUnreachable)
      throw new CliError('MANAGER_UNREACHABLE', error.message);
    throw error;
  }
}
