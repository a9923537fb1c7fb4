import { describe, expect, it } from '@jest/globals';
import { parseManagerArgs } from './main.js';

describe('grove manager › flags', () => {
  it('runs in local mode with --config, Redis left to the config', () => {
    expect(parseManagerArgs(['--config', 'c.yaml'], {})).toEqual({
      port: 8080,
      host: '0.0.0.0',
      mode: { kind: 'local', config: 'c.yaml' },
    });
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
});
