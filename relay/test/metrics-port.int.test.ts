// /metrics is served on a port of its own (relay.json `metrics.port`), never on the public
// port devices connect to: the public port answers 404, the metrics port serves the registry.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { freePort } from '../../test/support/ports.js';
import { startRelayStack, type RelayStack } from '../../test/support/relay-stack.js';

describe('relay /metrics port', () => {
  let stack: RelayStack;
  let metricsPort: number;

  beforeAll(async () => {
    metricsPort = await freePort();
    stack = await startRelayStack({
      seed: { acme: { identities: { alice: ['a1'] } } },
      relayConfig: { metrics: { port: metricsPort } },
    });
  });

  afterAll(async () => {
    await stack.stop();
  });

  it('answers 404 for /metrics on the public port', async () => {
    const response = await fetch(`${stack.relay().httpUrl}/metrics`);
    expect(response.status).toBe(404);
    expect(await response.text()).not.toContain('grove_relay_');
  });

  it('serves /metrics on the metrics port, and nothing else there', async () => {
    const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    expect(await response.text()).toContain('grove_relay_connections');
    expect((await fetch(`http://127.0.0.1:${metricsPort}/v1/poll`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).status).toBe(404);
  });

  it('says where it serves them when it starts', () => {
    expect(stack.relay().find('relay listening')?.metricsAddress).toBe(`127.0.0.1:${metricsPort}`);
  });
});
