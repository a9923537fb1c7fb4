/**
 * Builds the admin web UI into manager/ui/dist (committed): app.js (one esbuild bundle of
 * manager/ui/src/main.ts), app.css and index.html. With --check it builds in memory and
 * fails when the committed files differ (or dist holds a file it no longer builds), through
 * the write-or-check routine the CRD and chart generators share.
 */
import { build } from 'esbuild';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runGeneratorAsMain, type GeneratedFile } from '../../scripts/generated-files.js';

const here = dirname(fileURLToPath(import.meta.url));
export const uiSourceDir = join(here, 'src');
export const uiDistDir = join(here, 'dist');

/** The built files, with their paths in dist, computed without touching dist. */
export async function buildUi(): Promise<GeneratedFile[]> {
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
  const copied = async (name: string): Promise<GeneratedFile> => ({
    file: join(uiDistDir, name),
    content: await readFile(join(uiSourceDir, name), 'utf8'),
  });
  return [
    { file: join(uiDistDir, 'app.js'), content: js },
    await copied('app.css'),
    await copied('index.html'),
  ];
}

runGeneratorAsMain(import.meta.url, {
  files: buildUi,
  ownedDir: uiDistDir,
  advice: {
    missing: 'run `npm run build:ui` and commit the result',
    'out of date': 'it does not match manager/ui/src; run `npm run build:ui` and commit the result',
    'not generated': 'the UI build does not make it; delete it (the Manager would serve it)',
  },
  upToDate: 'manager/ui/dist is up to date',
});
