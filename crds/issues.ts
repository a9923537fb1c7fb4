import type { z } from 'zod';

type Issue = z.core.$ZodIssue;

const identifier = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** Renders a path as it would be written in code: spec.seed[0].members, labels["app/x"]. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && identifier.test(key)) out += out === '' ? key : `.${key}`;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}

function isMisfit(issue: Issue): boolean {
  // Signs that a union member has the wrong shape altogether, rather than a bad value deep
  // inside the member the user meant: a key it does not know, or not an object at all.
  // Grove's unions are of strict one-key objects, so a stray key is a reliable sign.
  return (
    issue.path.length === 0 && (issue.code === 'unrecognized_keys' || issue.code === 'invalid_type')
  );
}

function flatten(
  issues: readonly Issue[],
  base: readonly PropertyKey[],
): [PropertyKey[], string][] {
  const out: [PropertyKey[], string][] = [];
  for (const issue of issues) {
    const path = [...base, ...issue.path];
    if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      // Report inside the one member the input was evidently meant for, if there is one.
      const fitting = issue.errors.filter((member) => !member.some(isMisfit));
      const [only] = fitting;
      if (fitting.length === 1 && only) {
        out.push(...flatten(only, path));
        continue;
      }
    }
    if (issue.code === 'invalid_key') {
      const detail = issue.issues.map((i) => i.message).join('; ');
      out.push([path, `invalid key: ${detail}`]);
      continue;
    }
    out.push([path, issue.message]);
  }
  return out;
}

/**
 * One line per problem, "path: message", with union errors narrowed to the member the input
 * was meant for. `prefix` is prepended to every path.
 */
export function formatIssues(
  issues: readonly Issue[],
  prefix: readonly PropertyKey[] = [],
): string[] {
  return flatten(issues, prefix).map(([path, message]) => {
    const where = formatPath(path);
    return where === '' ? message : `${where}: ${message}`;
  });
}
