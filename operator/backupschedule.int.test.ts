// The BackupSchedule controller as a real operator process against a real kube-apiserver, with
// a real Manager, Redis and relays, and a real `grove bridge` started here from the device key
// the operator wrote (no kubelet: the test runs the pod's process and marks the Deployment
// ready itself).

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN_TOKEN, BridgeWorld, PASSWORD } from '../bridge/test/bridge-world.js';
import type { BridgeProcess } from '../test/support/bridge-process.js';
import { createNamespace, installGroveCrds } from '../test/support/grove-crds.js';
import { KubeApiServer } from '../test/support/kube-apiserver.js';
import { OperatorProcess } from '../test/support/operator-process.js';
import { waitFor } from '../test/support/ports.js';
import { KubeClient } from '../kube/kube-client.js';
import type { KubeObject } from '../kube/kube-object.js';
import { resourceTypes as t } from '../kube/resource-types.js';

const ns = 'grove-bs';
let kube: KubeApiServer | undefined;
let client: KubeClient;
let operator: OperatorProcess | undefined;
let world: BridgeWorld;
let dir: string;
let forwarder: Server;
/** The bridge process the forwarder answers for (the "pod" behind the bridge Service). */
let bridge: BridgeProcess | undefined;

type Json = Record<string, unknown>;
const field = (object: KubeObject | undefined, path: string): unknown =>
  path.split('.').reduce<unknown>((value, key) => (value as Json | undefined)?.[key], object);
const conditionOf = (object: KubeObject | undefined, type: string) =>
  (field(object, 'status.conditions') as Json[] | undefined)?.find((c) => c.type === type);

async function until<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> {
  return waitFor(check, what, timeoutMs, 100).catch((error: unknown) => {
    throw new Error(
      `${String(error)}\noperator log tail:\n${operator?.lines.slice(-15).join('\n') ?? ''}`,
    );
  });
}

const schedule = (name: string) => client.get(t.backupSchedules, ns, name);

async function eventReasons(name: string): Promise<string[]> {
  const list = await client.list(t.events, {
    namespace: ns,
    fieldSelector: `involvedObject.name=${name}`,
  });
  return list.items.map((event) => String((event as Json).reason));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'grove-bs-'));
  world = await BridgeWorld.start({
    members: ['alice', 'bob'],
    workspaces: { team: ['alice', 'bob'], other: ['alice', 'bob'] },
  });
  // The bridge Service, played by a forwarder to whichever bridge process runs.
  forwarder = createServer((request, response) => {
    if (bridge === undefined || !bridge.running) {
      response.writeHead(503).end();
      return;
    }
    fetch(`${bridge.url}${request.url ?? '/'}`)
      .then(async (answer) => response.writeHead(answer.status).end(await answer.text()))
      .catch(() => response.writeHead(502).end());
  });
  await new Promise<void>((resolve) => forwarder.listen(0, '127.0.0.1', resolve));
  const statusUrl = `http://127.0.0.1:${String((forwarder.address() as AddressInfo).port)}`;
  kube = await KubeApiServer.start({
    beforeControllerManager: async (server) => {
      client = await KubeClient.fromKubeConfig({ kubeconfigPath: server.kubeconfigPath });
      await installGroveCrds(client);
    },
  });
  await createNamespace(client, ns);
  const tokenFile = join(dir, 'manager-token');
  writeFileSync(tokenFile, ADMIN_TOKEN, { mode: 0o600 });
  operator = await OperatorProcess.start({
    kubeconfigPath: kube.kubeconfigPath,
    resyncSeconds: 30,
    extraArgs: [
      '--manager-url',
      world.manager.url,
      '--manager-token-file',
      tokenFile,
      '--bridge-service-account',
      `${ns}/grove-bridge`,
      '--bridge-status-url',
      statusUrl,
      '--bridge-poll',
      '1',
    ],
  });
  await operator.waitReady();
  await client.create(t.secrets, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'archive-password', namespace: ns },
    stringData: { password: PASSWORD },
  });
  await client.create(t.domains, {
    apiVersion: 'grove.dev/v1alpha1',
    kind: 'Domain',
    metadata: { name: 'acme', namespace: ns },
    spec: { relayPools: ['main'] },
  });
}, 180_000);

afterAll(async () => {
  await bridge?.kill9();
  await operator?.stop();
  client.close();
  await kube?.stop();
  await world.stop();
  forwarder.close();
  rmSync(dir, { recursive: true, force: true });
});

const backupSchedule = (name: string, spec: Json = {}): KubeObject => ({
  apiVersion: 'grove.dev/v1alpha1',
  kind: 'BackupSchedule',
  metadata: { name, namespace: ns },
  spec: {
    domain: 'acme',
    schedule: '0 3 * * *',
    timeZone: 'Europe/Paris',
    workspaces: { include: ['team'] },
    destination: { pvc: { claimName: 'archives' } },
    encryption: { passwordSecretRef: { name: 'archive-password', key: 'password' } },
    ...spec,
  },
});

/** The device key the operator wrote, as the bridge pod would mount it. */
async function deviceKeyFile(): Promise<string> {
  const secret = await client.get(t.secrets, ns, 'acme-bridge-device');
  const encoded = (secret as { data?: Record<string, string> } | undefined)?.data?.['device.json'];
  if (encoded === undefined) throw new Error('no device.json in the bridge Secret');
  const file = join(dir, 'device.json');
  writeFileSync(file, Buffer.from(encoded, 'base64'), { mode: 0o600 });
  return file;
}

async function markBridgeReady(): Promise<void> {
  await client.patch(
    t.deployments,
    ns,
    'acme-bridge',
    { status: { replicas: 1, readyReplicas: 1, updatedReplicas: 1, availableReplicas: 1 } },
    { type: 'merge', subresource: 'status' },
  );
}

const archivePath = () => join(dir, 'archive');

describe('operator › BackupSchedule', () => {
  it('enrolls the bridge device through the Manager and builds the bridge Deployment', async () => {
    await client.create(t.backupSchedules, backupSchedule('nightly'));
    const deployment = await until('the bridge Deployment', () =>
      client.get(t.deployments, ns, 'acme-bridge'),
    );
    expect(field(deployment, 'spec.template.metadata.labels')).toMatchObject({
      'app.kubernetes.io/component': 'bridge',
    });
    expect(field(deployment, 'spec.template.spec.serviceAccountName')).toBe('grove-bridge');
    expect(deployment.metadata.ownerReferences?.[0]).toMatchObject({
      kind: 'BackupSchedule',
      name: 'nightly',
    });
    const containers = field(deployment, 'spec.template.spec.containers') as Json[];
    expect(containers[0]?.args).toEqual(
      expect.arrayContaining(['--schedule', '0 3 * * *', '--time-zone', 'Europe/Paris']),
    );
    expect(JSON.stringify(deployment)).not.toContain('privateJwk');
    // The children are applied one after the other: the Service may follow the Deployment.
    await until('the bridge Service', () => client.get(t.services, ns, 'acme-bridge'));
    // Its port runs cycles unauthenticated: only the operator and scrapers may reach it.
    const policy = await until('the bridge NetworkPolicy', () =>
      client.get(t.networkPolicies, ns, 'acme-bridge'),
    );
    expect(field(policy, 'spec.podSelector.matchLabels')).toEqual(
      field(deployment, 'spec.selector.matchLabels'),
    );
    expect(field(policy, 'spec.policyTypes')).toEqual(['Ingress']);

    // The Manager registered the bridge with the schedule's workspaces and knows its device.
    const key = JSON.parse(readFileSync(await deviceKeyFile(), 'utf8')) as {
      deviceId: string;
      identityId: string;
      managerUrl: string;
    };
    expect(key).toMatchObject({ identityId: 'grove-bridge', managerUrl: world.manager.url });
    const registered = await world.manager.api<{ id: string; selection: unknown }[]>(
      'GET',
      '/v1/admin/domains/acme/bridges',
    );
    expect(registered.body).toEqual([
      expect.objectContaining({ id: 'grove-bridge', selection: { ids: ['team'] } }),
    ]);
    const roles = await world.manager.api<{ members: { id: string; role: string }[] }>(
      'GET',
      '/v1/admin/domains/acme/workspaces/team/roles',
    );
    expect(roles.body.members).toContainEqual({ id: 'grove-bridge', role: 'bridge' });

    // Not ready while no bridge pod runs; the next cycle is known from the schedule alone.
    const status = await until('status with the next cycle', async () => {
      const current = await schedule('nightly');
      return conditionOf(current, 'Ready')?.reason === 'BridgeStarting' &&
        field(current, 'status.nextScheduleTime') !== undefined
        ? current
        : undefined;
    });
    const next = new Date(String(field(status, 'status.nextScheduleTime')));
    // 03:00 in Paris is 01:00 or 02:00 UTC.
    expect([1, 2]).toContain(next.getUTCHours());
    expect(conditionOf(status, 'LastCycleSucceeded')).toMatchObject({
      status: 'Unknown',
      reason: 'NoCycleYet',
    });
    expect(await eventReasons('nightly')).toEqual(expect.arrayContaining(['BridgeEnrolled']));
  });

  it('copies the bridge’s cycles into the status, with Events, once the bridge runs', async () => {
    bridge = await world.startBridge([
      '--device-key',
      await deviceKeyFile(),
      '--path',
      archivePath(),
      '--schedule',
      '0 3 * * *',
      '--time-zone',
      'Europe/Paris',
      '--immediate',
    ]);
    await markBridgeReady();
    const alice = await world.device('alice', 'alice-phone');
    for (let index = 0; index < 5; index++)
      await alice.client.send(['workspace:team'], Buffer.from(`m${String(index)}`));
    await bridge.cycle();
    const status = await until('a ready schedule with two cycles', async () => {
      const current = await schedule('nightly');
      const cycles = field(current, 'status.recentCycles') as Json[] | undefined;
      return conditionOf(current, 'Ready')?.status === 'True' && cycles?.length === 2
        ? current
        : undefined;
    });
    const cycles = field(status, 'status.recentCycles') as Json[];
    expect(cycles.map((cycle) => [cycle.trigger, cycle.outcome])).toEqual([
      ['manual', 'Succeeded'],
      ['immediate', 'Succeeded'],
    ]);
    expect(cycles[0]?.messagesSealed).toBe(5);
    expect(field(status, 'status.lastSuccessfulTime')).toBe(cycles[0]?.finishedAt);
    expect(field(status, 'status.lastScheduleTime')).toBeDefined();
    expect(field(status, 'status.bridge')).toBe('acme-bridge');
    expect(conditionOf(status, 'LastCycleSucceeded')).toMatchObject({
      status: 'True',
      reason: 'CycleSucceeded',
    });
    const reasons = await eventReasons('nightly');
    expect(reasons.filter((reason) => reason === 'CycleSucceeded').length).toBeGreaterThanOrEqual(
      1,
    );
    // What an alert on stale archives reads: the operator's gauges, from the same status.
    if (operator === undefined) throw new Error('no operator');
    const metrics = await (
      await fetch(`http://127.0.0.1:${String(operator.metricsPort)}/metrics`)
    ).text();
    const series = `{namespace="${ns}",name="nightly",domain="acme"}`;
    expect(metrics).toContain(`grove_backupschedule_last_cycle_succeeded${series} 1`);
    expect(metrics).toContain(
      `grove_backupschedule_last_success_timestamp_seconds${series} ${String(
        Date.parse(String(cycles[0]?.finishedAt)) / 1000,
      )}`,
    );
  });

  it('shows a failed cycle as LastCycleSucceeded=False and a Warning Event, then recovers', async () => {
    if (bridge === undefined) throw new Error('no bridge');
    const running = bridge;
    const alice = await world.device('alice', 'alice-tablet');
    const archived = async () => {
      const line = /^grove_bridge_messages_acknowledged_total (\d+)$/m.exec(
        await running.metrics(),
      );
      return Number(line?.[1] ?? 0);
    };
    const before = await archived();
    await alice.client.send(['workspace:team'], Buffer.from('one more'));
    // In the archive's open log before the cycle (a loaded machine delivers it later than the
    // `sent`): otherwise the cycle has nothing to seal and succeeds.
    await until('the message archived', async () => (await archived()) > before);
    // The workspace's segment folder is a file for a while: sealing fails.
    const segments = join(archivePath(), 'acme', 'team', 'segments');
    renameSync(segments, `${segments}.away`);
    writeFileSync(segments, 'not a folder');
    try {
      const report = await bridge.cycle<{ outcome: string }>();
      expect(report.outcome).toBe('Failed');
      const failed = await until('LastCycleSucceeded=False', async () => {
        const current = await schedule('nightly');
        return conditionOf(current, 'LastCycleSucceeded')?.status === 'False' ? current : undefined;
      });
      expect(conditionOf(failed, 'LastCycleSucceeded')?.reason).toBe('CycleFailed');
      expect(String(conditionOf(failed, 'LastCycleSucceeded')?.message)).toMatch(/team: /);
      expect(await eventReasons('nightly')).toContain('CycleFailed');
    } finally {
      rmSync(segments);
      renameSync(`${segments}.away`, segments);
    }
    await bridge.cycle();
    await until('LastCycleSucceeded=True again', async () => {
      const current = await schedule('nightly');
      return conditionOf(current, 'LastCycleSucceeded')?.status === 'True' ? current : undefined;
    });
  });

  it('keeps the cycles it copied when the bridge is gone', async () => {
    await bridge?.kill9();
    const unreachable = await until('Ready=False BridgeUnreachable', async () => {
      const current = await schedule('nightly');
      return conditionOf(current, 'Ready')?.reason === 'BridgeUnreachable' ? current : undefined;
    });
    expect((field(unreachable, 'status.recentCycles') as Json[]).length).toBeGreaterThanOrEqual(4);
  });

  it('refuses a second schedule of the same Domain: one bridge and one archive per Domain', async () => {
    await client.create(t.backupSchedules, backupSchedule('hourly', { schedule: '@hourly' }));
    const second = await until('the second schedule refused', async () => {
      const current = await schedule('hourly');
      return conditionOf(current, 'Ready')?.reason === 'DomainAlreadyScheduled'
        ? current
        : undefined;
    });
    expect(String(conditionOf(second, 'Ready')?.message)).toContain('nightly');
    const deployment = await client.get(t.deployments, ns, 'acme-bridge');
    expect(deployment?.metadata.ownerReferences?.[0]?.name).toBe('nightly');
  });

  it('tells the Manager again when the workspaces change', async () => {
    await client.patch(
      t.backupSchedules,
      ns,
      'nightly',
      { spec: { workspaces: { include: null, selector: { matchLabels: { archive: 'yes' } } } } },
      { type: 'merge' },
    );
    await until('the new selection at the Manager', async () => {
      const answer = await world.manager.api<{ selection: unknown }[]>(
        'GET',
        '/v1/admin/domains/acme/bridges',
      );
      return JSON.stringify(answer.body[0]?.selection).includes('archive') || undefined;
    });
    // The operator tells the Manager first, then records the Secret and the event: under load
    // the event can come a moment after the Manager has the selection.
    await until(
      'the BridgeWorkspacesChanged event',
      async () => (await eventReasons('nightly')).includes('BridgeWorkspacesChanged') || undefined,
    );
  });
});
