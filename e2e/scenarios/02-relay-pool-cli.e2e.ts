/**
 * Scenario 2: `kubectl apply` of a RelayPool (built-in Redis on a PVC, 3 relays, a NodePort
 * Service) and a Domain; both Ready, the pool's endpoints (reachable from outside) in status,
 * and the Manager fully Ready on the pool's Redis. Then, from the host, the real CLI
 * (`node bin/grove.js`, a process of its own) adds members, enrolls two devices through the
 * Manager's Service and exchanges messages through the relay Service at the addresses the
 * Manager gave the devices, over WebSocket and over long-poll, both while the recipient is
 * offline (store and forward) and while it listens.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { join } from 'node:path';
import { managerUrl, relayUrls } from '../support/access.js';
import { grove, groveOk } from '../support/cli.js';
import {
  DOMAIN,
  POOL,
  adminToken,
  deviceRoot,
  domainManifest,
  ensureGrove,
  installRelease,
  relayPoolManifest,
  releaseInstalled,
  waitPoolSettled,
} from '../support/grove.js';
import { apply, isReadyNow, listObjects, mustGet, waitFor } from '../support/kube.js';
import { reportFigures, since } from '../support/report.js';

const figures: Record<string, unknown> = {};
let devices: { dir: string; remove: () => Promise<void> };
let cliEnv: Record<string, string>;
const state = (name: string) => join(devices.dir, name);

beforeAll(async () => {
  devices = await deviceRoot();
  if (!(await releaseInstalled())) await installRelease();
});
afterAll(async () => {
  reportFigures('relay-pool-cli', figures);
  await devices.remove();
});

describe('a RelayPool and a Domain applied with kubectl', () => {
  test('become Ready with their endpoints, the Redis volume bound', async () => {
    const started = performance.now();
    await apply(relayPoolManifest(3));
    await apply(domainManifest());
    const pool = await waitPoolSettled(3);
    const domain = await waitFor('Domain Ready', async () => {
      const d = await mustGet('domain', DOMAIN);
      return isReadyNow(d) ? d : undefined;
    });
    figures.poolAndDomainReadyMs = since(started);
    const endpoints = await relayUrls(POOL);
    expect((pool.status as { endpoints?: string[] }).endpoints).toEqual(endpoints);
    expect(endpoints.every((url) => url.startsWith('ws://'))).toBe(true);
    const domainStatus = domain.status as {
      publicKeys?: { kid: string }[];
      signingKeySecret?: string;
    };
    await waitFor('the Domain to list the pool endpoints', async () => {
      const d = await mustGet('domain', DOMAIN);
      const urls = (d.status as { relayUrls?: string[] }).relayUrls;
      return JSON.stringify(urls) === JSON.stringify(endpoints) ? true : undefined;
    });
    expect(domainStatus.publicKeys?.length).toBeGreaterThanOrEqual(1);
    expect(domainStatus.signingKeySecret).toBe(`${DOMAIN}-signing-key`);
    const redis = await mustGet('statefulset', `${POOL}-redis`);
    expect((redis.status as { readyReplicas?: number }).readyReplicas).toBe(1);
    const claims = await listObjects('pvc', { selector: `app.kubernetes.io/instance=${POOL}` });
    expect(claims.map((c) => (c.status as { phase?: string }).phase)).toEqual(['Bound']);
    figures.endpoints = endpoints;
    figures.storageClass = (claims[0]?.spec as { storageClassName?: string }).storageClassName;
  });

  test('the Manager becomes fully Ready on the pool Redis and accepts the bootstrap token', async () => {
    await ensureGrove();
    const url = await managerUrl();
    const started = performance.now();
    await waitFor('the Manager /readyz', async () =>
      (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(3000) })).ok ? true : undefined,
    );
    figures.managerReadyMs = since(started);
    const token = await adminToken();
    const whoami = await fetch(`${url}/v1/admin/whoami`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(whoami.status).toBe(200);
    const wrong = await fetch(`${url}/v1/admin/whoami`, {
      headers: { authorization: 'Bearer not-the-token' },
    });
    expect(wrong.status).toBe(401);
    cliEnv = { GROVE_MANAGER_URL: url, GROVE_ADMIN_TOKEN: token };
  });
});

describe('the CLI from outside the cluster', () => {
  test('adds members and enrolls a device for each through the Manager Service', async () => {
    const timings: Record<string, number> = {};
    for (const member of ['alice', 'bob']) {
      await groveOk(
        ['admin', 'members', 'add', '--domain', DOMAIN, '--id', member, '--name', member],
        {
          env: cliEnv,
        },
      );
      const code = await groveOk(
        ['admin', 'codes', 'issue', '--domain', DOMAIN, '--member', member],
        { env: cliEnv },
      );
      const enrolled = await groveOk([
        'enroll',
        '--manager',
        cliEnv.GROVE_MANAGER_URL ?? '',
        '--code',
        String(code.lines[0]?.code),
        '--state',
        state(member),
      ]);
      timings[`enroll-${member}`] = enrolled.ms;
      expect(enrolled.lines[0]).toMatchObject({ identityId: member, domain: DOMAIN });
      expect(enrolled.lines[0]?.relays).toEqual(figures.endpoints);
    }
    const list = await groveOk(
      ['admin', 'devices', 'list', '--domain', DOMAIN, '--member', 'bob'],
      {
        env: cliEnv,
      },
    );
    expect(list.lines).toHaveLength(1);
    figures.enrollMs = timings;
  });

  for (const transport of ['websocket', 'long-poll'] as const) {
    test(`exchanges messages over ${transport}, stored while offline and live`, async () => {
      const [from, to] = transport === 'websocket' ? ['alice', 'bob'] : ['bob', 'alice'];
      // No --relay: the CLI uses the relays the Manager gave the device (status.endpoints).
      const common = ['--transport', transport];
      const offline = await groveOk([
        'send',
        '--state',
        state(from),
        ...common,
        '--to',
        `identity:${to}`,
        '--data',
        `stored for ${to} over ${transport}`,
      ]);
      expect(offline.lines[0]).toMatchObject({ recipients: 1 });
      const listening = grove([
        'listen',
        '--state',
        state(to),
        ...common,
        '--count',
        '2',
        '--timeout',
        '30',
      ]);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const live = await groveOk([
        'send',
        '--state',
        state(from),
        ...common,
        '--to',
        `identity:${to}`,
        '--data',
        `live to ${to} over ${transport}`,
      ]);
      const received = await listening;
      expect(received.stderr).toBe('');
      expect(received.code).toBe(0);
      const messages = received.stdout
        .trim()
        .split('\n')
        .map(
          (line) => JSON.parse(line) as { id: string; data: string; from: { identity: string } },
        );
      expect(messages.map((m) => m.data)).toEqual([
        `stored for ${to} over ${transport}`,
        `live to ${to} over ${transport}`,
      ]);
      expect(messages.map((m) => m.id)).toEqual([offline.lines[0]?.id, live.lines[0]?.id]);
      expect(messages.every((m) => m.from.identity === from)).toBe(true);
      figures[transport] = { sendMs: [offline.ms, live.ms], listenMs: received.ms };
      // Acked: nothing comes again.
      const again = await grove([
        'listen',
        '--state',
        state(to),
        ...common,
        '--count',
        '1',
        '--timeout',
        '2',
      ]);
      expect(again.code).toBe(3);
      expect(again.stdout).toBe('');
    });
  }
});
