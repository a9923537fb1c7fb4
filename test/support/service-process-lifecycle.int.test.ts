import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from '@jest/globals';
import { waitFor } from './ports.js';
import { pinnedNode, ServiceProcess } from './service-process.js';

const here = join(fileURLToPath(import.meta.url), '..');

/** A Node.js service that prints "up" once its SIGTERM handler (`onTerm`) is installed. */
function nodeService(onTerm: string): { name: string; command: string; args: string[] } {
  return {
    name: 'node service',
    command: pinnedNode(),
    args: [
      '-e',
      `process.on('SIGTERM', () => { ${onTerm} }); console.log('up'); setInterval(() => {}, 1000);`,
    ],
  };
}

const sh = (script: string) => ({ name: 'sh service', command: 'sh', args: ['-c', script] });

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('a spawned service process', () => {
  const started: ServiceProcess[] = [];
  const track = (service: ServiceProcess) => (started.push(service), service);

  afterEach(async () => {
    await Promise.all(started.splice(0).map((service) => service.kill9()));
  });

  it('is ready once its check passes, and keeps its output as lines', async () => {
    const service = track(
      await ServiceProcess.start({
        ...sh('echo starting; echo ready >&2; exec sleep 30'),
        ready: (s) => Promise.resolve(s.lines.length === 2),
      }),
    );
    expect(service.running).toBe(true);
    // stdout and stderr are two pipes: their lines arrive in either order.
    expect([...service.lines].sort()).toEqual(['ready', 'starting']);
  });

  it('fails as soon as it exits before it is ready, with its exit code and last output', async () => {
    const begun = Date.now();
    await expect(
      ServiceProcess.start({ ...sh('echo boom >&2; exit 3'), ready: () => Promise.resolve(false) }),
    ).rejects.toThrow(/sh service exited \(exit code 3\); last log lines:\nboom/);
    expect(Date.now() - begun).toBeLessThan(10_000);
  });

  it('is killed when it is not ready in time, and the error says what it printed', async () => {
    let spawned: ServiceProcess | undefined;
    await expect(
      ServiceProcess.start(
        {
          ...sh('echo still starting; exec sleep 30'),
          ready: (s) => {
            spawned = s;
            return Promise.resolve(false);
          },
        },
        300,
      ),
    ).rejects.toThrow(
      /timed out after 300 ms waiting for sh service to become ready.*still starting/s,
    );
    expect(spawned?.running).toBe(false);
  });

  it('is started again on another port when the port was taken meanwhile', async () => {
    const ports: number[] = [];
    const { service, port } = await ServiceProcess.startOnFreePort((free) => {
      ports.push(free);
      return {
        ...(ports.length === 1
          ? sh('echo "Error: listen EADDRINUSE: address already in use" >&2; exit 1')
          : sh('echo up; exec sleep 30')),
        ready: (s) => Promise.resolve(s.lines.includes('up')),
      };
    });
    track(service);
    expect(ports).toHaveLength(2);
    expect(port).toBe(ports[1]);
  });

  it('exits with its own code on SIGTERM when it handles it', async () => {
    const service = track(
      await ServiceProcess.start({
        ...nodeService('process.exit(7);'),
        ready: (s) => Promise.resolve(s.lines.includes('up')),
      }),
    );
    expect(await service.terminate()).toBe(7);
    expect(service.running).toBe(false);
  });

  it('is killed with SIGKILL when it ignores SIGTERM past the grace period', async () => {
    const service = track(
      await ServiceProcess.start({
        ...nodeService('/* ignored */'),
        ready: (s) => Promise.resolve(s.lines.includes('up')),
      }),
    );
    const begun = Date.now();
    expect(await service.stop('SIGTERM', 300)).toBeNull();
    expect(Date.now() - begun).toBeGreaterThanOrEqual(300);
    expect(service.running).toBe(false);
  });

  it('does not outlive the test process when that dies without cleaning up', async () => {
    // A test process that starts a service, prints its pid, then dies with SIGKILL.
    const script = [
      `const { ServiceProcess } = await import(${JSON.stringify(join(here, 'service-process.ts'))});`,
      `const service = ServiceProcess.spawn({ name: 'sleep', command: 'sleep', args: ['60'] });`,
      'console.log(service.pid);',
      "setTimeout(() => process.kill(process.pid, 'SIGKILL'), 200);",
    ].join('\n');
    const parent = spawn(pinnedNode(), ['--import', 'tsx', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let output = '';
    parent.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await new Promise((resolve) => parent.once('exit', resolve));
    const pid = Number(output.trim());
    expect(pid).toBeGreaterThan(0);
    await waitFor(() => !alive(pid), `the orphaned service ${pid} to be killed`, 5000);
  });
});
