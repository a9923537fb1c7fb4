import { describe, expect, it } from '@jest/globals';
import { Counter, Registry } from 'prom-client';
import { Controller } from './controller.js';
import { MetricConflictError } from './metrics.js';
import { FakeClock, flushPromises } from './testing/fake-clock.js';
import { deferred } from './testing/deferred.js';
import { readMetric } from './testing/read-metric.js';
import { WorkQueue } from './work-queue.js';

const QUEUE_SERIES = [
  'workqueue_depth',
  'workqueue_adds_total',
  'workqueue_queue_duration_seconds',
  'workqueue_work_duration_seconds',
  'workqueue_retries_total',
  'workqueue_unfinished_work_seconds',
  'workqueue_longest_running_processor_seconds',
];
const CONTROLLER_SERIES = [
  'controller_runtime_reconcile_total',
  'controller_runtime_reconcile_errors_total',
  'controller_runtime_reconcile_time_seconds',
  'controller_runtime_max_concurrent_reconciles',
  'controller_runtime_active_workers',
];

describe('metrics', () => {
  it('exposes the expected series names with correct values after some work', async () => {
    const registry = new Registry();
    const clock = new FakeClock();
    const slow = deferred<undefined>();
    const attempts = new Map<string, number>();
    const controller = new Controller({
      name: 'pools',
      registry,
      clock,
      maxConcurrentReconciles: 2,
      rateLimiter: { baseDelayMs: 100 },
      reconcile: async (key) => {
        const attempt = (attempts.get(key) ?? 0) + 1;
        attempts.set(key, attempt);
        if (key === 'ns/slow') return slow.promise;
        if (key === 'ns/flaky' && attempt === 1) throw new Error('conflict');
        if (key === 'ns/periodic' && attempt === 1) return { requeueAfterMs: 1000 };
        return undefined;
      },
    });
    const text = await registry.metrics();
    for (const name of [...QUEUE_SERIES, ...CONTROLLER_SERIES]) {
      expect(text).toContain(`# TYPE ${name} `);
    }
    expect(
      await readMetric(registry, 'controller_runtime_reconcile_total', { result: 'error' }),
    ).toBe(0);

    controller.enqueue('ns/slow');
    controller.enqueue('ns/slow');
    controller.enqueue('ns/flaky');
    controller.enqueue('ns/periodic');
    expect(
      await readMetric(registry, 'workqueue_depth', { name: 'pools', controller: 'pools' }),
    ).toBe(3);
    await clock.advance(50);
    controller.start();
    await flushPromises();
    // ns/slow is still running, 250 ms into its work.
    await clock.advance(250);
    const c = { controller: 'pools' };
    const q = { name: 'pools' };
    expect(await readMetric(registry, 'controller_runtime_active_workers', c)).toBe(1);
    expect(await readMetric(registry, 'workqueue_unfinished_work_seconds', q)).toBeCloseTo(0.25);
    expect(
      await readMetric(registry, 'workqueue_longest_running_processor_seconds', q),
    ).toBeCloseTo(0.25);
    slow.resolve(undefined);
    await clock.advance(2000);

    expect(attempts).toEqual(
      new Map([
        ['ns/slow', 1],
        ['ns/flaky', 2],
        ['ns/periodic', 2],
      ]),
    );
    const total = (result: string) =>
      readMetric(registry, 'controller_runtime_reconcile_total', { ...c, result });
    expect(await total('success')).toBe(3);
    expect(await total('error')).toBe(1);
    expect(await total('requeue_after')).toBe(1);
    expect(await total('requeue')).toBe(0);
    expect(await readMetric(registry, 'controller_runtime_reconcile_errors_total', c)).toBe(1);
    expect(await readMetric(registry, 'controller_runtime_reconcile_time_seconds_count', c)).toBe(
      5,
    );
    expect(
      await readMetric(registry, 'controller_runtime_reconcile_time_seconds_sum', c),
    ).toBeCloseTo(0.25);
    expect(
      await readMetric(registry, 'controller_runtime_reconcile_time_seconds_bucket', {
        ...c,
        le: 0.25,
      }),
    ).toBe(5);
    expect(
      await readMetric(registry, 'controller_runtime_reconcile_time_seconds_bucket', {
        ...c,
        le: 0.2,
      }),
    ).toBe(4);
    expect(await readMetric(registry, 'controller_runtime_max_concurrent_reconciles', c)).toBe(2);
    expect(await readMetric(registry, 'controller_runtime_active_workers', c)).toBe(0);

    // 3 first adds (the second ns/slow is de-duplicated), the retry of ns/flaky and the
    // requeue of ns/periodic.
    expect(await readMetric(registry, 'workqueue_adds_total', q)).toBe(5);
    expect(await readMetric(registry, 'workqueue_retries_total', q)).toBe(2);
    expect(await readMetric(registry, 'workqueue_depth', q)).toBe(0);
    expect(await readMetric(registry, 'workqueue_queue_duration_seconds_count', q)).toBe(5);
    // The three first keys waited 50 ms for the workers to start.
    expect(await readMetric(registry, 'workqueue_queue_duration_seconds_sum', q)).toBeCloseTo(0.15);
    expect(await readMetric(registry, 'workqueue_work_duration_seconds_count', q)).toBe(5);
    expect(await readMetric(registry, 'workqueue_work_duration_seconds_sum', q)).toBeCloseTo(0.25);
    expect(await readMetric(registry, 'workqueue_unfinished_work_seconds', q)).toBe(0);
    expect(await readMetric(registry, 'workqueue_longest_running_processor_seconds', q)).toBe(0);

    const depthText = await registry.getSingleMetricAsString('workqueue_depth');
    expect(depthText).toContain('workqueue_depth{name="pools",controller="pools"} 0');
    await controller.stop();
  });

  it('two controllers on one registry share the metric objects, each with its own series', async () => {
    const registry = new Registry();
    const clock = new FakeClock();
    const make = (name: string) =>
      new Controller({ name, registry, clock, reconcile: () => Promise.resolve(undefined) });
    const pools = make('pools');
    const domains = make('domains');
    domains.enqueue('ns/a');
    domains.enqueue('ns/b');
    pools.enqueue('ns/a');
    pools.start();
    domains.start();
    await clock.advance(10);
    const ok = (controller: string) =>
      readMetric(registry, 'controller_runtime_reconcile_total', { controller, result: 'success' });
    expect(await ok('pools')).toBe(1);
    expect(await ok('domains')).toBe(2);
    expect(await readMetric(registry, 'workqueue_adds_total', { name: 'domains' })).toBe(2);
    const text = await registry.metrics();
    expect(text.match(/^# TYPE controller_runtime_reconcile_total /gm)).toHaveLength(1);
    await Promise.all([pools.stop(), domains.stop()]);
  });

  it('refuses a registry where a metric name is taken by another type', () => {
    const registry = new Registry();
    new Counter({ name: 'workqueue_depth', help: 'not ours', registers: [registry] });
    expect(() => new WorkQueue({ name: 'q', registry })).toThrow(MetricConflictError);
  });

  it('never touches the global registry', async () => {
    const { register } = await import('prom-client');
    const before = (await register.getMetricsAsJSON()).length;
    new WorkQueue({ name: 'q', registry: new Registry() });
    expect((await register.getMetricsAsJSON()).length).toBe(before);
    expect(register.getSingleMetric('workqueue_depth')).toBeUndefined();
  });
});
