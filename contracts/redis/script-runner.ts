import { Command } from 'ioredis';
import type { RedisClient } from './connection.js';
import { loadScript, type LoadedScript } from './script-loader.js';

/** What one script call sends: its KEYS and its ARGV. */
export interface ScriptArguments {
  readonly keys: readonly string[];
  readonly args: readonly (string | number)[];
}

/**
 * A Lua script with its named argument builder (a typed input in, KEYS and ARGV out, in the
 * order its header states) and the decoder of its reply.
 */
export interface RedisScript<Input, Output> extends LoadedScript {
  readonly encode: (input: Input) => ScriptArguments;
  readonly decode: (reply: unknown) => Output;
}

export function defineScript<Input, Output>(
  name: string,
  encode: (input: Input) => ScriptArguments,
  decode: (reply: unknown) => Output,
): RedisScript<Input, Output> {
  return { ...loadScript(name), encode, decode };
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.includes('NOSCRIPT');
}

/**
 * The scripts each client has sent by EVAL, which makes Redis keep them: from then on EVALSHA
 * finds them, on that node (a cluster's other nodes answer NOSCRIPT once). Marked when the EVAL
 * is sent, not answered: the calls made meanwhile go out behind it on the same connection (a
 * call made with `now` may overtake an auto-pipelined EVAL: it then meets NOSCRIPT and is sent
 * by EVAL itself).
 */
const sentByEval = new WeakMap<RedisClient, Set<string>>();

/**
 * Runs a script: by EVAL the first time this client runs it, by EVALSHA afterwards, falling
 * back to EVAL when a node has not seen it (a cluster's other nodes, a restarted Redis). So a
 * burst of calls at startup sends the script's source once, not once per call. The command
 * goes through the client's own routing, so on a cluster it reaches the node of the script's
 * keys, and through auto-pipelining when the connection has it, unless `now` says otherwise.
 * The arguments go as one array: a large import has far more than a spread call allows.
 *
 * `now`: written to the connection at once rather than at the auto-pipeline's next flush. For
 * calls that batch themselves (group commit): auto-pipelining defers a command to a
 * setImmediate and holds it while the previous auto-pipeline of the connection awaits its
 * replies, which put 30-200 µs on the path of a lone send (docs/benchmarks.md).
 */
export async function runScript<Input, Output>(
  redis: RedisClient,
  script: RedisScript<Input, Output>,
  input: Input,
  options: { now?: boolean } = {},
): Promise<Output> {
  const call = options.now === true ? callNow : callPipelined;
  const { keys, args } = script.encode(input);
  const command: (string | number)[] = [script.sha, keys.length];
  for (const key of keys) command.push(key);
  for (const arg of args) command.push(arg);
  let sent = sentByEval.get(redis);
  if (sent === undefined) {
    sent = new Set();
    sentByEval.set(redis, sent);
  }
  if (!sent.has(script.sha)) {
    sent.add(script.sha);
    command[0] = script.lua;
    return script.decode(await call(redis, 'eval', command));
  }
  let reply: unknown;
  try {
    reply = await call(redis, 'evalsha', command);
  } catch (error) {
    if (!isNoScript(error)) throw error;
    command[0] = script.lua;
    reply = await call(redis, 'eval', command);
  }
  return script.decode(reply);
}

function callPipelined(
  redis: RedisClient,
  name: string,
  args: (string | number)[],
): Promise<unknown> {
  return redis.call(name, args);
}

/** As `redis.call`, but past the auto-pipeline: ioredis writes a command it is handed at once. */
function callNow(redis: RedisClient, name: string, args: (string | number)[]): Promise<unknown> {
  const command = new Command(name, args, { replyEncoding: 'utf8' });
  redis.sendCommand(command);
  return command.promise;
}
