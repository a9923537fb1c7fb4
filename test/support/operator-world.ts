import { KubeClient } from '../../kube/kube-client.js';
import { createNamespace, installGroveCrds } from './grove-crds.js';
import { KubeApiServer } from './kube-apiserver.js';
import { OperatorProcess, type OperatorProcessOptions } from './operator-process.js';
import { waitFor } from './ports.js';

/**
 * A real kube-apiserver (with kube-controller-manager, for garbage collection) with Grove's
 * CRDs and a namespace, and a real `grove operator` process on it, ready. The setup the
 * operator's integration tests share.
 */
export class OperatorWorld {
  private constructor(
    readonly kube: KubeApiServer,
    readonly client: KubeClient,
    readonly operator: OperatorProcess,
  ) {}

  static async start(
    namespace: string,
    operatorOptions: Omit<OperatorProcessOptions, 'kubeconfigPath'> = { resyncSeconds: 30 },
  ): Promise<OperatorWorld> {
    let client: KubeClient | undefined;
    const kube = await KubeApiServer.start({
      controllerManager: true,
      beforeControllerManager: async (server) => {
        client = await KubeClient.fromKubeConfig({ kubeconfigPath: server.kubeconfigPath });
        await installGroveCrds(client);
      },
    });
    let operator: OperatorProcess | undefined;
    try {
      if (client === undefined) throw new Error('the kube-apiserver started without a client');
      await createNamespace(client, namespace);
      operator = await OperatorProcess.start({
        kubeconfigPath: kube.kubeconfigPath,
        ...operatorOptions,
      });
      await operator.waitReady();
      return new OperatorWorld(kube, client, operator);
    } catch (error) {
      await operator?.stop();
      client?.close();
      await kube.stop();
      throw error;
    }
  }

  /** `waitFor`, with the operator's last log lines in the failure. */
  until<T>(
    what: string,
    check: () => Promise<T | undefined | false>,
    timeoutMs: number,
    intervalMs: number,
  ): Promise<T> {
    return waitFor(check, what, timeoutMs, intervalMs).catch((error: unknown) => {
      throw new Error(
        `${String(error)}\noperator log tail:\n${this.operator.lines.slice(-15).join('\n')}`,
      );
    });
  }

  async stop(): Promise<void> {
    await this.operator.stop();
    this.client.close();
    await this.kube.stop();
  }
}
