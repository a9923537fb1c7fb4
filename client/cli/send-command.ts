import { parseArgs } from 'node:util';
import { ulid } from 'ulid';
import { ConnectionRefused, SendRefused } from '../sdk/grove-client.js';
import { CliError, ExitCode, positiveSeconds, required, usage } from './cli-error.js';
import {
  connectClient,
  connectOptions,
  connectPlan,
  readData,
  reportConnectEvents,
  timeoutError,
} from './connect-options.js';

/**
 * `grove send`: prints `{"id","recipients"}` once the relay acknowledged durably. The id is
 * chosen here (a ULID unless --id), so every failure can name it: a retry under the same id is
 * never queued twice.
 */
export async function sendCommand(
  args: string[],
  out: (line: string) => void,
  err: (line: string) => void = () => undefined,
): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      ...connectOptions,
      to: { type: 'string' },
      data: { type: 'string' },
      id: { type: 'string' },
      ttl: { type: 'string' },
      timeout: { type: 'string' },
    },
    strict: true,
  });
  required(values, ['to', 'data']);
  connectPlan(values);
  const to = (values.to ?? '').split(',').filter((ref) => ref !== '');
  for (const ref of to) {
    if (!/^(device|identity|workspace):[a-z0-9][a-z0-9._@-]{0,127}$/.test(ref)) {
      throw usage(`--to "${ref}" must be device:ID, identity:ID or workspace:ID`);
    }
  }
  if (values.id !== undefined && !/^[A-Za-z0-9._-]{1,64}$/.test(values.id)) {
    throw usage('--id must be 1–64 characters of [A-Za-z0-9._-]');
  }
  const ttl = positiveSeconds(values.ttl, 'ttl');
  const timeout = positiveSeconds(values.timeout, 'timeout') ?? 30;
  const data = await readData(values.data ?? '');
  const id = values.id ?? ulid();
  const { client, session } = await connectClient(values);
  client.on('fatal', () => undefined);
  reportConnectEvents(client, session, err);
  const timer = setTimeout(() => undefined, timeout * 1000);
  try {
    const receipt = await Promise.race([
      client.send(to, data, { id, ...(ttl === undefined ? {} : { ttl: Math.floor(ttl) }) }),
      new Promise<never>((_resolve, reject) => {
        timer.refresh();
        setTimeout(() => {
          reject(
            timeoutError(
              client,
              {
                lead: `no relay reached within ${timeout} s, nothing was sent`,
                advice: `retry with --id ${id} (an id is never queued twice)`,
              },
              new CliError(
                'TIMEOUT',
                `no durable ack within ${timeout} s; retry with --id ${id} to avoid a duplicate`,
                ExitCode.timeout,
              ),
              { id },
            ),
          );
        }, timeout * 1000).unref();
      }),
      client.start().then(() => new Promise<never>(() => undefined)),
      new Promise<never>((_resolve, reject) => session?.once('fatal', reject)),
    ]);
    out(JSON.stringify({ id: receipt.id, recipients: receipt.recipients }));
  } catch (error) {
    if (error instanceof SendRefused) throw new CliError(error.code, error.message);
    if (error instanceof ConnectionRefused) {
      if (session !== undefined) throw await session.explain(error);
      throw new CliError('CONNECTION_REFUSED', error.message);
    }
    throw error;
  } finally {
    clearTimeout(timer);
    await client.close();
  }
}
