import { z } from 'zod';
import { generateDeviceKey } from '../../client/cli/device-state.js';
import { ManagerClient } from '../../client/cli/manager-client.js';
import { BRIDGE_MEMBER, BRIDGE_PORT } from '../builders/bridge/index.js';

/** What `grove bridge --device-key` reads: a device of the bridge identity. */
export interface BridgeDeviceKey {
  managerUrl: string;
  domain: string;
  deviceId: string;
  identityId: string;
  privateJwk: Record<string, string>;
}

/** One archive cycle as the bridge reports it (bridge/process/archive-cycles.ts CycleReport). */
export const bridgeCycleSchema = z.looseObject({
  trigger: z.enum(['schedule', 'immediate', 'manual']),
  startedAt: z.string(),
  finishedAt: z.string(),
  outcome: z.enum(['Succeeded', 'Failed']),
  workspaces: z.int().min(0),
  segmentsSealed: z.int().min(0),
  messagesSealed: z.int().min(0),
  bytesSealed: z.int().min(0),
  segmentsPruned: z.int().min(0),
  errors: z.array(z.looseObject({ workspace: z.string(), code: z.string(), message: z.string() })),
});
export type BridgeCycle = z.infer<typeof bridgeCycleSchema>;

/** GET /v1/status of a bridge (bridge/main.ts), the fields the operator copies. */
export const bridgeStatusSchema = z.looseObject({
  connected: z.boolean(),
  lastScheduleTime: z.string().optional(),
  lastSuccessfulTime: z.string().optional(),
  nextScheduleTime: z.string().optional(),
  recent: z.array(bridgeCycleSchema).max(100),
});
export type BridgeStatus = z.infer<typeof bridgeStatusSchema>;

/**
 * What the BackupSchedule controller needs beyond the Kubernetes API: the Manager (to
 * register the bridge and enroll its device) and each bridge's status port.
 */
export interface BridgeDeps {
  /** The Manager's URL, as bridge pods reach it (written into the device key). */
  managerUrl: string;
  /** Registers the bridge identity of `domain` and the workspaces it archives. */
  register(domain: string, selection: object): Promise<void>;
  /** Enrolls a new device of the bridge identity; the private key never leaves the operator. */
  enroll(domain: string, deviceName: string): Promise<BridgeDeviceKey>;
  /** A bridge's /v1/status, read through its Service. */
  status(namespace: string, service: string): Promise<BridgeStatus>;
  /** ServiceAccount of bridge pods (the chart's). */
  serviceAccountName?: string;
  /**
   * The namespace that ServiceAccount exists in (the chart makes it in its release namespace
   * only); bridges elsewhere run as their namespace's default one. Any namespace when absent.
   */
  serviceAccountNamespace?: string;
}

/** `--bridge-service-account NAME` or `NAMESPACE/NAME`. */
export function parseBridgeServiceAccount(value: string): {
  serviceAccountName: string;
  serviceAccountNamespace?: string;
} {
  const parts = value.split('/');
  const dnsLabel = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
  const name = parts.at(-1) ?? '';
  const namespace = parts.length === 2 ? parts[0] : undefined;
  if (parts.length > 2 || !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(name)) {
    throw new Error(`must be NAME or NAMESPACE/NAME of a ServiceAccount, got "${value}"`);
  }
  if (namespace !== undefined && !dnsLabel.test(namespace)) {
    throw new Error(`"${namespace}" is not a namespace name (in "${value}")`);
  }
  return {
    serviceAccountName: name,
    ...(namespace === undefined ? {} : { serviceAccountNamespace: namespace }),
  };
}

/** The ServiceAccount for a bridge pod in `namespace`: undefined means the default one. */
export function bridgeServiceAccountIn(deps: BridgeDeps, namespace: string): string | undefined {
  if (deps.serviceAccountName === undefined) return undefined;
  if (deps.serviceAccountNamespace !== undefined && deps.serviceAccountNamespace !== namespace) {
    return undefined;
  }
  return deps.serviceAccountName;
}

const STATUS_TIMEOUT_MS = 5000;

/**
 * The real BridgeDeps: the Manager's admin API with an admin token (from a Secret, never a
 * flag), and the bridge's status at `statusUrl` (`{service}` and `{namespace}` replaced).
 */
export function managerBridgeDeps(options: {
  managerUrl: string;
  adminToken: string;
  statusUrl?: string;
  serviceAccountName?: string;
  serviceAccountNamespace?: string;
}): BridgeDeps {
  const admin = new ManagerClient(options.managerUrl, options.adminToken);
  const template = options.statusUrl ?? `http://{service}.{namespace}.svc:${String(BRIDGE_PORT)}`;
  const path = (domain: string, ...rest: string[]) =>
    ['/v1/admin/domains', domain, ...rest].map(encodeURIComponent).join('/').replace(/%2F/g, '/');
  return {
    managerUrl: options.managerUrl,
    ...(options.serviceAccountName === undefined
      ? {}
      : { serviceAccountName: options.serviceAccountName }),
    ...(options.serviceAccountNamespace === undefined
      ? {}
      : { serviceAccountNamespace: options.serviceAccountNamespace }),
    register: async (domain, selection) => {
      await admin.request('POST', path(domain, 'bridges', BRIDGE_MEMBER), z.unknown(), {
        body: { displayName: 'Data Bridge', ...selection },
      });
    },
    enroll: async (domain, deviceName) => {
      const { code } = await admin.issueCode(domain, BRIDGE_MEMBER, { ttlSeconds: 300 });
      const key = generateDeviceKey();
      const enrolled = await admin.enroll({ code, publicKey: key.publicJwk.x, deviceName });
      return {
        managerUrl: options.managerUrl,
        domain: enrolled.domain,
        deviceId: enrolled.deviceId,
        identityId: enrolled.identityId,
        privateJwk: key.privateJwk,
      };
    },
    status: async (namespace, service) => {
      const url = `${template.replaceAll('{service}', service).replaceAll('{namespace}', namespace)}/v1/status`;
      const response = await fetch(url, { signal: AbortSignal.timeout(STATUS_TIMEOUT_MS) });
      if (!response.ok) throw new Error(`${url} answered ${String(response.status)}`);
      const text = await response.text();
      if (text.length > 1_000_000) throw new Error(`${url} answered more than 1 MB`);
      return bridgeStatusSchema.parse(JSON.parse(text));
    },
  };
}
