// The values of the Helm chart charts/grove, as a zod schema: the one source of truth for
// values.yaml (its defaults and comments), values.schema.json (which Helm checks on lint,
// template, install and upgrade) and the values table of docs/helm.md. charts/generate-chart.ts
// writes all three; `npm run check:generated` fails when one of them is stale.

import { z } from 'zod';
import { dnsSubdomainPattern, quantityPattern } from '../crds/common.js';
import { DEFAULT_MANAGER_LIMITS } from '../manager/limits.js';

/** The chart's version and the image tag it defaults to; Chart.yaml says the same. */
export const CHART_VERSION = '0.1.0';
export const APP_VERSION = '0.1.0';

/** The uid and gid the image runs as (the Dockerfile creates them). */
export const GROVE_UID = 10001;

const optionalDnsSubdomain = z
  .string()
  .max(253)
  .regex(
    new RegExp(`(${dnsSubdomainPattern.source})|^$`),
    'must be empty or a DNS-1123 subdomain: dot-separated lower-case letters, digits and "-"',
  );

const stringMap = z.record(z.string().min(1), z.string());

const quantity = z
  .union([
    z.string().regex(quantityPattern, 'must be a Kubernetes quantity such as "500m" or "1Gi"'),
    z.number().min(0),
  ])
  .describe('A Kubernetes quantity, e.g. "500m", "256Mi" or 2.');

const resourceList = z.record(z.string().min(1), quantity);

function resources(
  who: string,
  defaults: { requests: Record<string, string>; limits: Record<string, string> },
) {
  return z
    .strictObject({
      requests: resourceList.optional().describe('Resources the scheduler reserves.'),
      limits: resourceList.optional().describe('Upper bounds.'),
    })
    .default(defaults)
    .describe(`Compute resources of the ${who} container.`);
}

const tolerationSchema = z
  .strictObject({
    key: z.string().optional(),
    operator: z.enum(['Exists', 'Equal']).optional(),
    value: z.string().optional(),
    effect: z.enum(['', 'NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional(),
    tolerationSeconds: z.int().optional(),
  })
  .describe('A Kubernetes toleration.');

const freeForm = z.record(z.string(), z.unknown());

const affinitySchema = z
  .strictObject({
    nodeAffinity: freeForm.optional(),
    podAffinity: freeForm.optional(),
    podAntiAffinity: freeForm.optional(),
  })
  .describe('A Kubernetes affinity, as in a Pod spec.');

/** Where the pods of a component run; the same keys for the operator and the Manager. */
function scheduling(who: string) {
  return {
    nodeSelector: stringMap
      .default({})
      .describe(`Node labels the ${who} pods must run on, e.g. {kubernetes.io/os: linux}.`),
    tolerations: z.array(tolerationSchema).default([]).describe(`Tolerations of the ${who} pods.`),
    affinity: affinitySchema.default({}).describe(`Affinity rules of the ${who} pods.`),
    podAnnotations: stringMap.default({}).describe(`Annotations added to the ${who} pods.`),
  };
}

const logLevel = z.enum(['debug', 'info', 'warn', 'error']).default('info');

function serviceAccount(who: string, defaultName: string) {
  return z
    .strictObject({
      create: z
        .boolean()
        .default(true)
        .describe(
          `Create the ${who}'s ServiceAccount. false: use an existing one (name), which the chart ` +
            'still binds its roles to.',
        ),
      name: optionalDnsSubdomain
        .default('')
        .describe(`Name of the ServiceAccount; empty: ${defaultName}.`),
      annotations: stringMap
        .default({})
        .describe('Annotations of the ServiceAccount, e.g. for workload identity.'),
    })
    .prefault({})
    .describe(`The ServiceAccount the ${who} runs as.`);
}

export const operatorValuesSchema = z
  .strictObject({
    replicas: z
      .int()
      .min(0)
      .default(2)
      .describe(
        'Operator pods. With leader election one reconciles and the others are standbys that take ' +
          'over within seconds when it dies (default 2).',
      ),
    leaderElection: z
      .boolean()
      .default(true)
      .describe(
        'Elect a leader with a Lease in the release namespace (--leader-elect). Turn it off only ' +
          'with replicas: 1, or two operators would reconcile at once.',
      ),
    watchNamespace: z
      .string()
      .max(63)
      .regex(
        /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$/,
        'must be empty or a namespace name (a DNS-1123 label)',
      )
      .default('')
      .describe(
        'Namespace whose Grove resources the operator (and the Manager) reconcile, with Roles in ' +
          'that namespace only; empty: the release namespace. Ignored with clusterWide.',
      ),
    clusterWide: z
      .boolean()
      .default(false)
      .describe(
        'Reconcile Grove resources in every namespace, with ClusterRoles: the operator may then ' +
          'read and write Secrets (by name, never list or watch) in every namespace. Off by ' +
          'default: one namespace, Roles there only (docs/helm.md, "RBAC").',
      ),
    logLevel: logLevel.describe(
      'Log level of the operator (GROVE_LOG_LEVEL): debug, info, warn or error.',
    ),
    nodeAddresses: z
      .boolean()
      .default(true)
      .describe(
        'Let the operator list nodes (a ClusterRole of its own, list only) to publish node ' +
          'addresses with the node port as the endpoints of NodePort RelayPools. false: no ' +
          'such grant; NodePort pools then need spec.publicUrls.',
      ),
    resources: resources('operator', {
      requests: { cpu: '100m', memory: '128Mi' },
      limits: { memory: '256Mi' },
    }),
    ...scheduling('operator'),
  })
  .prefault({})
  .describe('The operator: reconciles RelayPools, Domains, Policies and BackupSchedules.');

const seconds = (flag: string, defaultMs: number, what: string) =>
  z
    .number()
    .gt(0)
    .max(3600)
    .default(defaultMs / 1000)
    .describe(`${what} (--${flag}; default ${String(defaultMs / 1000)}).`);

const perMinute = (flag: string, fallback: number, what: string) =>
  z
    .int()
    .min(1)
    .max(10_000_000)
    .default(fallback)
    .describe(`${what} per client address and minute (--${flag}; default ${String(fallback)}).`);

const managerLimitsSchema = z
  .strictObject({
    headersTimeoutSeconds: seconds(
      'headers-timeout',
      DEFAULT_MANAGER_LIMITS.connection.headersTimeoutMs,
      'Seconds a request head may take to arrive',
    ),
    requestTimeoutSeconds: seconds(
      'request-timeout',
      DEFAULT_MANAGER_LIMITS.connection.requestTimeoutMs,
      'Seconds a whole request, head and body, may take',
    ),
    idleTimeoutSeconds: seconds(
      'idle-timeout',
      DEFAULT_MANAGER_LIMITS.connection.idleTimeoutMs,
      'Seconds an idle socket is kept open',
    ),
    maxConnections: z
      .int()
      .min(1)
      .max(10_000_000)
      .default(DEFAULT_MANAGER_LIMITS.connection.maxConnections)
      .describe(
        `Open sockets per Manager pod at most (--max-connections; default ${String(DEFAULT_MANAGER_LIMITS.connection.maxConnections)}).`,
      ),
    rateLimits: z
      .strictObject({
        loginFailuresPerMinute: perMinute(
          'rate-limit-login-failures',
          DEFAULT_MANAGER_LIMITS.rateLimits.loginFailuresPerMinute,
          'Failed admin logins',
        ),
        enrollPerMinute: perMinute(
          'rate-limit-enroll',
          DEFAULT_MANAGER_LIMITS.rateLimits.enrollPerMinute,
          'POST /v1/enroll requests',
        ),
        tokenPerMinute: perMinute(
          'rate-limit-token',
          DEFAULT_MANAGER_LIMITS.rateLimits.tokenPerMinute,
          'POST /v1/token requests',
        ),
      })
      .prefault({})
      .describe('Per-address rate limits of the routes anyone can call (per Manager pod).'),
    trustProxy: z
      .string()
      .max(4096)
      .regex(/^[0-9a-fA-F:.,/ ]*$/, 'must be empty, a number of hops, or addresses/CIDRs')
      .default('')
      .describe(
        'Take the client address from X-Forwarded-For set by these proxies: comma-separated ' +
          'addresses or CIDRs, or a number of hops (--trust-proxy); empty: off, the socket address.',
      ),
    auditMaxFailures: z
      .int()
      .min(100)
      .max(10_000_000)
      .default(DEFAULT_MANAGER_LIMITS.auditMaxFailures)
      .describe(
        `Failure entries kept per audit stream (--audit-max-failures; default ${String(DEFAULT_MANAGER_LIMITS.auditMaxFailures)}).`,
      ),
  })
  .prefault({})
  .describe('What clients may cost the Manager (docs/manager-api.md, "Limits").')
  .refine((limits) => limits.headersTimeoutSeconds <= limits.requestTimeoutSeconds, {
    message: 'headersTimeoutSeconds must not be longer than requestTimeoutSeconds',
    path: ['headersTimeoutSeconds'],
  });

const peerSchema = z
  .strictObject({
    namespaceSelector: freeForm.optional().describe('A label selector of namespaces.'),
    podSelector: freeForm.optional().describe('A label selector of pods.'),
  })
  .describe('A NetworkPolicy peer.');

export const networkPolicyValuesSchema = z
  .strictObject({
    enabled: z
      .boolean()
      .default(true)
      .describe(
        'NetworkPolicies for the operator and the Manager (docs/helm.md, "NetworkPolicies"). ' +
          'Enforced only by a network plugin that implements them. RelayPools make their own ' +
          '(RelayPool spec.networkPolicy; the sample pool takes this value and metricsFrom).',
      ),
    metricsFrom: z
      .array(peerSchema)
      .max(16)
      .default([])
      .describe(
        'Who may scrape the operator (8080) and Manager (9090) metrics ports; empty: any pod of ' +
          'the release namespace. E.g. [{namespaceSelector: {matchLabels: ' +
          '{kubernetes.io/metadata.name: monitoring}}}].',
      ),
    apiServer: z
      .strictObject({
        cidrs: z
          .array(z.string().regex(/^[0-9a-fA-F:.]+\/\d{1,3}$/, 'must be a CIDR'))
          .max(16)
          .default([])
          .describe('Addresses of the Kubernetes API server; empty: any address on its ports.'),
        ports: z
          .array(z.int().min(1).max(65535))
          .min(1)
          .max(8)
          .default([443, 6443])
          .describe('Ports the API server answers on (the kubernetes Service and its endpoints).'),
      })
      .prefault({})
      .describe('Where the operator and the Manager reach the Kubernetes API.'),
    extraEgress: z
      .array(freeForm)
      .max(16)
      .default([])
      .describe(
        'More egress rules (NetworkPolicyEgressRule) for both, e.g. to an external Redis of a ' +
          'RelayPool: [{ports: [{port: 6380}], to: [{ipBlock: {cidr: 10.0.0.0/24}}]}].',
      ),
  })
  .prefault({})
  .describe('NetworkPolicies the chart makes.');

export const managerValuesSchema = z
  .strictObject({
    enabled: z.boolean().default(true).describe('Deploy the Manager (admin API and web UI).'),
    replicas: z.int().min(0).default(1).describe('Manager pods (default 1).'),
    logLevel: logLevel.describe(
      'Log level of the Manager (GROVE_LOG_LEVEL): debug, info, warn or error.',
    ),
    service: z
      .strictObject({
        type: z
          .enum(['ClusterIP', 'NodePort', 'LoadBalancer'])
          .default('ClusterIP')
          .describe('Type of the Manager Service.'),
        port: z.int().min(1).max(65535).default(80).describe('Port of the Manager Service.'),
        annotations: stringMap
          .default({})
          .describe('Annotations of the Service, e.g. for a cloud load balancer.'),
      })
      .prefault({})
      .describe('The Service in front of the Manager pods (container port 8080).'),
    bootstrapTokenSecret: z
      .strictObject({
        name: optionalDnsSubdomain
          .default('')
          .describe(
            'Existing Secret holding the bootstrap admin token. Empty: the chart creates ' +
              '<release>-manager-bootstrap with a random token, kept across upgrades.',
          ),
        key: z
          .string()
          .min(1)
          .max(253)
          .regex(/^[-._a-zA-Z0-9]+$/, 'must be letters, digits, "-", "_" or "."')
          .default('token')
          .describe('Key of the token in that Secret.'),
      })
      .prefault({})
      .describe(
        'The bootstrap admin token (GROVE_BOOTSTRAP_TOKEN), for the first login to the Manager.',
      ),
    redis: z
      .strictObject({
        relayPool: z
          .string()
          .max(46)
          .default('')
          .describe(
            'RelayPool with built-in Redis whose Redis the Manager keeps its data in (members, ' +
              'devices, audit) and where its relays read the directory. Empty: the sample ' +
              'RelayPool when samples.enabled, else "main". The Manager starts once that pool exists.',
          ),
        namespace: z
          .string()
          .max(63)
          .default('')
          .describe(
            'Namespace of that RelayPool; empty: the watched namespace (operator.watchNamespace, ' +
              'else the release namespace).',
          ),
        url: z
          .string()
          .max(2048)
          .regex(/^(rediss?:\/\/\S+)?$/, 'must be empty or a redis:// or rediss:// URL')
          .default('')
          .describe(
            'An external Redis (redis:// or rediss:// URL) instead of a RelayPool’s: overrides relayPool.',
          ),
        cluster: z.boolean().default(false).describe('Whether url is a Redis Cluster.'),
        passwordSecret: z
          .strictObject({
            name: optionalDnsSubdomain
              .default('')
              .describe('Secret holding the password of url; empty: none.'),
            key: z
              .string()
              .min(1)
              .max(253)
              .default('password')
              .describe('Key of the password in that Secret.'),
          })
          .prefault({})
          .describe('Password of the external Redis given by url.'),
      })
      .prefault({})
      .describe('The Redis the Manager uses: a RelayPool’s built-in Redis, or an external one.'),
    limits: managerLimitsSchema,
    serviceAccount: serviceAccount('Manager', '<release>-manager'),
    resources: resources('Manager', {
      requests: { cpu: '50m', memory: '128Mi' },
      limits: { memory: '256Mi' },
    }),
    ...scheduling('Manager'),
  })
  .prefault({})
  .describe('The Manager: admin API and web UI, issues relay tokens.');

export const valuesSchema = z
  .strictObject({
    nameOverride: z
      .string()
      .max(63)
      .default('')
      .describe('Replaces the chart name in resource names and the app.kubernetes.io/name label.'),
    fullnameOverride: z
      .string()
      .max(63)
      .default('')
      .describe('Replaces <release>-<chart> as the prefix of resource names.'),
    image: z
      .strictObject({
        repository: z.string().min(1).default('grove').describe('Repository of the Grove image.'),
        tag: z
          .string()
          .default('')
          .describe(`Tag of the image; empty: the chart's appVersion (${APP_VERSION}).`),
        digest: z
          .string()
          .regex(/^(sha256:[a-f0-9]{64})?$/, 'must be empty or sha256:<64 hex digits>')
          .default('')
          .describe('Digest (sha256:…) to pin the image by; overrides tag when set.'),
        pullPolicy: z
          .enum(['Always', 'IfNotPresent', 'Never'])
          .default('IfNotPresent')
          .describe('Pull policy of the Grove containers.'),
      })
      .prefault({})
      .describe(
        'The single Grove image: the operator and the Manager run it, and the operator gives it ' +
          '(GROVE_IMAGE) to relay pods and built-in Redis pods that name no image of their own.',
      ),
    imagePullSecrets: z
      .array(z.strictObject({ name: z.string().min(1) }))
      .default([])
      .describe('Secrets for pulling the image, e.g. [{name: regcred}].'),
    serviceAccount: serviceAccount('operator', '<release>-operator'),
    operator: operatorValuesSchema,
    manager: managerValuesSchema,
    networkPolicy: networkPolicyValuesSchema,
    metrics: z
      .strictObject({
        serviceMonitor: z
          .strictObject({
            enabled: z
              .boolean()
              .default(false)
              .describe(
                'Create ServiceMonitors (monitoring.coreos.com/v1) for the operator (8080), the ' +
                  'Manager (9090) and the relays of every RelayPool (9090, the operator’s ' +
                  '<pool>-metrics Services); needs the Prometheus Operator CRDs.',
              ),
            interval: z
              .string()
              .regex(/^([0-9]+(ms|s|m|h))+$/, 'must be a duration such as "30s" or "1m"')
              .default('30s')
              .describe('Scrape interval.'),
            labels: stringMap
              .default({})
              .describe(
                'Labels added to the ServiceMonitor, e.g. the release label Prometheus selects.',
              ),
          })
          .prefault({})
          .describe('Prometheus Operator scraping of the metrics Services.'),
      })
      .prefault({})
      .describe(
        'Metrics: the operator’s on port 8080, the Manager’s and the relays’ on 9090, each apart ' +
          'from any public port.',
      ),
    samples: z
      .strictObject({
        enabled: z
          .boolean()
          .default(false)
          .describe(
            'Create a sample RelayPool (2 relays, built-in Redis) and a Domain served by it, in ' +
              'operator.watchNamespace or else the release namespace.',
          ),
        service: z
          .strictObject({
            type: z
              .enum(['ClusterIP', 'NodePort', 'LoadBalancer'])
              .default('ClusterIP')
              .describe(
                'Service type of the sample relays. ClusterIP: reachable only inside the cluster; ' +
                  'NodePort or LoadBalancer: from outside (the address is in the RelayPool status).',
              ),
            port: z.int().min(1).max(65535).default(443).describe('Service port (default 443).'),
            nodePort: z
              .int()
              .min(0)
              .max(65535)
              .default(0)
              .describe('Node port with NodePort or LoadBalancer; 0: Kubernetes picks one.'),
            annotations: stringMap
              .default({})
              .describe('Annotations of the Service, e.g. for a cloud load balancer.'),
          })
          .prefault({})
          .describe('The Service in front of the sample relays (RelayPool spec.service).'),
        publicUrls: z
          .array(
            z.string().regex(/^(wss?|https?):\/\/\S+$/, 'must be a ws(s):// or http(s):// URL'),
          )
          .default([])
          .describe(
            'URLs clients are given for the sample relays (RelayPool spec.publicUrls), e.g. a DNS ' +
              'name in front of them; empty: the operator works them out from the Service or Ingress.',
          ),
        ingress: z
          .strictObject({
            host: z
              .string()
              .max(253)
              .regex(
                new RegExp(`(${dnsSubdomainPattern.source})|^$`),
                'must be empty or a DNS-1123 subdomain',
              )
              .default('')
              .describe('Host of an Ingress in front of the sample relays; empty: no Ingress.'),
            className: z
              .string()
              .default('')
              .describe('ingressClassName; empty: the default class.'),
            annotations: stringMap
              .default({})
              .describe('Annotations of the Ingress, e.g. cert-manager.io/cluster-issuer.'),
            tlsSecretName: optionalDnsSubdomain
              .default('')
              .describe('TLS Secret of the Ingress: TLS ends there and clients get wss://host.'),
          })
          .prefault({})
          .describe('An Ingress for the sample relays (RelayPool spec.ingress).'),
        tlsSecretName: optionalDnsSubdomain
          .default('')
          .describe(
            'kubernetes.io/tls Secret the sample relays serve wss:// with (RelayPool spec.tls); ' +
              'empty: plain ws://.',
          ),
      })
      .prefault({})
      .describe(
        'Sample resources to try Grove with, and how clients outside the cluster reach the ' +
          'sample relays (docs/helm.md, "Reaching the relays").',
      ),
    podSecurityContext: z
      .looseObject({
        runAsNonRoot: z.boolean().default(true),
        runAsUser: z.int().min(0).default(GROVE_UID),
        runAsGroup: z.int().min(0).default(GROVE_UID),
        fsGroup: z.int().min(0).default(GROVE_UID),
        seccompProfile: z
          .looseObject({
            type: z.enum(['RuntimeDefault', 'Localhost', 'Unconfined']).default('RuntimeDefault'),
          })
          .prefault({}),
      })
      .prefault({})
      .describe(
        'Pod security context of the operator and Manager pods; the defaults meet the restricted ' +
          'Pod Security Standard. Any PodSecurityContext field is accepted.',
      ),
    securityContext: z
      .looseObject({
        allowPrivilegeEscalation: z.boolean().default(false),
        readOnlyRootFilesystem: z.boolean().default(true),
        capabilities: z.looseObject({ drop: z.array(z.string()).default(['ALL']) }).prefault({}),
      })
      .prefault({})
      .describe(
        'Container security context of the operator and Manager containers (restricted defaults). ' +
          'Any SecurityContext field is accepted.',
      ),
    global: freeForm
      .optional()
      .describe('Values a parent chart shares with its subcharts; Grove reads none.'),
  })
  .superRefine((values, ctx) => {
    if (values.operator.clusterWide && values.operator.watchNamespace !== '') {
      ctx.addIssue({
        code: 'custom',
        path: ['operator', 'watchNamespace'],
        message: 'must be empty with operator.clusterWide: one namespace, or all of them',
      });
    }
    if (!values.operator.leaderElection && values.operator.replicas > 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['operator', 'replicas'],
        message:
          'must be 0 or 1 when operator.leaderElection is false: two operators would reconcile at once',
      });
    }
  })
  .describe('Values of the Grove Helm chart.');

export type GroveValues = z.output<typeof valuesSchema>;
export type GroveValuesInput = z.input<typeof valuesSchema>;

/** The values every key of values.yaml holds: the schema's defaults. */
export function defaultValues(): GroveValues {
  return valuesSchema.parse({});
}
