import type { V1Role, V1RoleBinding } from '@kubernetes/client-node';
import { GROVE_API_VERSION } from '../../../crds/common.js';
import type { KubeObject, OwnerReference } from '../../../kube/kube-object.js';
import { MANAGED_BY, labelKeys } from '../labels.js';
import type { Plain } from '../relaypool/metadata.js';
import { signingKeySecretName } from './signing-keys.js';

/** A ServiceAccount that may read a Domain's signing key (the Manager signs relay tokens with it). */
export interface ServiceAccountRef {
  namespace: string;
  name: string;
}

/** Parses "NAMESPACE/NAME"; undefined when it is not that. */
export function parseServiceAccountRef(text: string): ServiceAccountRef | undefined {
  const match = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-.a-z0-9]*[a-z0-9])?)$/.exec(text);
  if (match === null || (match[1] ?? '').length > 63 || (match[3] ?? '').length > 253) {
    return undefined;
  }
  return { namespace: match[1] ?? '', name: match[3] ?? '' };
}

/** Name of the Role and RoleBinding that let the readers get one Domain's signing key Secret. */
export function signingKeyReaderName(domain: string): string {
  return `${domain}-signing-key-reader`;
}

export interface SigningKeyAccessInput {
  /** The Domain as stored (name, namespace and uid set). */
  domain: { name: string; namespace: string; uid: string };
  /** Who may read the key; none: no Role, no RoleBinding. */
  readers: readonly ServiceAccountRef[];
}

/**
 * A Role granting `get` on exactly this Domain's signing key Secret (resourceNames: RBAC
 * cannot select Secrets by label, and a name is the narrowest grant there is) and a RoleBinding
 * of it to the readers: the Manager can read the keys of the Domains it serves and no other
 * Secret. Both are owned by the Domain (deleted with it). Empty without readers.
 *
 * Creating them needs no `escalate` or `bind` on the operator's side: it holds `get` on the
 * Secrets of its namespaces itself, and Kubernetes lets anyone grant what they hold.
 */
export function buildSigningKeyAccess(input: SigningKeyAccessInput): KubeObject[] {
  const { domain } = input;
  if (input.readers.length === 0) return [];
  const name = signingKeyReaderName(domain.name);
  const owner: OwnerReference = {
    apiVersion: GROVE_API_VERSION,
    kind: 'Domain',
    name: domain.name,
    uid: domain.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
  const metadata = () => ({
    name,
    namespace: domain.namespace,
    labels: {
      [labelKeys.name]: 'grove-domain',
      [labelKeys.instance]: domain.name,
      [labelKeys.component]: 'signing-key-reader',
      [labelKeys.managedBy]: MANAGED_BY,
      [labelKeys.partOf]: 'grove',
      [labelKeys.domain]: domain.name,
    },
    ownerReferences: [{ ...owner }],
  });
  const subjects = [...input.readers]
    .sort((a, b) =>
      `${a.namespace}/${a.name}` < `${b.namespace}/${b.name}`
        ? -1
        : `${a.namespace}/${a.name}` > `${b.namespace}/${b.name}`
          ? 1
          : 0,
    )
    .map((reader) => ({ kind: 'ServiceAccount', name: reader.name, namespace: reader.namespace }));
  const role = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: metadata(),
    rules: [
      {
        apiGroups: [''],
        resources: ['secrets'],
        resourceNames: [signingKeySecretName(domain.name)],
        verbs: ['get'],
      },
    ],
  } satisfies Plain<V1Role> & KubeObject;
  const binding = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: metadata(),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
    subjects,
  } satisfies Plain<V1RoleBinding> & KubeObject;
  return [role, binding];
}
