import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { archiveErrors } from './archive-errors.js';

const errorsDoc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');

describe('docs/errors.md', () => {
  it('lists every archive error, and no other, under Archive', () => {
    const start = errorsDoc.indexOf('\n## Archive\n');
    const end = errorsDoc.indexOf('\n## ', start + 1);
    expect(start).toBeGreaterThan(0);
    const section = errorsDoc.slice(start, end < 0 ? undefined : end);
    const documented = [...section.matchAll(/^\| `([A-Z_]+)` +\|/gm)].map((match) => match[1]);
    expect(documented.sort()).toEqual(Object.keys(archiveErrors).sort());
  });
});
