import { describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { backupScheduleSchema, type BackupSchedule } from '../../../crds/backupschedule.js';
import {
  BridgeBuildError,
  bridgeSelection,
  buildBridgeChildren,
  buildBridgeDeviceSecret,
} from './index.js';

function schedule(spec: Record<string, unknown>, uid = 'uid-1'): BackupSchedule {
  return backupScheduleSchema.parse({
    apiVersion: 'grove.dev/v1alpha1',
    kind: 'BackupSchedule',
    metadata: { name: 'nightly', namespace: 'grove', uid },
    spec: {
      domain: 'acme',
      schedule: '30 2 * * *',
      encryption: { passwordSecretRef: { name: 'archive-password', key: 'password' } },
      destination: { pvc: { claimName: 'archives' } },
      ...spec,
    },
  });
}

const goldenCases: Record<string, BackupSchedule> = {
  'pvc-defaults': schedule({}),
  's3-everything': schedule({
    schedule: '@hourly',
    timeZone: 'Europe/Paris',
    suspend: true,
    immediate: true,
    retention: { keepLast: 30, maxAgeDays: 90 },
    workspaces: { selector: { matchLabels: { archive: 'yes' } }, exclude: ['scratch'] },
    destination: {
      s3: {
        bucket: 'grove-archives',
        prefix: 'prod/acme',
        endpoint: 'https://s3.example.com',
        region: 'eu-west-3',
        forcePathStyle: true,
        credentialsSecret: 's3-credentials',
      },
    },
  }),
};

const build = (value: BackupSchedule) =>
  buildBridgeChildren({
    schedule: value,
    image: 'ghcr.io/grove/grove:1.2.3',
    serviceAccountName: 'grove-bridge',
    deviceId: 'dev-01',
  });

describe('the Data Bridge builder', () => {
  it.each(Object.keys(goldenCases))('renders %s as in testdata/<case>.yaml', (name) => {
    const value = goldenCases[name];
    if (value === undefined) throw new Error(name);
    const file = new URL(`./testdata/${name}.yaml`, import.meta.url);
    const rendered = build(value)
      .map((object) => stringify(object, { lineWidth: 0, version: '1.1', singleQuote: true }))
      .join('---\n');
    if (process.env['UPDATE_GOLDEN'] === '1') writeFileSync(file, rendered);
    expect(existsSync(file)).toBe(true);
    expect(rendered).toBe(readFileSync(file, 'utf8'));
  });

  it('labels bridge pods with the bridge component and never puts a secret in the arguments', () => {
    for (const value of Object.values(goldenCases)) {
      const [deployment] = build(value);
      const template = (deployment?.spec as { template: { metadata: { labels: object } } })
        .template;
      expect(template.metadata.labels).toMatchObject({ 'app.kubernetes.io/component': 'bridge' });
      const text = JSON.stringify(deployment);
      expect(text).not.toMatch(/privateJwk|AWS_SECRET_ACCESS_KEY":"/);
    }
  });

  it('opens the bridge port only to the operator and the metrics scrapers', () => {
    const [, , policy] = buildBridgeChildren({
      schedule: schedule({}),
      image: 'grove:1',
      deviceId: 'dev-01',
      groveNamespaces: ['grove-system'],
    });
    expect(policy?.kind).toBe('NetworkPolicy');
    const spec = policy?.spec as {
      podSelector: { matchLabels: Record<string, string> };
      policyTypes: string[];
      ingress: { from: Record<string, unknown>[]; ports: { port: number }[] }[];
    };
    // It selects exactly the bridge's pods (the Deployment's selector).
    expect(spec.podSelector.matchLabels).toEqual({
      'app.kubernetes.io/instance': 'acme-bridge',
      'app.kubernetes.io/component': 'bridge',
    });
    // Egress stays open: relays, the Manager and S3 may be anywhere.
    expect(spec.policyTypes).toEqual(['Ingress']);
    expect(spec.ingress[0]?.from).toEqual([
      {
        podSelector: { matchLabels: { 'app.kubernetes.io/component': 'operator' } },
        namespaceSelector: {
          matchExpressions: [
            {
              key: 'kubernetes.io/metadata.name',
              operator: 'In',
              values: ['grove', 'grove-system'],
            },
          ],
        },
      },
    ]);
    expect(spec.ingress[1]?.from).toEqual([{ podSelector: {} }]);
    expect(spec.ingress.every((rule) => rule.ports[0]?.port === 8080)).toBe(true);

    const scraped = buildBridgeChildren({
      schedule: schedule({
        networkPolicy: {
          metricsFrom: [{ namespaceSelector: { matchLabels: { team: 'monitoring' } } }],
        },
      }),
      image: 'grove:1',
      deviceId: 'dev-01',
    })[2]?.spec as { ingress: { from: unknown[] }[] };
    expect(scraped.ingress[1]?.from).toEqual([
      { podSelector: {}, namespaceSelector: { matchLabels: { team: 'monitoring' } } },
    ]);
  });

  it('makes no NetworkPolicy when spec.networkPolicy.enabled is false', () => {
    const children = build(schedule({ networkPolicy: { enabled: false } }));
    expect(children.map((child) => child.kind)).toEqual(['Deployment', 'Service']);
  });

  it('refuses a schedule without uid (it must own what it makes)', () => {
    expect(() => build(schedule({}, ''))).toThrow(BridgeBuildError);
  });

  it('keeps the device key in the Secret only', () => {
    const secret = buildBridgeDeviceSecret(schedule({}), {
      managerUrl: 'http://manager',
      domain: 'acme',
      deviceId: 'dev-01',
      identityId: 'grove-bridge',
      privateJwk: { kty: 'OKP', d: 'secret' },
    });
    expect(secret.metadata.name).toBe('acme-bridge-device');
    expect(secret.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'BackupSchedule' });
    expect(
      JSON.parse(
        (secret as unknown as { stringData: Record<string, string> }).stringData['device.json'] ??
          '',
      ),
    ).toMatchObject({ deviceId: 'dev-01' });
  });

  it('tells the Manager the workspaces by id list, selector or all, with exclusions', () => {
    expect(bridgeSelection(schedule({}))).toEqual({ workspaces: { all: true } });
    expect(
      bridgeSelection(schedule({ workspaces: { include: ['a', 'b'], exclude: ['c'] } })),
    ).toEqual({
      workspaces: { ids: ['a', 'b'] },
      exclude: ['c'],
    });
    expect(
      bridgeSelection(schedule({ workspaces: { selector: { matchLabels: { x: 'y' } } } })),
    ).toEqual({ workspaces: { selector: { matchLabels: { x: 'y' } } } });
  });
});
