import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * What Grove's generators share: files written from a source of truth (zod schemas), committed,
 * and checked by CI (`--check`) so that they never drift from it.
 */
export interface GeneratedFile {
  file: string;
  content: string;
}

export type StaleProblem = 'missing' | 'out of date' | 'not generated';

export interface StaleFile {
  file: string;
  problem: StaleProblem;
}

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The files that differ from `files`, plus strays in `ownedDir` (a folder only the generator
 * writes: a file there that it no longer generates would still be installed or served).
 */
export async function staleGeneratedFiles(
  files: readonly GeneratedFile[],
  ownedDir?: string,
): Promise<StaleFile[]> {
  const stale: StaleFile[] = [];
  for (const { file, content } of files) {
    const current = await readFile(file, 'utf8').catch(() => undefined);
    if (current === undefined) stale.push({ file, problem: 'missing' });
    else if (current !== content) stale.push({ file, problem: 'out of date' });
  }
  if (ownedDir !== undefined) {
    const expected = new Set(files.map(({ file }) => file));
    for (const entry of await readdir(ownedDir).catch(() => [])) {
      const file = join(ownedDir, entry);
      if (!expected.has(file)) stale.push({ file, problem: 'not generated' });
    }
  }
  return stale;
}

export interface Generator {
  files: () => Promise<GeneratedFile[]>;
  ownedDir?: string;
  /** What to do about each problem, e.g. which npm script regenerates the files. */
  advice: Record<StaleProblem, string>;
  /** Printed by --check when nothing is stale. */
  upToDate: string;
}

/** Writes the files that changed, or with `--check` reports the stale ones; the exit code. */
export async function runGenerator(generator: Generator, args: readonly string[]): Promise<number> {
  const files = await generator.files();
  if (args.includes('--check')) {
    const stale = await staleGeneratedFiles(files, generator.ownedDir);
    for (const { file, problem } of stale) {
      console.error(`${relative(repoRoot, file)} is ${problem}: ${generator.advice[problem]}`);
    }
    if (stale.length === 0) console.log(generator.upToDate);
    return stale.length === 0 ? 0 : 1;
  }
  for (const { file, content } of files) {
    const current = await readFile(file, 'utf8').catch(() => undefined);
    if (current !== content) {
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, content);
    }
    console.log(`${current === content ? 'unchanged' : 'wrote'} ${relative(repoRoot, file)}`);
  }
  return 0;
}

/** Runs `generator` when `moduleUrl` is the script node was started with. */
export function runGeneratorAsMain(moduleUrl: string, generator: Generator): void {
  if (process.argv[1] === undefined || moduleUrl !== pathToFileURL(process.argv[1]).href) return;
  runGenerator(generator, process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
