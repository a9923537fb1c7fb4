/**
 * Builds the admin web UI into manager/ui/dist (committed): app.js (one esbuild bundle of
 * manager/ui/src/main.ts), app.css and index.html. With --check it builds in memory and
 * fails when the committed files differ, like the CRD generator's --check.
 */
import { build } from 'esbuild';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const uiSourceDir = join(here, 'src');
export const uiDistDir = join(here, 'dist');

/** The built files, name → content, computed without touching the disk. */
export async function buildUi(): Promise<Map<string, string>> {
  const result = await build({
    entryPoints: [join(uiSourceDir, 'main.ts')],
    bundle: true,
    format: 'esm',
    target: ['es2022'],
    platform: 'browser',
    minify: true,
    legalComments: 'none',
    charset: 'utf8',
    write: false,
    outfile: join(uiDistDir, 'app.js'),
    tsconfig: join(uiSourceDir, 'tsconfig.json'),
    logLevel: 'silent',
  });
  const js = result.outputFiles[0]?.text;
  if (js === undefined) throw new Error('esbuild produced no output');
  return new Map([
    ['app.js', js],
    ['app.css', readFileSync(join(uiSourceDir, 'app.css'), 'utf8')],
    ['index.html', readFileSync(join(uiSourceDir, 'index.html'), 'utf8')],
  ]);
}

async function main(): Promise<void> {
  const check = process.argv.includes('--check');
  const files = await buildUi();
  const stale: string[] = [];
  for (const [name, content] of files) {
    const path = join(uiDistDir, name);
    const current = existsSync(path) ? readFileSync(path, 'utf8') : undefined;
    if (current === content) continue;
    if (check) {
      stale.push(`manager/ui/dist/${name}`);
    } else {
      mkdirSync(uiDistDir, { recursive: true });
      writeFileSync(path, content);
      console.log(`wrote manager/ui/dist/${name}`);
    }
  }
  if (stale.length > 0) {
    console.error(`out of date (run npm run build:ui): ${stale.join(', ')}`);
    process.exitCode = 1;
  } else if (check) {
    console.log('manager/ui/dist is up to date');
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await main();
}
