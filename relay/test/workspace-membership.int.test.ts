import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { RawClient } from '../../test/support/raw-client.js';
import type { RedisServer } from '../../test/support/redis-server.js';
import { startRelayStack, type RelayStack } from '../../test/support/relay-stack.js';

// Issue 12, item 10: only members send to a workspace (Policy relay.workspaceSend: members,
// the default), and a non-member learns nothing of it: not its device count, not even that
// it exists.

describe('sending to a workspace', () => {
  let stack: RelayStack<RedisServer>;
  const raws: RawClient[] = [];

  beforeAll(async () => {
    const members = {
      identities: { alice: ['a1'], bob: ['b1', 'b2'], carol: ['c1'] },
      workspaces: { team: ['bob', 'carol'] },
    };
    stack = await startRelayStack({
      seed: { acme: members, open: members },
      limits: { open: { workspaceSend: 'domain' } },
    });
  });

  afterAll(async () => {
    for (const raw of raws) raw.close();
    await stack.stop();
  });

  const raw = async (domain: string, identity: string, device: string) => {
    const client = await RawClient.hello(
      stack.relay(),
      await stack.token(domain, identity, device),
    );
    raws.push(client);
    return client;
  };

  it('refuses a non-member exactly as for a workspace that does not exist', async () => {
    const alice = await raw('acme', 'alice', 'a1');
    alice.send({ t: 'send', id: 'outsider', to: ['workspace:team'], data: '' });
    alice.send({ t: 'send', id: 'nowhere', to: ['workspace:ghost'], data: '' });
    const [outsider, nowhere] = [await alice.next('error'), await alice.next('error', 1)];
    // Issue 12: the outsider's send was queued and its `sent` told the team's device count (3).
    expect(alice.of('sent')).toEqual([]);
    expect(outsider).toMatchObject({ id: 'outsider', code: 'UNKNOWN_RECIPIENT' });
    expect(nowhere).toMatchObject({ id: 'nowhere', code: 'UNKNOWN_RECIPIENT' });
    expect(outsider['message']).toBe(
      String(nowhere['message']).replace('workspace:ghost', 'workspace:team'),
    );
    expect(await stack.inspect.exists('g:{d:acme:b1}:q')).toBe(0);
  });

  it('lets members send to their workspace', async () => {
    const carol = await raw('acme', 'carol', 'c1');
    carol.send({ t: 'send', id: 'member', to: ['workspace:team'], data: '' });
    expect(await carol.next('sent')).toEqual({
      t: 'sent',
      id: 'member',
      recipients: 2,
      duplicates: 0,
    });
  });

  it('lets anyone of the domain send when the Policy says workspaceSend: domain', async () => {
    const alice = await raw('open', 'alice', 'a1');
    alice.send({ t: 'send', id: 'open', to: ['workspace:team'], data: '' });
    expect(await alice.next('sent')).toMatchObject({ id: 'open', recipients: 3 });
  });
});
