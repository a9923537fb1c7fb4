/**
 * The `npm run build` step after tsc, which emits no .lua files: the relay and the Manager
 * read their Lua scripts next to contracts/redis/script-loader.js, in dist/ as in the sources.
 */
import { cpSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const sources = fileURLToPath(new URL('../contracts/redis/lua/', import.meta.url));
const built = fileURLToPath(new URL('../dist/contracts/redis/lua/', import.meta.url));

rmSync(built, { recursive: true, force: true });
cpSync(sources, built, {
  recursive: true,
  filter: (path) => !/\.[^/]+$/.test(path) || path.endsWith('.lua'),
});
