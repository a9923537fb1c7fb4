import { parseArgs } from 'node:util';
import { adminCommand } from '../client/cli/admin-command.js';
import { CliError, ExitCode } from '../client/cli/cli-error.js';
import { LogLevelError } from '../contracts/logger.js';
import { enrollCommand } from '../client/cli/enroll-command.js';
import { listenCommand } from '../client/cli/listen-command.js';
import { presenceCommand } from '../client/cli/presence-command.js';
import { refreshCommand } from '../client/cli/refresh-command.js';
import { sendCommand } from '../client/cli/send-command.js';
import { tokenCommand } from '../client/cli/token-command.js';
import { loadCa, trustProcessWide } from '../client/cli/trust.js';
import { ConfigError } from '../local/config-error.js';
import { OperatorUsageError } from '../operator/operator-usage-error.js';

const HELP = `grove — store-and-forward relay platform

Usage:
  grove local --config FILE                 run the local stack (Redis + relays)
  grove relay --config FILE [--port N]      run one relay process
  grove operator [--kubeconfig FILE] …      run the Kubernetes operator (grove operator --help)
  grove manager --port N (--config FILE | --kubeconfig FILE) --redis URL   run the Manager
  grove bridge --device-key FILE --password-file FILE (--path DIR | --s3-bucket B …) --schedule CRON …
                                            run the Data Bridge (grove bridge --help)
  grove token issue --config FILE --domain D --identity I --device X [--ttl S] [--raw]
  grove enroll --manager URL --code CODE --state DIR [--name DEVICE_NAME] [--force]
  grove send (--state DIR | --relay URL[,URL…] --token T) --to device:ID|identity:ID|workspace:ID[,…] --data TEXT|@FILE [--id ID] [--ttl S] [--timeout S]
  grove listen (--state DIR | --relay URL[,URL…] --token T) [--count N] [--timeout S]
  grove presence (--state DIR | --relay URL --token T) --watch identity:ID[,…] [--timeout S]
  grove refresh --state DIR [--relay-override URL[,URL…] | --clear-relay-override]   new token and relay list now
  grove admin COMMAND [--manager URL] [--token T] …   the Manager's admin API (grove admin --help)
  grove archive list|verify|export (--path DIR | --s3-bucket B …) --password-file FILE …
                                            read the Data Bridge's archives (grove archive --help)
  grove archive restore --domain D --workspace W --to NEW --owner M
                                            restore a workspace through the Manager and the bridge

Client commands also take --transport auto|websocket|long-poll (default auto) and
--ca FILE (or GROVE_CA=FILE): a CA certificate to trust for wss:// relays and the Manager.
Output: one JSON object per line on stdout; errors as JSON on stderr.
Exit codes: 0 ok, 1 failure, 2 usage error, 3 timeout.
`;

const out = (line: string) => process.stdout.write(`${line}\n`);
const err = (line: string) => process.stderr.write(`${line}\n`);

async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  switch (command) {
    case 'relay': {
      const { values } = parseArgs({
        args,
        options: {
          config: { type: 'string' },
          port: { type: 'string' },
          'pod-id': { type: 'string' },
        },
      });
      if (values.config === undefined)
        throw new CliError('USAGE', 'missing --config FILE', ExitCode.usage);
      const { runRelay } = await import('../relay/main.js');
      await runRelay(values.config, {
        ...(values.port === undefined ? {} : { port: Number(values.port) }),
        ...(values['pod-id'] === undefined ? {} : { podId: values['pod-id'] }),
      });
      return;
    }
    case 'operator': {
      // Server commands load their modules on demand: client commands start faster.
      const { OPERATOR_HELP, runOperator } = await import('../operator/main.js');
      if (args.includes('--help') || args.includes('-h')) {
        out(OPERATOR_HELP);
        return;
      }
      await runOperator(args);
      return;
    }
    case 'manager': {
      const { runManager } = await import('../manager/main.js');
      await runManager(args);
      return;
    }
    case 'bridge': {
      const { BRIDGE_HELP, runBridge } = await import('../bridge/main.js');
      if (args.includes('--help') || args.includes('-h')) {
        out(BRIDGE_HELP);
        return;
      }
      await runBridge(args);
      return;
    }
    case 'local': {
      const { values } = parseArgs({ args, options: { config: { type: 'string' } } });
      const { runLocalStack } = await import('../local/local-stack.js');
      await runLocalStack(values.config ?? 'config/local.yaml');
      return;
    }
    case 'token':
      await tokenCommand(args, out);
      return;
    case 'enroll':
      await enrollCommand(args, out);
      return;
    case 'admin': {
      // GROVE_CA: a Manager behind https:// with a private CA.
      const ca = await loadCa(undefined);
      if (ca !== undefined) trustProcessWide(ca);
      await adminCommand(args, out);
      return;
    }
    case 'archive': {
      const { ARCHIVE_HELP, archiveCommand } = await import('../bridge/cli/archive-command.js');
      if (args.includes('--help') || args.includes('-h')) {
        out(ARCHIVE_HELP);
        return;
      }
      await archiveCommand(args, out);
      return;
    }
    case 'send':
      await sendCommand(args, out, err);
      return;
    case 'listen':
      await listenCommand(args, out, err);
      return;
    case 'presence':
      await presenceCommand(args, out, err);
      return;
    case 'refresh':
      await refreshCommand(args, out, err);
      return;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      out(HELP);
      return;
    default:
      throw new CliError('USAGE', `unknown command "${command}"\n${HELP}`, ExitCode.usage);
  }
}

main(process.argv.slice(2)).then(
  () => {
    const command = process.argv[2];
    // Servers keep running; one-shot commands exit once their output is written.
    if (!['relay', 'local', 'operator', 'manager', 'bridge'].includes(command ?? ''))
      process.exit(0);
  },
  (error: unknown) => {
    if (error instanceof CliError) {
      err(JSON.stringify({ error: { code: error.code, message: error.message, ...error.fields } }));
      process.exit(error.exitCode);
    }
    if (error instanceof LogLevelError) {
      err(JSON.stringify({ error: { code: error.code, message: error.message } }));
      process.exit(ExitCode.usage);
    }
    if (error instanceof OperatorUsageError) {
      err(JSON.stringify({ error: { code: 'USAGE', message: error.message } }));
      process.exit(ExitCode.usage);
    }
    if (error instanceof ConfigError) {
      err(
        JSON.stringify({
          error: { code: error.code, message: error.message, issues: error.issues },
        }),
      );
      process.exit(ExitCode.failure);
    }
    const message = error instanceof Error ? error.message : String(error);
    // Every parseArgs complaint (unknown option, missing value, stray argument) is a usage error.
    const errorCode = (error as { code?: unknown }).code;
    const code =
      typeof errorCode === 'string' && errorCode.startsWith('ERR_PARSE_ARGS_') ? 'USAGE' : 'FAILED';
    err(JSON.stringify({ error: { code, message } }));
    process.exit(code === 'USAGE' ? ExitCode.usage : ExitCode.failure);
  },
);
