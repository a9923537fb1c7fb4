import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** A Lua script as Redis runs it: its includes resolved, and the SHA-1 EVALSHA names it by. */
export interface LoadedScript {
  readonly name: string;
  readonly lua: string;
  readonly sha: string;
}

/**
 * `contracts/redis/lua/`, next to this module in the sources and in dist/ alike (the build
 * copies the .lua files there).
 */
export const luaDirectory = new URL('./lua/', import.meta.url);

function readLua(path: string): string {
  return readFileSync(new URL(path, luaDirectory), 'utf8');
}

/**
 * Replaces each `--- @include "name"` line with lua/includes/name.lua, itself resolved first,
 * so what an include needs comes before it. An include already pulled in becomes an empty
 * line: two includes may share a third.
 */
export function resolveIncludes(
  source: string,
  readInclude: (name: string) => string,
  included = new Set<string>(),
  chain: readonly string[] = [],
): string {
  return source.replace(/^--- @include "([a-z0-9-]+)"[ \t]*$/gm, (_line, name: string) => {
    if (chain.includes(name)) throw new Error(`Lua include cycle: ${[...chain, name].join(' → ')}`);
    if (included.has(name)) return '';
    included.add(name);
    return resolveIncludes(readInclude(name), readInclude, included, [...chain, name]).trimEnd();
  });
}

/** Reads lua/<name>.lua with its includes resolved. */
export function loadScript(name: string): LoadedScript {
  const lua = resolveIncludes(readLua(`${name}.lua`), (include) =>
    readLua(`includes/${include}.lua`),
  );
  return { name, lua, sha: createHash('sha1').update(lua).digest('hex') };
}
