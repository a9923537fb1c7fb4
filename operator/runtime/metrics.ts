import {
  Counter,
  Gauge,
  Histogram,
  type CounterConfiguration,
  type GaugeConfiguration,
  type HistogramConfiguration,
  type Registry,
} from 'prom-client';

export class MetricConflictError extends Error {
  override readonly name = 'MetricConflictError';
}

// Metric objects are per registry and shared by every queue or controller on it: a second
// `new Counter` with the same name would throw on registration.
function getOrCreate<M>(
  registry: Registry,
  name: string,
  labelNames: readonly string[],
  isKind: (metric: unknown) => metric is M,
  kind: string,
  create: () => M,
): M {
  const existing = registry.getSingleMetric(name);
  if (existing === undefined) return create();
  const existingLabels = (existing as unknown as { labelNames?: readonly string[] }).labelNames;
  if (
    !isKind(existing) ||
    (existingLabels !== undefined && existingLabels.join(',') !== labelNames.join(','))
  ) {
    throw new MetricConflictError(
      `metric ${name} is already registered with another type or labels (want a ${kind} labelled ${labelNames.join(',')})`,
    );
  }
  return existing;
}

export function getOrCreateCounter<T extends string>(
  registry: Registry,
  config: CounterConfiguration<T> & { labelNames: readonly T[] },
): Counter<T> {
  return getOrCreate(
    registry,
    config.name,
    config.labelNames,
    (m): m is Counter<T> => m instanceof Counter,
    'counter',
    () => new Counter({ ...config, registers: [registry] }),
  );
}

export function getOrCreateGauge<T extends string>(
  registry: Registry,
  config: GaugeConfiguration<T> & { labelNames: readonly T[] },
): Gauge<T> {
  return getOrCreate(
    registry,
    config.name,
    config.labelNames,
    (m): m is Gauge<T> => m instanceof Gauge,
    'gauge',
    () => new Gauge({ ...config, registers: [registry] }),
  );
}

export function getOrCreateHistogram<T extends string>(
  registry: Registry,
  config: HistogramConfiguration<T> & { labelNames: readonly T[] },
): Histogram<T> {
  return getOrCreate(
    registry,
    config.name,
    config.labelNames,
    (m): m is Histogram<T> => m instanceof Histogram,
    'histogram',
    () => new Histogram({ ...config, registers: [registry] }),
  );
}

/**
 * Gauges computed at scrape time (unfinished work, longest running processor) from state
 * held by several queues: each queue adds a hook, the gauge's collect runs them all.
 */
const collectHooks = new WeakMap<object, Set<() => void>>();

export function getOrCreateCollectedGauge<T extends string>(
  registry: Registry,
  config: Omit<GaugeConfiguration<T>, 'collect'> & { labelNames: readonly T[] },
): Gauge<T> {
  return getOrCreateGauge(registry, {
    ...config,
    collect() {
      for (const hook of collectHooks.get(this) ?? []) hook();
    },
  });
}

/** Adds a hook run when `gauge` is collected; returns its removal. */
export function addCollectHook(gauge: object, hook: () => void): () => void {
  let hooks = collectHooks.get(gauge);
  if (hooks === undefined) {
    hooks = new Set();
    collectHooks.set(gauge, hooks);
  }
  hooks.add(hook);
  return () => hooks.delete(hook);
}
