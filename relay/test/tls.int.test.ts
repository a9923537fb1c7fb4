// wss:// and https:// end to end: real `grove relay` processes serving TLS from certificate
// files (as a mounted kubernetes.io/tls Secret), a test CA made with openssl, the SDK and the
// CLI trusting that CA (--ca, GROVE_CA), a certificate renewed under a running relay, and what
// a client is told when TLS cannot work.

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { copyFileSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { GroveClient, type ReceivedMessage } from '../../client/sdk/grove-client.js';
import { runGrove } from '../../test/support/grove-cli.js';
import { waitFor } from '../../test/support/ports.js';
import { tokenFor, type RelayProcess, type TestDomain } from '../../test/support/relay-process.js';
import { startRelayStack, type RelayStack } from '../../test/support/relay-stack.js';
import { TestCa } from '../../test/support/test-ca.js';

let stack: RelayStack;
let ca: TestCa;
let domain: TestDomain;
let relay: RelayProcess;
let plain: RelayProcess;
/** The folder the relay reads its certificate from, like a Secret volume. */
let certDir: string;

/** The serial number of the certificate a new TLS connection to the relay is given. */
function servedSerial(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect(
      { host: '127.0.0.1', port, ca: ca.pem, servername: 'localhost' },
      () => {
        resolve(socket.getPeerCertificate().serialNumber);
        socket.end();
      },
    );
    socket.on('error', reject);
  });
}

/** Puts a certificate in place the way the kubelet updates a Secret volume: atomically. */
function install(cert: { certFile: string; keyFile: string }): void {
  copyFileSync(cert.certFile, join(certDir, 'tls.crt.new'));
  copyFileSync(cert.keyFile, join(certDir, 'tls.key.new'));
  renameSync(join(certDir, 'tls.key.new'), join(certDir, 'tls.key'));
  renameSync(join(certDir, 'tls.crt.new'), join(certDir, 'tls.crt'));
}

beforeAll(async () => {
  stack = await startRelayStack({
    relays: 0,
    seed: { acme: { identities: { alice: ['a1'], bob: ['b1'] } } },
  });
  domain = stack.domain('acme');
  ca = TestCa.create();
  certDir = mkdtempSync(join(tmpdir(), 'grove-relay-tls-'));
  install(ca.issue(['localhost', '127.0.0.1']));
  relay = await stack.addRelay({
    tls: {
      certFile: join(certDir, 'tls.crt'),
      keyFile: join(certDir, 'tls.key'),
      ca: ca.pem,
      reloadIntervalMs: 200,
    },
  });
  plain = await stack.addRelay();
}, 60_000);

afterAll(async () => {
  await stack.stop();
  ca.remove();
  rmSync(certDir, { recursive: true, force: true });
});

describe('a relay serving TLS', () => {
  it('says so, with its certificate, where it listens', async () => {
    expect(relay.find('serving TLS')).toMatchObject({
      subject: 'CN=localhost',
      subjectAltName: 'DNS:localhost, IP Address:127.0.0.1',
    });
    const listening = await relay.waitForLog('relay listening');
    expect(listening).toMatchObject({ tls: true, urls: [`wss://127.0.0.1:${relay.port}`] });
  });

  it.each(['websocket', 'long-poll'] as const)(
    'carries messages over %s with the SDK trusting the test CA',
    async (transport) => {
      const received: ReceivedMessage[] = [];
      const bob = new GroveClient({
        relays: [relay.url],
        token: await tokenFor(domain, 'bob', 'b1'),
        transport,
        ca: ca.pem,
        onMessage: (message) => {
          received.push(message);
        },
      });
      const alice = new GroveClient({
        relays: [relay.url],
        token: await tokenFor(domain, 'alice', 'a1'),
        transport,
        ca: ca.pem,
      });
      try {
        await Promise.all([bob.start(), alice.start()]);
        const receipt = await alice.send(['device:b1'], `over ${transport}`);
        expect(receipt.recipients).toBe(1);
        await waitFor(() => received.find((m) => m.id === receipt.id), 'the message');
      } finally {
        await alice.close();
        await bob.close();
      }
    },
  );

  it('takes --ca and GROVE_CA in the CLI, and says to when the CA is not trusted', async () => {
    const token = await tokenFor(domain, 'alice', 'a1');
    const send = ['send', '--relay', relay.url, '--token', token, '--to', 'device:b1'];
    const withOption = await runGrove([...send, '--data', 'one', '--ca', ca.certFile]);
    expect(withOption.stderr).toBe('');
    expect(withOption.code).toBe(0);
    const withEnv = await runGrove([...send, '--data', 'two'], { env: { GROVE_CA: ca.certFile } });
    expect(withEnv.code).toBe(0);

    const untrusted = await runGrove([...send, '--data', 'three', '--timeout', '3']);
    expect(untrusted.code).toBe(3);
    const error = JSON.parse(untrusted.stderr.trim().split('\n').at(-1) ?? '{}') as {
      error: { code: string; message: string; id: string };
    };
    expect(error.error.code).toBe('RELAY_UNREACHABLE');
    expect(error.error.message).toContain(`TLS with relay ${relay.url} failed`);
    expect(error.error.message).toContain('--ca FILE');
    expect(error.error.message).toContain(`retry with --id ${error.error.id}`);
  }, 60_000);

  it('tells a client that gave wss:// for a plain relay to use ws://', async () => {
    const token = await tokenFor(domain, 'alice', 'a1');
    const wrong = plain.url.replace('ws://', 'wss://');
    const run = await runGrove([
      'send',
      '--relay',
      wrong,
      '--token',
      token,
      '--to',
      'device:b1',
      '--data',
      'x',
      '--timeout',
      '3',
    ]);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain(
      `TLS with relay ${wrong} failed: it does not answer TLS on that port`,
    );
    expect(run.stderr).toContain('use ws://');
  }, 30_000);

  it('serves a renewed certificate to new connections without dropping open ones', async () => {
    const received: ReceivedMessage[] = [];
    const bob = new GroveClient({
      relays: [relay.url],
      token: await tokenFor(domain, 'bob', 'b1'),
      transport: 'websocket',
      ca: ca.pem,
      onMessage: (message) => {
        received.push(message);
      },
    });
    let disconnects = 0;
    bob.on('disconnected', () => disconnects++);
    await bob.start();
    const before = await servedSerial(relay.port);

    const renewed = ca.issue(['localhost', '127.0.0.1']);
    install(renewed);
    await relay.waitForLog('reloaded the TLS certificate');
    const after = await servedSerial(relay.port);
    expect(after).not.toBe(before);

    // A broken pair (key of another certificate) is refused; the relay keeps the last good one.
    copyFileSync(ca.issue(['localhost']).keyFile, join(certDir, 'tls.key.new'));
    renameSync(join(certDir, 'tls.key.new'), join(certDir, 'tls.key'));
    await relay.waitForLog('cannot reload the TLS certificate');
    expect(await servedSerial(relay.port)).toBe(after);
    install(renewed);

    const alice = new GroveClient({
      relays: [relay.url],
      token: await tokenFor(domain, 'alice', 'a1'),
      ca: ca.pem,
    });
    try {
      await alice.start();
      const receipt = await alice.send(['device:b1'], 'after the renewal');
      await waitFor(() => received.find((m) => m.id === receipt.id), 'the message on the old link');
      expect(disconnects).toBe(0);
    } finally {
      await alice.close();
      await bob.close();
    }
  }, 60_000);
});
