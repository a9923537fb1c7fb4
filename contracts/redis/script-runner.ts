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
 * Runs a script by EVALSHA, falling back to EVAL the first time a Redis node has not seen it
 * (a new or restarted node). The command goes through the client's own routing, so on a
 * cluster it reaches the node of the script's keys, and through auto-pipelining when the
 * connection has it. The arguments go as one array: a large import has far more than a
 * spread call allows.
 */
export async function runScript<Input, Output>(
  redis: RedisClient,
  script: RedisScript<Input, Output>,
  input: Input,
): Promise<Output> {
  const { keys, args } = script.encode(input);
  const command: (string | number)[] = [script.sha, keys.length];
  for (const key of keys) command.push(key);
  for (const arg of args) command.push(arg);
  let reply: unknown;
  try {
    reply = await redis.call('evalsha', command);
  } catch (error) {
    if (!isNoScript(error)) throw error;
    command[0] = script.lua;
    reply = await redis.call('eval', command);
  }
  return script.decode(reply);
}
