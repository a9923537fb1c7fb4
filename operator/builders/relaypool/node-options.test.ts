import { describe, expect, it } from '@jest/globals';
import type { KubeObject } from '../../../kube/kube-object.js';
import { makeInput } from './fixtures.js';
import { buildRelayPoolChildren } from './index.js';

function relayEnv(children: KubeObject[]): { name: string; value?: string }[] {
  const deployment = children.find((object) => object.kind === 'Deployment') as unknown as {
    spec: { template: { spec: { containers: { env: { name: string; value?: string }[] }[] } } };
  };
  return deployment.spec.template.spec.containers[0]?.env ?? [];
}

describe('relay Deployment NODE_OPTIONS', () => {
  it('bounds the old generation to 75 % of the relay container memory limit', () => {
    const children = buildRelayPoolChildren(
      makeInput({ resources: { limits: { memory: '2Gi' } } }),
    );
    expect(relayEnv(children).find((env) => env.name === 'NODE_OPTIONS')).toEqual({
      name: 'NODE_OPTIONS',
      value: '--max-old-space-size=1536',
    });
  });

  it('is left out without a memory limit (Node and the image decide)', () => {
    for (const resources of [undefined, { requests: { memory: '1Gi' } }]) {
      const children = buildRelayPoolChildren(
        makeInput(resources === undefined ? {} : { resources }),
      );
      expect(relayEnv(children).map((env) => env.name)).not.toContain('NODE_OPTIONS');
    }
  });
});
