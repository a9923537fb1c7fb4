import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import type { KubeClient } from '../../kube/kube-client.js';
import type { KubeObject, ResourceType } from '../../kube/kube-object.js';
import { resourceTypes } from '../../kube/resource-types.js';
import { waitFor } from './ports.js';

const root = join(fileURLToPath(import.meta.url), '..', '..', '..');

export const crdType: ResourceType = {
  group: 'apiextensions.k8s.io',
  version: 'v1',
  kind: 'CustomResourceDefinition',
  plural: 'customresourcedefinitions',
  namespaced: false,
};

/** Applies the committed CRDs and waits until the API serves all four kinds. */
export async function installGroveCrds(client: KubeClient): Promise<void> {
  for (const plural of ['relaypools', 'domains', 'policies', 'backupschedules']) {
    const text = await readFile(
      join(root, 'crds', 'generated', `grove.dev_${plural}.yaml`),
      'utf8',
    );
    await client.apply(parse(text) as KubeObject, {
      fieldManager: 'grove-test',
      force: true,
      resourceType: crdType,
    });
  }
  const grove = [
    resourceTypes.relayPools,
    resourceTypes.domains,
    resourceTypes.policies,
    resourceTypes.backupSchedules,
  ];
  await waitFor(
    async () => {
      for (const type of grove) await client.list(type, { namespace: 'default' });
      return true;
    },
    'the Grove CRDs to be served',
    30_000,
    200,
  );
}

export async function createNamespace(client: KubeClient, name: string): Promise<void> {
  await client.create(resourceTypes.namespaces, {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name },
  });
}
