import type { RedisClient } from '../../contracts/redis/connection.js';
import { resubscribedMarkerChannel } from '../../contracts/redis/keys.js';

type Listener = (message: string) => void;

interface Channel {
  listeners: Set<Listener>;
  /** Settles once Redis confirmed the subscription; later listeners wait on it too. */
  ready: Promise<unknown>;
}

/**
 * Routes sharded pub/sub messages to the connections of this pod, holding one
 * subscription per channel however many listeners it has.
 */
export class Wakeups {
  private readonly channels = new Map<string, Channel>();
  private readonly resubscribedListeners = new Set<() => void>();

  constructor(private readonly subscriber: RedisClient) {
    subscriber.on('smessage', (channel: string, message: string) => {
      const entry = this.channels.get(channel);
      if (entry === undefined) return;
      for (const listener of entry.listeners) listener(message);
    });
    let lost = false;
    subscriber.on('close', () => {
      lost = true;
    });
    subscriber.on('ready', () => {
      if (!lost) return;
      lost = false;
      // ioredis re-sends the old subscriptions right after emitting 'ready'; one more, queued
      // behind them on the same connection, is confirmed only once they are all in place.
      queueMicrotask(() => {
        this.subscriber.ssubscribe(resubscribedMarkerChannel).then(
          () => this.resubscribed(),
          () => undefined,
        );
      });
    });
    // On a cluster, each shard's subscriber reconnects on its own; ioredis re-sends its
    // subscriptions, then emits 'subscribersReady' without awaiting them: read now, and once
    // more when they have surely been confirmed.
    let shardLost = false;
    subscriber.on('-subscriber', () => {
      shardLost = true;
    });
    subscriber.on('subscribersReady', () => {
      if (!shardLost) return;
      shardLost = false;
      this.resubscribed();
      setTimeout(() => this.resubscribed(), 1000).unref();
    });
  }

  private resubscribed(): void {
    for (const listener of this.resubscribedListeners) listener();
  }

  /**
   * Pub/sub delivers at most once: wake-ups published while the subscriber was reconnecting
   * are gone. `listener` runs once the subscriptions are back, so queues can be read again.
   */
  onResubscribed(listener: () => void): void {
    this.resubscribedListeners.add(listener);
  }

  async subscribe(channel: string, listener: Listener): Promise<void> {
    let entry = this.channels.get(channel);
    if (entry === undefined) {
      entry = { listeners: new Set(), ready: this.subscriber.ssubscribe(channel) };
      this.channels.set(channel, entry);
      const created = entry;
      entry.ready.catch(() => {
        if (this.channels.get(channel) === created) this.channels.delete(channel);
      });
    }
    entry.listeners.add(listener);
    await entry.ready;
  }

  unsubscribe(channel: string, listener: Listener): void {
    const entry = this.channels.get(channel);
    if (entry === undefined) return;
    entry.listeners.delete(listener);
    if (entry.listeners.size === 0) {
      this.channels.delete(channel);
      this.subscriber.sunsubscribe(channel).catch(() => undefined);
    }
  }

  get channelCount(): number {
    return this.channels.size;
  }
}
