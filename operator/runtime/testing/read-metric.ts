import type { Registry } from 'prom-client';

/**
 * The value of one series, e.g. ('workqueue_depth', {name: 'x'}) or
 * ('controller_runtime_reconcile_time_seconds_count', {controller: 'x'}); labels match as a
 * subset. `undefined` when no series matches.
 */
export async function readMetric(
  registry: Registry,
  series: string,
  labels: Record<string, string | number> = {},
): Promise<number | undefined> {
  for (const metric of await registry.getMetricsAsJSON()) {
    for (const value of metric.values) {
      const name = (value as { metricName?: string }).metricName ?? metric.name;
      if (name !== series) continue;
      const actual = value.labels as Record<string, string | number | undefined>;
      if (Object.entries(labels).every(([k, v]) => String(actual[k]) === String(v))) {
        return value.value;
      }
    }
  }
  return undefined;
}
