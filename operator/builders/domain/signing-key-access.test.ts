import { describe, expect, it } from '@jest/globals';
import {
  buildSigningKeyAccess,
  parseServiceAccountRef,
  signingKeyReaderName,
} from './signing-key-access.js';

const domain = { name: 'acme', namespace: 'grove', uid: '0b5f1c2e-1111-4c52-9d3c-0a4f2f6f1e01' };

describe('the Role that lets the Manager read a Domain signing key', () => {
  it('grants get on that one Secret, by name, to the readers, owned by the Domain', () => {
    const [role, binding, ...rest] = buildSigningKeyAccess({
      domain,
      readers: [
        { namespace: 'grove-system', name: 'grove-manager' },
        { namespace: 'apps', name: 'bridge' },
      ],
    });
    expect(rest).toEqual([]);
    expect(role).toMatchObject({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'acme-signing-key-reader', namespace: 'grove' },
      rules: [
        {
          apiGroups: [''],
          resources: ['secrets'],
          resourceNames: ['acme-signing-key'],
          verbs: ['get'],
        },
      ],
    });
    expect(binding).toMatchObject({
      kind: 'RoleBinding',
      metadata: { name: 'acme-signing-key-reader', namespace: 'grove' },
      roleRef: {
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'Role',
        name: 'acme-signing-key-reader',
      },
      // Sorted: the same readers in another order give the same bytes.
      subjects: [
        { kind: 'ServiceAccount', name: 'bridge', namespace: 'apps' },
        { kind: 'ServiceAccount', name: 'grove-manager', namespace: 'grove-system' },
      ],
    });
    for (const object of [role, binding]) {
      expect(object?.metadata.ownerReferences).toEqual([
        {
          apiVersion: 'grove.dev/v1alpha1',
          kind: 'Domain',
          name: 'acme',
          uid: domain.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ]);
      expect(object?.metadata.labels?.['app.kubernetes.io/managed-by']).toBe('grove-operator');
    }
    expect(signingKeyReaderName('acme')).toBe('acme-signing-key-reader');
  });

  it('makes nothing without readers', () => {
    expect(buildSigningKeyAccess({ domain, readers: [] })).toEqual([]);
  });

  it('parses NAMESPACE/NAME and refuses anything else', () => {
    expect(parseServiceAccountRef('grove-system/grove-manager')).toEqual({
      namespace: 'grove-system',
      name: 'grove-manager',
    });
    for (const bad of ['grove-manager', '/x', 'a/', 'A/b', 'a/b/c', 'a b/c']) {
      expect(parseServiceAccountRef(bad)).toBeUndefined();
    }
  });
});
