import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { KubeClient } from '../../kube/kube-client.js';
import type { KubeApiServer } from './kube-apiserver.js';

/**
 * A ServiceAccount's token from the API server's TokenRequest API (signed with the harness's
 * service-account key), as a pod of that ServiceAccount would get it: what the operator and
 * the Manager authenticate with in a cluster.
 */
export async function serviceAccountToken(
  kube: KubeApiServer,
  namespace: string,
  name: string,
  expirationSeconds = 3600,
): Promise<string> {
  const body = JSON.stringify({
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: { expirationSeconds },
  });
  const text = await new Promise<string>((resolve, reject) => {
    const req = request(
      `${kube.url}/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`,
      {
        method: 'POST',
        ca: readFileSync(kube.pki.caCert),
        cert: readFileSync(kube.pki.adminCert),
        key: readFileSync(kube.pki.adminKey),
        headers: { 'content-type': 'application/json' },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const reply = Buffer.concat(chunks).toString('utf8');
          if ((res.statusCode ?? 0) >= 300) {
            reject(new Error(`TokenRequest for ${namespace}/${name}: ${res.statusCode}: ${reply}`));
          } else resolve(reply);
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
  const token = (JSON.parse(text) as { status?: { token?: string } }).status?.token;
  if (token === undefined || token === '') throw new Error(`no token for ${namespace}/${name}`);
  return token;
}

/** A kubeconfig file (in the harness's dir) that authenticates as that ServiceAccount. */
export async function serviceAccountKubeconfig(
  kube: KubeApiServer,
  namespace: string,
  name: string,
): Promise<string> {
  const token = await serviceAccountToken(kube, namespace, name);
  const ca = readFileSync(kube.pki.caCert).toString('base64');
  const file = join(kube.dir, `sa-${namespace}-${name}.kubeconfig`);
  writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: grove-test',
      '  cluster:',
      `    server: ${kube.url}`,
      `    certificate-authority-data: ${ca}`,
      'users:',
      `- name: ${name}`,
      '  user:',
      `    token: ${token}`,
      'contexts:',
      '- name: grove-test',
      '  context:',
      '    cluster: grove-test',
      `    user: ${name}`,
      'current-context: grove-test',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  return file;
}

/** A client that acts as that ServiceAccount. */
export async function serviceAccountClient(
  kube: KubeApiServer,
  namespace: string,
  name: string,
): Promise<KubeClient> {
  return KubeClient.fromKubeConfig({
    kubeconfigPath: await serviceAccountKubeconfig(kube, namespace, name),
    userAgent: `grove-test-${name}`,
  });
}
