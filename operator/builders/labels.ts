/** Labels and annotations the operator puts on what it creates. */
export const MANAGED_BY = 'grove-operator';
export const FIELD_MANAGER = 'grove-operator';

export const labelKeys = {
  name: 'app.kubernetes.io/name',
  instance: 'app.kubernetes.io/instance',
  component: 'app.kubernetes.io/component',
  managedBy: 'app.kubernetes.io/managed-by',
  partOf: 'app.kubernetes.io/part-of',
  relayPool: 'grove.dev/relay-pool',
  domain: 'grove.dev/domain',
  /** "true" on the Services Prometheus scrapes (the chart's ServiceMonitor selects it). */
  metrics: 'grove.dev/metrics',
} as const;

export const annotationKeys = {
  /** Set to "true" on any Grove resource: the operator stops reconciling it. */
  paused: 'grove.dev/paused',
  /** Hash of a relay pod's configuration, on its pod template: a change rolls the pods. */
  configHash: 'grove.dev/config-hash',
  /** Hash of the built-in Redis password, on the Redis and relay pod templates. */
  redisAuthHash: 'grove.dev/redis-auth-hash',
  /** On a Domain: a new value rotates its signing key. */
  rotateSigningKey: 'grove.dev/rotate-signing-key',
} as const;

/** Selector every informer on owned kinds uses, so it sees only what Grove created. */
export const managedBySelector = `${labelKeys.managedBy}=${MANAGED_BY}`;
