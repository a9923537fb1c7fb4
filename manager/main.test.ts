import { describe, expect, it } from '@jest/globals';
import { DEFAULT_MANAGER_LIMITS } from './limits.js';
import { parseManagerArgs } from './main.js';

describe('grove manager › flags', () => {
  it('runs in local mode with --config, Redis left to the config', () => {
    expect(parseManagerArgs(['--config', 'c.yaml'], {})).toEqual({
      port: 8080,
      host: '0.0.0.0',
      metricsPort: 9090,
      degradedReadyAfterMs: 15_000,
      mode: { kind: 'local', config: 'c.yaml' },
      limits: DEFAULT_MANAGER_LIMITS,
    });
  });

  it('takes how long to wait for Redis before being ready without it', () => {
    const parse = (value: string) =>
      parseManagerArgs(['--config', 'c', '--degraded-ready-after', value], {});
    expect(parse('0').degradedReadyAfterMs).toBe(0);
    expect(parse('2.5').degradedReadyAfterMs).toBe(2500);
    expect(() => parse('3601')).toThrow(/--degraded-ready-after must be a number of seconds/);
    expect(() => parse('soon')).toThrow(/--degraded-ready-after/);
  });

  it('takes the limits: timeouts in seconds, counts, trusted proxies', () => {
    const options = parseManagerArgs(
      [
        '--config',
        'c.yaml',
        '--headers-timeout',
        '2.5',
        '--request-timeout',
        '20',
        '--idle-timeout',
        '90',
        '--max-connections',
        '500',
        '--rate-limit-login-failures',
        '5',
        '--rate-limit-enroll',
        '7',
        '--rate-limit-token',
        '9',
        '--trust-proxy',
        '10.0.0.0/8, 192.168.1.10',
        '--audit-max-failures',
        '1000',
      ],
      {},
    );
    expect(options.limits).toEqual({
      connection: {
        headersTimeoutMs: 2500,
        requestTimeoutMs: 20_000,
        idleTimeoutMs: 90_000,
        maxConnections: 500,
      },
      rateLimits: { loginFailuresPerMinute: 5, enrollPerMinute: 7, tokenPerMinute: 9 },
      trustProxy: ['10.0.0.0/8', '192.168.1.10'],
      auditMaxFailures: 1000,
    });
    expect(parseManagerArgs(['--config', 'c', '--trust-proxy', '2'], {}).limits?.trustProxy).toBe(
      2,
    );
    expect(
      parseManagerArgs(['--config', 'c', '--trust-proxy', 'false'], {}).limits?.trustProxy,
    ).toBe(false);
  });

  it('refuses bad limits with the flag named', () => {
    const bad =
      (...args: string[]) =>
      () =>
        parseManagerArgs(['--config', 'c', ...args], {});
    expect(bad('--headers-timeout', '0')).toThrow(/--headers-timeout/);
    expect(bad('--request-timeout', 'soon')).toThrow(/--request-timeout/);
    expect(bad('--headers-timeout', '40')).toThrow(/not be longer than --request-timeout/);
    expect(bad('--max-connections', '1.5')).toThrow(/--max-connections/);
    expect(bad('--trust-proxy', 'true')).toThrow(/--trust-proxy/);
    expect(bad('--trust-proxy', '10.0.0.0/40')).toThrow(/--trust-proxy/);
    expect(bad('--audit-max-failures', '10')).toThrow(/--audit-max-failures/);
  });

  it('runs in cluster mode in a pod, and then needs --redis', () => {
    const env = { KUBERNETES_SERVICE_HOST: '10.0.0.1', GROVE_REDIS_PASSWORD: 'pw' };
    expect(() => parseManagerArgs([], env)).toThrow(/--redis URL is required/);
    expect(
      parseManagerArgs(['--redis', 'a:1,b:2', '--redis-cluster', '--namespace', 'ns'], env),
    ).toMatchObject({
      mode: { kind: 'kube', namespace: 'ns' },
      redis: { url: 'a:1,b:2', cluster: true, password: 'pw' },
    });
  });

  it('refuses both modes at once, no mode, a bad port and unknown flags', () => {
    expect(() => parseManagerArgs(['--config', 'a', '--kubeconfig', 'b'], {})).toThrow(/not both/);
    expect(() => parseManagerArgs([], {})).toThrow(/--config FILE/);
    expect(() => parseManagerArgs(['--config', 'a', '--port', 'x'], {})).toThrow(/--port/);
    expect(() => parseManagerArgs(['--config', 'a', '--bogus'], {})).toThrow(/bogus/);
  });

  it('serves /metrics on --metrics-port, 0 for a free one, never on the public port', () => {
    expect(parseManagerArgs(['--config', 'a', '--metrics-port', '0'], {}).metricsPort).toBe(0);
    expect(() => parseManagerArgs(['--config', 'a', '--metrics-port', '70000'], {})).toThrow(
      /--metrics-port must be a TCP port/,
    );
    expect(() =>
      parseManagerArgs(['--config', 'a', '--port', '9000', '--metrics-port', '9000'], {}),
    ).toThrow(/--metrics-port must differ from --port/);
  });
});
