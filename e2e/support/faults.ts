import { e2eEnv } from './env.js';
import { POOL, relayPods } from './grove.js';
import { kubectl, mustGet, waitFor } from './kube.js';

export const CONFIG_HASH = 'grove.dev/config-hash';

/** The relay Deployment's pod template annotations and image. */
export async function relayTemplate(): Promise<{ configHash: string; image: string }> {
  const deployment = await mustGet('deployment', `${POOL}-relay`);
  const template = (
    deployment.spec as {
      template: {
        metadata: { annotations?: Record<string, string> };
        spec: { containers: { image: string }[] };
      };
    }
  ).template;
  return {
    configHash: template.metadata.annotations?.[CONFIG_HASH] ?? '',
    image: template.spec.containers[0]?.image ?? '',
  };
}

/** Waits until the operator changed the relay pod template (a rollout started). */
export async function waitTemplateChange(
  before: { configHash: string; image: string },
  what: 'configHash' | 'image',
): Promise<{ configHash: string; image: string }> {
  return waitFor(`the relay pod template's ${what} to change`, async () => {
    const now = await relayTemplate();
    return now[what] !== before[what] ? now : undefined;
  });
}

/** `kubectl delete pod --grace-period=0 --force` of `count` relay pods; returns their names. */
export async function forceDeleteRelays(count: number): Promise<string[]> {
  const pods = (await relayPods()).slice(0, count).map((p) => p.metadata.name);
  if (pods.length < count) throw new Error(`only ${pods.length} relay pods to delete`);
  await kubectl([
    '-n',
    e2eEnv().namespace,
    'delete',
    'pod',
    ...pods,
    '--grace-period=0',
    '--force',
    '--wait=false',
  ]);
  return pods;
}

/** Deletes the built-in Redis pod and waits for its replacement to be Ready; returns ms. */
export async function replaceRedisPod(): Promise<{ deletedUid: string; readyAfterMs: number }> {
  const name = `${POOL}-redis-0`;
  const before = await mustGet('pod', name);
  const started = performance.now();
  await kubectl(['-n', e2eEnv().namespace, 'delete', 'pod', name, '--wait=false']);
  await waitFor(
    'the Redis pod replaced and Ready',
    async () => {
      const pod = await mustGet('pod', name);
      if (pod.metadata.uid === before.metadata.uid) return undefined;
      const conditions = (pod.status?.conditions ?? []) as { type: string; status: string }[];
      return conditions.some((c) => c.type === 'Ready' && c.status === 'True') ? true : undefined;
    },
    { timeoutMs: 180_000 },
  );
  return {
    deletedUid: before.metadata.uid ?? '',
    readyAfterMs: Math.round(performance.now() - started),
  };
}

/** `kubectl scale relaypool` (the scale subresource). */
export async function scalePool(replicas: number): Promise<void> {
  await kubectl(['-n', e2eEnv().namespace, 'scale', 'relaypool', POOL, `--replicas=${replicas}`]);
}
