import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SendRefused } from '../../client/sdk/grove-client.js';
import { deviceKeys } from '../../contracts/redis/keys.js';
import { waitFor } from '../../test/support/ports.js';
import type { RedisServer } from '../../test/support/redis-server.js';
import { startRelayStack, type RelayStack } from '../../test/support/relay-stack.js';

// Issue 12, item 7: a member must not be able to empty another member's mailbox by flooding
// it. Each sender may hold at most senderQueueSharePercent of a recipient's queue, and what
// happens when a queue is full is the Policy's queueOverflow: dropOldest (the default, with
// the resync signal) or rejectNew (the sender is refused with QUEUE_FULL).

/** Sends until `count` were accepted or one was refused; the codes of the refusals. */
async function flood(
  send: (i: number) => Promise<unknown>,
  count: number,
): Promise<{ sent: number; refused: string[] }> {
  let sent = 0;
  const refused: string[] = [];
  for (let i = 0; i < count; i++) {
    try {
      await send(i);
      sent++;
    } catch (error) {
      refused.push(error instanceof SendRefused ? error.code : String(error));
    }
  }
  return { sent, refused };
}

describe('one recipient queue shared by several senders', () => {
  let stack: RelayStack<RedisServer>;

  beforeAll(async () => {
    const members = { identities: { bob: ['b1'], carol: ['c1'], mallory: ['m1', 'm2'] } };
    stack = await startRelayStack({
      seed: { share: members, reject: members },
      limits: {
        share: { maxQueuedMessages: 100, sendRatePerSecond: 1000, sendBurst: 1000 },
        reject: {
          maxQueuedMessages: 10,
          queueOverflow: 'rejectNew',
          senderQueueSharePercent: 100,
        },
      },
    });
  });

  afterAll(async () => {
    await stack.stop();
  });

  it("keeps everyone else's messages when one member floods a mailbox (dropOldest)", async () => {
    const carol = await stack.client('carol', 'c1', { domain: 'share' });
    for (let i = 0; i < 50; i++) await carol.client.send(['device:b1'], `carol ${i}`);
    const mallory = await stack.client('mallory', 'm1', { domain: 'share' });
    const flooded = await flood(
      (i) => mallory.client.send(['device:b1'], `flood ${i}`, { id: `flood-${i}` }),
      300,
    );
    // The flooder is refused once it holds its share (50 %) of the mailbox, whichever device.
    const other = await stack.client('mallory', 'm2', { domain: 'share' });
    const fromOtherDevice = await other.client.send(['device:b1'], 'and more').then(
      () => 'sent',
      (error: unknown) => (error instanceof SendRefused ? error.code : String(error)),
    );

    const bob = await stack.client('bob', 'b1', { domain: 'share' });
    await waitFor(() => bob.got.length === 100, 'the mailbox');
    const fromCarol = bob.got.filter((m) => m.from.identity === 'carol').length;
    process.stdout.write(
      `flood: ${flooded.sent} of 300 accepted, refused ${[...new Set(flooded.refused)].join(',')}; carol's left: ${fromCarol} of 50\n`,
    );
    // Issue 12: the flood dropped every one of them (10,000 in about 50 s at 200 sends/s).
    expect({
      fromCarol,
      sent: flooded.sent,
      refused: [...new Set(flooded.refused)],
      fromOtherDevice,
    }).toEqual({
      fromCarol: 50,
      sent: 50,
      refused: ['QUEUE_FULL'],
      fromOtherDevice: 'QUEUE_FULL',
    });
  });

  it('refuses a send to a full queue with QUEUE_FULL and drops nothing (rejectNew)', async () => {
    const before = await stack.relay().metric('grove_relay_queue_drops_total{reason="quota"}');
    const carol = await stack.client('carol', 'c1', { domain: 'reject' });
    const sent = await flood(
      (i) => carol.client.send(['device:b1'], `r ${i}`, { id: `r-${i}` }),
      12,
    );
    expect(sent).toEqual({ sent: 10, refused: ['QUEUE_FULL', 'QUEUE_FULL'] });
    expect(await stack.inspect.llen(deviceKeys('reject', 'b1').queue)).toBe(10);
    expect(await stack.relay().metric('grove_relay_queue_drops_total{reason="quota"}')).toBe(
      before,
    );
    const bob = await stack.client('bob', 'b1', { domain: 'reject' });
    await waitFor(() => bob.got.length === 10, 'the ten queued');
    expect(bob.got.map((m) => m.id)).toEqual(Array.from({ length: 10 }, (_, i) => `r-${i}`));
  });
});
