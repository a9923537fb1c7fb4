import type { LabelSelector, LabelSelectorRequirement } from './common.js';

type Labels = Readonly<Record<string, string>>;

function matchesRequirement(req: LabelSelectorRequirement, labels: Labels): boolean {
  const has = Object.hasOwn(labels, req.key);
  const values = req.values ?? [];
  switch (req.operator) {
    case 'In':
      return has && values.includes(labels[req.key] ?? '');
    case 'NotIn':
      // Kubernetes semantics: an absent label is "not in" any set.
      return !has || !values.includes(labels[req.key] ?? '');
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
  }
}

/**
 * Kubernetes label-selector matching. An omitted selector matches nothing (so leaving a
 * selector out never binds an object by accident); an empty selector `{}` matches everything.
 */
export function matchesSelector(
  selector: LabelSelector | undefined,
  labels: Labels | undefined,
): boolean {
  if (selector === undefined) return false;
  const actual = labels ?? {};
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (!Object.hasOwn(actual, key) || actual[key] !== value) return false;
  }
  return (selector.matchExpressions ?? []).every((req) => matchesRequirement(req, actual));
}
