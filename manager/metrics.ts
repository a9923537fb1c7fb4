import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The Manager's Prometheus metrics, in a registry of its own (served at /metrics). */
export class ManagerMetrics {
  readonly registry = new Registry();
  readonly httpRequests = new Counter({
    name: 'grove_manager_http_requests_total',
    help: 'HTTP requests answered, by method, route template and status code.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: 'grove_manager_http_request_duration_seconds',
    help: 'Time to answer an HTTP request, by method and route template.',
    labelNames: ['method', 'route'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly enrollments = new Counter({
    name: 'grove_manager_enrollments_total',
    help: 'Device enrollments, by outcome (success or the error code).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly tokenRefreshes = new Counter({
    name: 'grove_manager_token_refreshes_total',
    help: 'Relay token requests of enrolled devices, by outcome (success or the error code).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly revocations = new Counter({
    name: 'grove_manager_device_revocations_total',
    help: 'Devices revoked (one by one, or with their member).',
    registers: [this.registry],
  });

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics === true) collectDefaultMetrics({ register: this.registry });
  }
}
