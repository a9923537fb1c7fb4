import type { V1Ingress } from '@kubernetes/client-node';
import type { RelayPool } from '../../../crds/relaypool.js';
import type { KubeObject } from '../../../kube/kube-object.js';
import { childMetadata, type Plain } from './metadata.js';
import { poolIdentity, relayPoolNames } from './names.js';

/**
 * The Ingress of spec.ingress (undefined without one): every path of the host to the relay
 * Service, so the WebSocket route (/v1/connect) and the long-poll routes (/v1/…) both pass.
 * Named like the Service. With ingress.tls, TLS ends at the Ingress controller.
 */
export function buildRelayIngress(pool: RelayPool): KubeObject | undefined {
  const { ingress } = pool.spec;
  if (ingress === undefined) return undefined;
  const { name } = poolIdentity(pool);
  const service = relayPoolNames(name).relay;
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: childMetadata(pool, service, 'relay', ingress.annotations),
    spec: {
      ...(ingress.className === undefined ? {} : { ingressClassName: ingress.className }),
      ...(ingress.tls === undefined
        ? {}
        : { tls: [{ hosts: [ingress.host], secretName: ingress.tls.secretName }] }),
      rules: [
        {
          host: ingress.host,
          http: {
            paths: [
              {
                path: '/',
                pathType: 'Prefix',
                backend: { service: { name: service, port: { name: 'relay' } } },
              },
            ],
          },
        },
      ],
    },
  } satisfies Plain<V1Ingress> & KubeObject;
}
