import { describe, expect, it } from '@jest/globals';
import { GroupCommit, type ItemOutcome } from './group-commit.js';

/** A runner whose calls the test answers by hand, and a flush the test triggers. */
function harness(bounds = { maxWeight: 4, maxBytes: 1000 }) {
  const calls: {
    group: string;
    items: readonly string[];
    answer: (outcomes: readonly ItemOutcome<string>[]) => void;
    fail: (error: Error) => void;
  }[] = [];
  let scheduled: (() => void)[] = [];
  const commit = new GroupCommit<string, string>(
    (group, items) =>
      new Promise((resolve, reject) => {
        calls.push({ group, items, answer: resolve, fail: reject });
      }),
    bounds,
    (flush) => scheduled.push(flush),
  );
  const endOfTurn = () => {
    const due = scheduled;
    scheduled = [];
    for (const flush of due) flush();
  };
  const ok = (items: readonly string[]) =>
    items.map((item): ItemOutcome<string> => ({ ok: true, value: `done ${item}` }));
  return { commit, calls, endOfTurn, ok, scheduled: () => scheduled.length };
}

/** Lets the promise callbacks run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('GroupCommit', () => {
  it('sends a lone item at the end of its turn, without waiting for anything else', async () => {
    const { commit, calls, endOfTurn, ok } = harness();
    const done = commit.submit('', 'a');
    expect(calls).toHaveLength(0);
    endOfTurn();
    expect(calls.map((call) => call.items)).toEqual([['a']]);
    calls[0]?.answer(ok(['a']));
    await expect(done).resolves.toBe('done a');
  });

  it('sends the items of one turn in one call', () => {
    const { commit, calls, endOfTurn } = harness();
    void commit.submit('', 'a');
    void commit.submit('', 'b');
    endOfTurn();
    expect(calls.map((call) => call.items)).toEqual([['a', 'b']]);
  });

  it('collects the items that arrive while a call is in flight into the next call', async () => {
    const { commit, calls, endOfTurn, ok, scheduled } = harness({
      maxWeight: 100,
      maxBytes: 1000,
    });
    const first = commit.submit('', 'a');
    endOfTurn();
    const later = ['b', 'c', 'd'].map((item) => commit.submit('', item));
    // Nothing scheduled: they wait for the call in flight.
    expect(scheduled()).toBe(0);
    expect(calls).toHaveLength(1);
    calls[0]?.answer(ok(['a']));
    await expect(first).resolves.toBe('done a');
    expect(calls.map((call) => call.items)).toEqual([['a'], ['b', 'c', 'd']]);
    calls[1]?.answer(ok(['b', 'c', 'd']));
    await expect(Promise.all(later)).resolves.toEqual(['done b', 'done c', 'done d']);
    expect(commit.inFlight).toBe(0);
    expect(commit.waiting).toBe(0);
  });

  it('sends a full batch at once, even while another is in flight', () => {
    const { commit, calls, endOfTurn } = harness({ maxWeight: 3, maxBytes: 1000 });
    void commit.submit('', 'a');
    endOfTurn();
    for (const item of ['b', 'c', 'd', 'e']) void commit.submit('', item);
    expect(calls.map((call) => call.items)).toEqual([['a'], ['b', 'c', 'd']]);
    expect(commit.waiting).toBe(1);
  });

  it('bounds a batch by bytes, and sends an item larger than the bound alone', async () => {
    const { commit, calls, endOfTurn, ok } = harness({ maxWeight: 100, maxBytes: 100 });
    void commit.submit('', 'a');
    endOfTurn();
    void commit.submit('', 'b', 1, 40);
    void commit.submit('', 'c', 1, 40);
    void commit.submit('', 'huge', 1, 500);
    expect(calls.map((call) => call.items)).toEqual([['a'], ['b', 'c'], ['huge']]);
    void commit.submit('', 'e', 1, 10);
    calls[0]?.answer(ok(['a']));
    calls[1]?.answer(ok(['b', 'c']));
    await settle();
    // 'e' waits while 'huge' is in flight.
    expect(calls).toHaveLength(3);
    calls[2]?.answer(ok(['huge']));
    await settle();
    expect(calls.map((call) => call.items).at(-1)).toEqual(['e']);
  });

  it('weighs an item by its devices: a fan-out fills a batch', () => {
    const { commit, calls, endOfTurn } = harness({ maxWeight: 128, maxBytes: 1_000_000 });
    void commit.submit('', 'one');
    endOfTurn();
    void commit.submit('', 'fan-out of 100', 100);
    void commit.submit('', 'fan-out of 100 again', 100);
    expect(calls.map((call) => call.items)).toEqual([['one'], ['fan-out of 100']]);
  });

  it('fails exactly the items of a batch whose call failed', async () => {
    const { commit, calls, endOfTurn, ok } = harness({ maxWeight: 100, maxBytes: 1000 });
    const first = commit.submit('', 'a');
    endOfTurn();
    const second = [commit.submit('', 'b'), commit.submit('', 'c')];
    calls[0]?.fail(new Error('connection lost'));
    await expect(first).rejects.toThrow('connection lost');
    calls[1]?.answer(ok(['b', 'c']));
    await expect(Promise.all(second)).resolves.toEqual(['done b', 'done c']);
  });

  it("fails one item on its own outcome and resolves the others'", async () => {
    const { commit, calls, endOfTurn } = harness();
    const results = [commit.submit('', 'a'), commit.submit('', 'b'), commit.submit('', 'c')];
    endOfTurn();
    calls[0]?.answer([
      { ok: true, value: 'done a' },
      { ok: false, error: new Error('b is full') },
      { ok: true, value: 'done c' },
    ]);
    await expect(results[0]).resolves.toBe('done a');
    await expect(results[1]).rejects.toThrow('b is full');
    await expect(results[2]).resolves.toBe('done c');
  });

  it('fails the items a reply left out rather than leaving them waiting', async () => {
    const { commit, calls, endOfTurn, ok } = harness();
    const results = [commit.submit('', 'a'), commit.submit('', 'b')];
    endOfTurn();
    calls[0]?.answer(ok(['a']));
    await expect(results[0]).resolves.toBe('done a');
    await expect(results[1]).rejects.toThrow('fewer results');
  });

  it('fails the batch when the runner throws instead of returning a promise', async () => {
    const commit = new GroupCommit<string, string>(
      () => {
        throw new Error('bad arguments');
      },
      { maxWeight: 10, maxBytes: 1000 },
      (flush) => flush(),
    );
    await expect(commit.submit('', 'a')).rejects.toThrow('bad arguments');
    expect(commit.inFlight).toBe(0);
  });

  it('keeps groups apart: one call per group, each with its own in-flight batch', async () => {
    const { commit, calls, endOfTurn, ok } = harness();
    void commit.submit('slot 1', 'a');
    void commit.submit('slot 2', 'b');
    void commit.submit('slot 1', 'c');
    endOfTurn();
    expect(calls.map((call) => [call.group, call.items])).toEqual([
      ['slot 1', ['a', 'c']],
      ['slot 2', ['b']],
    ]);
    void commit.submit('slot 2', 'd');
    calls[0]?.answer(ok(['a', 'c']));
    await settle();
    // slot 2's call is still in flight: d waits for it, not for slot 1's.
    expect(calls).toHaveLength(2);
    calls[1]?.answer(ok(['b']));
    await settle();
    expect(calls.map((call) => [call.group, call.items]).at(-1)).toEqual(['slot 2', ['d']]);
  });

  it('forgets an idle group', async () => {
    const { commit, calls, endOfTurn, ok } = harness();
    const done = commit.submit('slot 7', 'a');
    endOfTurn();
    calls[0]?.answer(ok(['a']));
    await done;
    await settle();
    expect((commit as unknown as { groups: Map<string, unknown> }).groups.size).toBe(0);
  });

  it('takes an item submitted by a resolved caller into the next batch', async () => {
    const { commit, calls, endOfTurn, ok } = harness();
    const chained = commit.submit('', 'a').then(() => commit.submit('', 'b'));
    endOfTurn();
    calls[0]?.answer(ok(['a']));
    await settle();
    endOfTurn();
    expect(calls.map((call) => call.items)).toEqual([['a'], ['b']]);
    calls[1]?.answer(ok(['b']));
    await expect(chained).resolves.toBe('done b');
  });
});
