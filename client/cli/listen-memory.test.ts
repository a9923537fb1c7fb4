import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { ListenMemory, recentKeys, SEEN_FILE } from './listen-memory.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'grove-listen-memory-'));
  dirs.push(dir);
  return dir;
};

describe('listen memory', () => {
  it('keeps the last keys of the log, dropping torn and blank lines', () => {
    expect(recentKeys('d1|a\n\nd1|b\nd2|a\nd2|', 10)).toEqual(['d1|a', 'd1|b', 'd2|a']);
    expect(recentKeys('d1|a\nd1|b\nd1|c\n', 2)).toEqual(['d1|b', 'd1|c']);
  });

  it('remembers printed ids and the epoch across runs, in 0600 files', async () => {
    const dir = tempDir();
    const first = await ListenMemory.open(dir);
    expect(first.epoch).toBeUndefined();
    const key = ListenMemory.key({ id: 'm1', from: { device: 'd-1' } });
    expect(first.has(key)).toBe(false);
    await first.remember(key);
    await first.saveEpoch('e-7');
    const second = await ListenMemory.open(dir);
    expect(second.has(key)).toBe(true);
    expect(second.has('d-2|m1')).toBe(false);
    expect(second.epoch).toBe('e-7');
    expect(statSync(join(dir, SEEN_FILE)).mode & 0o777).toBe(0o600);
  });

  it('trims a long log to the most recent keys', async () => {
    const dir = tempDir();
    const lines = Array.from({ length: 50 }, (_, i) => `d|m${String(i)}\n`).join('');
    writeFileSync(join(dir, SEEN_FILE), lines);
    const memory = await ListenMemory.open(dir, 10);
    expect(memory.has('d|m49')).toBe(true);
    expect(memory.has('d|m39')).toBe(false);
    expect(readFileSync(join(dir, SEEN_FILE), 'utf8').split('\n').filter(Boolean)).toHaveLength(10);
  });
});
