// Metadata for the generated CustomResourceDefinitions (crds/generate-crds.ts). zod ignores it
// when parsing; z.toJSONSchema copies it onto the schema node, where the generator keeps it.
// It lives beside the schemas so that each rule sits next to the field it guards.

/** One entry of `x-kubernetes-validations`: a CEL rule the API server checks. */
export interface CelRule {
  /** CEL expression over `self` (and `oldSelf` for transition rules); true means valid. */
  rule: string;
  /** Shown to the user after the field path, e.g. `spec.autoscaling: Invalid value: …: <message>`. */
  message: string;
  /** Field the error is reported at, relative to the node that carries the rule. */
  fieldPath?: string;
  reason?:
    'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
}

/** `.meta(celRules(...))` adds CEL rules to the node's schema in the CRD. */
export function celRules(...rules: CelRule[]): { 'x-kubernetes-validations': CelRule[] } {
  return { 'x-kubernetes-validations': rules };
}

/**
 * A rule that keeps a required field from changing after creation. A transition rule only runs
 * on updates where the field exists before and after, so it never blocks a create.
 */
export function immutable(message: string): { 'x-kubernetes-validations': CelRule[] } {
  return celRules({ rule: 'self == oldSelf', message });
}

/**
 * A list of unique scalars: the API server rejects duplicates itself ("Duplicate value"), with
 * no CEL cost, which matters for lists the zod schema leaves unbounded. Server-side apply keeps
 * the applier's order, so preference lists stay ordered.
 */
export const listOfUniqueValues = { 'x-kubernetes-list-type': 'set' } as const;

/** A list of objects keyed by `keys`, merged per entry by server-side apply (like conditions). */
export function listMap(...keys: [string, ...string[]]): {
  'x-kubernetes-list-type': 'map';
  'x-kubernetes-list-map-keys': string[];
} {
  return { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': keys };
}
