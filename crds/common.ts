import { z } from 'zod';
import { celRules, listMap } from './crd-meta.js';

// Every pattern here must also compile as Go RE2 (no look-arounds, no back-references):
// the API server enforces the generated CRD schema with Go's regexp engine.

export const API_GROUP = 'grove.dev';
export const API_VERSION = 'v1alpha1';
export const GROVE_API_VERSION = `${API_GROUP}/${API_VERSION}` as const;

export const apiVersionSchema = z
  .literal(GROVE_API_VERSION)
  .describe('API group and version of the resource; always grove.dev/v1alpha1.');

export const dnsLabelPattern = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const dnsSubdomainPattern =
  /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** Identity, device and workspace ids: also used as parts of Redis keys, hence no ':' or '{'. */
export const idPattern = /^[a-z0-9][a-z0-9._@-]{0,127}$/;
/** A Kubernetes qualified name (label or annotation key): optional DNS prefix, "/", name. */
export const qualifiedNamePattern =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
export const labelValuePattern = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;
/** Kubernetes resource.Quantity, e.g. "500m", "1Gi", "2". */
export const quantityPattern =
  /^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$/;
export const conditionTypePattern =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/;
export const conditionReasonPattern = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;

export const dnsLabelSchema = z
  .string()
  .min(1)
  .max(63)
  .regex(
    dnsLabelPattern,
    'must be a DNS-1123 label: lower-case letters, digits and "-", starting and ending with a letter or digit',
  );

export const dnsSubdomainSchema = z
  .string()
  .min(1)
  .max(253)
  .regex(
    dnsSubdomainPattern,
    'must be a DNS-1123 subdomain: dot-separated lower-case letters, digits and "-"',
  );

export const idSchema = z
  .string()
  .regex(
    idPattern,
    'must be 1-128 characters of a-z, 0-9, ".", "_", "@", "-", starting with a letter or digit',
  );

export const qualifiedNameSchema = z
  .string()
  .max(317)
  .regex(
    qualifiedNamePattern,
    'must be a qualified name: an optional DNS subdomain prefix and "/", then up to 63 letters, digits, "-", "_", "."',
  );

export const labelValueSchema = z
  .string()
  .max(63)
  .regex(
    labelValuePattern,
    'must be empty or up to 63 letters, digits, "-", "_", ".", starting and ending with a letter or digit',
  );

export const quantitySchema = z
  .string()
  .regex(quantityPattern, 'must be a Kubernetes quantity such as "500m", "2" or "1Gi"');

export const labelsSchema = z.record(qualifiedNameSchema, labelValueSchema);

export const objectMetaSchema = z
  .object({
    name: dnsLabelSchema.describe(
      'Name of the object, unique per kind and namespace; a DNS-1123 label (at most 63 characters).',
    ),
    namespace: dnsLabelSchema
      .optional()
      .describe('Namespace of the object; the local stack ignores it.'),
    labels: labelsSchema
      .optional()
      .describe('Labels: key/value pairs that Policy and Domain selectors match against.'),
    annotations: z
      .record(qualifiedNameSchema, z.string())
      .optional()
      .describe('Annotations: non-identifying metadata for tools and the operator.'),
    generation: z
      .int()
      .min(0)
      .optional()
      .describe('Set by the API server: increases whenever the spec changes.'),
    uid: z.string().optional().describe('Set by the API server: unique id of this object.'),
    resourceVersion: z
      .string()
      .optional()
      .describe('Set by the API server: opaque version used for optimistic concurrency.'),
  })
  // Not strict: the API server adds fields (managedFields, ownerReferences, …) we do not model.
  .describe('Standard object metadata (the subset Grove reads).');

export type ObjectMeta = z.infer<typeof objectMetaSchema>;

export const conditionStatusSchema = z
  .enum(['True', 'False', 'Unknown'])
  .describe('Whether the condition holds: True, False or Unknown.');

export const conditionSchema = z
  .object({
    type: z
      .string()
      .min(1)
      .max(316)
      .regex(conditionTypePattern, 'must be a CamelCase or qualified condition type')
      .describe('Type of the condition in CamelCase, e.g. Ready.'),
    status: conditionStatusSchema,
    observedGeneration: z
      .int()
      .min(0)
      .optional()
      .describe('metadata.generation of the object when the condition was last set.'),
    lastTransitionTime: z.iso
      .datetime({ offset: true })
      .describe('RFC 3339 time at which status last changed.'),
    reason: z
      .string()
      .min(1)
      .max(1024)
      .regex(conditionReasonPattern, 'must be CamelCase, e.g. RedisUnavailable')
      .describe('Machine-readable reason for the last transition, in CamelCase.'),
    message: z
      .string()
      .max(32768)
      .describe('Human-readable details of the last transition; may be empty.'),
  })
  .describe('One observation of the state of the object, in the standard Kubernetes shape.');

export type Condition = z.infer<typeof conditionSchema>;
export type ConditionStatus = z.infer<typeof conditionStatusSchema>;

export const conditionsSchema = z
  .array(conditionSchema)
  .describe('Latest observations of the state of the object, at most one per condition type.')
  // As metav1.Condition lists: the API server keeps one entry per type, and server-side apply
  // merges them per type.
  .meta(listMap('type'));

export const labelSelectorOperatorSchema = z
  .enum(['In', 'NotIn', 'Exists', 'DoesNotExist'])
  .describe(
    'In: the label is present with one of values. NotIn: the label is absent or has none of values. ' +
      'Exists / DoesNotExist: the label is present / absent (values must be empty).',
  );

export const labelSelectorRequirementSchema = z
  .strictObject({
    key: qualifiedNameSchema.describe('Label key the requirement applies to.'),
    operator: labelSelectorOperatorSchema,
    values: z
      .array(labelValueSchema)
      .optional()
      .describe('Label values: required and non-empty for In and NotIn, omitted otherwise.'),
  })
  .describe('A requirement on one label.')
  // The CRD's copy of validateLabelSelector.
  .meta(
    celRules(
      {
        rule: "self.operator in ['In', 'NotIn'] ? has(self.values) && size(self.values) > 0 : true",
        message: 'values must be non-empty when operator is In or NotIn',
        fieldPath: '.values',
      },
      {
        rule: "self.operator in ['Exists', 'DoesNotExist'] ? !has(self.values) || size(self.values) == 0 : true",
        message: 'values must be empty when operator is Exists or DoesNotExist',
        fieldPath: '.values',
      },
    ),
  );

export const labelSelectorSchema = z
  .strictObject({
    matchLabels: labelsSchema
      .optional()
      .describe('Labels that must all be present with exactly these values.'),
    matchExpressions: z
      .array(labelSelectorRequirementSchema)
      .optional()
      .describe('Requirements that must all hold.'),
  })
  .describe(
    'A Kubernetes label selector: matchLabels and matchExpressions are ANDed; an empty selector ({}) matches everything.',
  );

export type LabelSelectorOperator = z.infer<typeof labelSelectorOperatorSchema>;
export type LabelSelectorRequirement = z.infer<typeof labelSelectorRequirementSchema>;
export type LabelSelector = z.infer<typeof labelSelectorSchema>;

/** Cross-field rules of a label selector that JSON schema cannot express. */
export function validateLabelSelector(selector: LabelSelector, path: string): string[] {
  const issues: string[] = [];
  (selector.matchExpressions ?? []).forEach((req, i) => {
    const at = `${path}.matchExpressions[${i}].values`;
    const count = req.values?.length ?? 0;
    if ((req.operator === 'In' || req.operator === 'NotIn') && count === 0) {
      issues.push(`${at}: must be non-empty when operator is ${req.operator}`);
    }
    if ((req.operator === 'Exists' || req.operator === 'DoesNotExist') && count > 0) {
      issues.push(`${at}: must be empty when operator is ${req.operator}`);
    }
  });
  return issues;
}

export const resourceListSchema = z
  .strictObject({
    cpu: quantitySchema.optional().describe('CPU, in cores or millicores, e.g. "500m".'),
    memory: quantitySchema.optional().describe('Memory in bytes, e.g. "256Mi".'),
  })
  .describe('Amounts of compute resources.');

export const resourceRequirementsSchema = z
  .strictObject({
    requests: resourceListSchema
      .optional()
      .describe('Resources the scheduler reserves for each container.'),
    limits: resourceListSchema.optional().describe('Upper bounds for each container.'),
  })
  .describe('Compute resources of a container, as in a Pod spec (quote numbers: cpu: "1").');

export type ResourceRequirements = z.infer<typeof resourceRequirementsSchema>;

export const secretKeySelectorSchema = z
  .strictObject({
    name: dnsSubdomainSchema.describe('Name of a Secret in the namespace of this object.'),
    key: z
      .string()
      .min(1)
      .max(253)
      .regex(/^[-._a-zA-Z0-9]+$/, 'must be letters, digits, "-", "_" or "."')
      .describe('Key within the Secret.'),
  })
  .describe('A key of a Secret in the same namespace.');

export type SecretKeySelector = z.infer<typeof secretKeySelectorSchema>;
