import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { RELAY_V8_FLAGS, relayOldSpaceFlag } from './relay-v8-flags.js';

describe('relay V8 flags', () => {
  it('bound the old generation to 75 % of the container memory limit, at least 64 MiB', () => {
    expect(relayOldSpaceFlag(2 ** 30)).toBe('--max-old-space-size=768');
    expect(relayOldSpaceFlag(512 * 2 ** 20)).toBe('--max-old-space-size=384');
    expect(relayOldSpaceFlag(64 * 2 ** 20)).toBe('--max-old-space-size=64');
  });

  it('are what the image passes to Node for `grove relay`, and only for it', () => {
    const dockerfile = readFileSync(new URL('../Dockerfile', import.meta.url), 'utf8');
    const relayLine = dockerfile.split('\n').find((line) => line.includes('relay)'));
    expect(relayLine).toBeDefined();
    for (const flag of RELAY_V8_FLAGS) {
      expect(relayLine).toContain(flag);
      expect(dockerfile.split(flag)).toHaveLength(2);
    }
  });
});
