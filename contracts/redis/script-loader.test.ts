import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { loadScript, luaDirectory, resolveIncludes } from './script-loader.js';

const scriptNames = readdirSync(luaDirectory)
  .filter((file) => file.endsWith('.lua'))
  .map((file) => file.slice(0, -'.lua'.length));
const includeNames = readdirSync(new URL('includes/', luaDirectory)).map((file) =>
  file.slice(0, -'.lua'.length),
);

describe('resolveIncludes', () => {
  const includes: Record<string, string> = {
    base: 'local function base() end',
    left: '--- @include "base"\nlocal function left() end',
    right: '--- @include "base"\nlocal function right() end',
    loop: '--- @include "loop"',
  };
  const read = (name: string) => {
    const source = includes[name];
    if (source === undefined) throw new Error(`no include ${name}`);
    return source;
  };

  it('puts what an include needs before it, and each include once', () => {
    const lua = resolveIncludes('--- @include "left"\n--- @include "right"\nreturn 1', read);
    expect(lua).toBe(
      'local function base() end\nlocal function left() end\n\nlocal function right() end\nreturn 1',
    );
  });

  it('refuses an include cycle', () => {
    expect(() => resolveIncludes('--- @include "loop"', read)).toThrow(/cycle: loop → loop/);
  });

  it('leaves other comments alone', () => {
    expect(resolveIncludes('-- @include "base"\nreturn 1', read)).toBe(
      '-- @include "base"\nreturn 1',
    );
  });
});

describe('the Lua scripts', () => {
  it.each(scriptNames)(
    '%s.lua starts with a header stating KEYS, ARGV and what it returns',
    (name) => {
      const source = readFileSync(new URL(`${name}.lua`, luaDirectory), 'utf8');
      const header = /^--\[\[\n([\s\S]*?)\n\]\]\n/.exec(source)?.[1] ?? '';
      expect(header).toMatch(/KEYS/);
      expect(header).toMatch(/ARGV/);
      expect(header).toMatch(/Returns/);
    },
  );

  it.each(includeNames)('includes/%s.lua starts with a header saying what it holds', (name) => {
    const source = readFileSync(new URL(`includes/${name}.lua`, luaDirectory), 'utf8');
    expect(source).toMatch(/^--\[\[\n[\s\S]+?\n\]\]\n/);
  });

  it.each(scriptNames)('%s.lua loads with every include resolved', (name) => {
    const script = loadScript(name);
    expect(script.lua).not.toMatch(/@include/);
    expect(script.sha).toMatch(/^[0-9a-f]{40}$/);
  });

  it('uses every include somewhere', () => {
    const used = new Set(
      [
        ...scriptNames.map((name) => `${name}.lua`),
        ...includeNames.map((name) => `includes/${name}.lua`),
      ]
        .flatMap((file) => [
          ...readFileSync(new URL(file, luaDirectory), 'utf8').matchAll(/@include "([a-z0-9-]+)"/g),
        ])
        .map((match) => match[1]),
    );
    expect(includeNames.filter((name) => !used.has(name))).toEqual([]);
  });
});
