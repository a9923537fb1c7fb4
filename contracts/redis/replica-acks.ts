import { Cluster, type Redis } from 'ioredis';
import type { RedisClient } from './connection.js';

/** How many replicas must confirm a write before it counts as durable, and how long to wait. */
export interface ReplicaAckSettings {
  /** 0: do not wait (a single Redis, or no replicas). */
  replicas: number;
  timeoutMs: number;
}

/** The writes could not be confirmed on enough replicas: the caller must not acknowledge them. */
export class ReplicaAckError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReplicaAckError';
  }
}

/** What `mark()` returns: confirm() fails if the connection was replaced since. */
export type WriteMark = number;

/** How long the probe key a confirmation writes lives (it only has to reach the replicas). */
const PROBE_TTL_MS = 60_000;
/** How often the number of replicas in sync is read (fast refusal while too few are). */
const REPLICA_CHECK_MS = 1000;

/**
 * Confirms that writes reached `replicas` replicas before they are acknowledged: after the
 * writes, one small write (the probe, `SET …:ra PX`) and then `WAIT replicas timeout` on the
 * same connection, or on Redis ≥ 7.2 `WAITAOF 1 replicas timeout` (then on the replicas' disks,
 * not only in their memory). The probe makes the wait cover every write the server processed
 * before it, whichever connection made it: a retry that finds its message already queued (a
 * duplicate, written by another relay whose own wait failed) is confirmed too, since the
 * replication stream is one ordered log.
 *
 * A confirmation fails (ReplicaAckError) when fewer replicas answer in time, and when the
 * connection closed between `mark()` and the answer: ioredis re-sends unanswered commands on
 * the new connection, possibly to a new primary, where a WAIT would cover nothing of what the
 * old one took. Confirmations asked for in the same turn of the event loop share one probe and
 * one WAIT.
 *
 * On Redis Cluster each key's probe and WAIT go to the master of its slot, over the cluster's
 * own connection to that node.
 */
export class ReplicaAcks {
  private generation = 0;
  private useWaitAof: boolean | undefined;
  private batch: { keys: Set<string>; done: Promise<void> } | undefined;
  /** Replicas in sync when last looked (standalone / Sentinel); undefined: not known yet. */
  private inSync: number | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: RedisClient,
    readonly settings: ReplicaAckSettings,
    private readonly probeName = 'ra',
  ) {
    const watch = (connection: Redis) => connection.on('close', () => this.generation++);
    if (redis instanceof Cluster) {
      for (const node of redis.nodes('all')) watch(node);
      redis.on('+node', watch);
    } else {
      watch(redis);
    }
  }

  get enabled(): boolean {
    return this.settings.replicas > 0;
  }

  /**
   * Reads the number of replicas in sync every second, so that writes are refused at once
   * (rather than after the timeout) while too few are connected. Standalone and Sentinel only.
   */
  startChecking(): void {
    if (!this.enabled || this.redis instanceof Cluster || this.timer !== undefined) return;
    const check = () => {
      replicasInSync(this.redis as Redis).then(
        (count) => (this.inSync = count),
        () => (this.inSync = undefined),
      );
    };
    check();
    this.timer = setInterval(check, REPLICA_CHECK_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Call before the writes to confirm. */
  mark(): WriteMark {
    return this.generation;
  }

  /**
   * Resolves once every write processed before this call (on standalone and Sentinel), or
   * before this call in the slots of `keys` (on a cluster), is on `replicas` replicas; throws
   * ReplicaAckError otherwise.
   */
  async confirm(mark: WriteMark, keys: readonly string[]): Promise<void> {
    if (!this.enabled) return;
    if (this.generation !== mark) {
      throw new ReplicaAckError(
        'the Redis connection was replaced before the writes were confirmed',
      );
    }
    if (this.inSync !== undefined && this.inSync < this.settings.replicas) {
      throw new ReplicaAckError(
        `${this.inSync} Redis replicas in sync, ${this.settings.replicas} needed to confirm a write`,
      );
    }
    const batch = this.joinBatch(keys);
    await batch;
    if (this.generation !== mark) {
      throw new ReplicaAckError(
        'the Redis connection was replaced before the writes were confirmed',
      );
    }
  }

  private joinBatch(keys: readonly string[]): Promise<void> {
    if (this.batch === undefined) {
      const batch: { keys: Set<string>; done: Promise<void> } = {
        keys: new Set(),
        done: Promise.resolve(),
      };
      batch.done = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        if (this.batch === batch) this.batch = undefined;
        return this.confirmNow([...batch.keys]);
      });
      this.batch = batch;
    }
    for (const key of keys) this.batch.keys.add(key);
    return this.batch.done;
  }

  private async confirmNow(keys: string[]): Promise<void> {
    if (this.redis instanceof Cluster) {
      const byNode = new Map<Redis, string>();
      for (const key of keys) {
        const node = masterOfKey(this.redis, key);
        if (node === undefined) {
          throw new ReplicaAckError(`no known Redis Cluster master for the slot of ${key}`);
        }
        if (!byNode.has(node)) byNode.set(node, key);
      }
      await Promise.all(
        [...byNode].map(([node, key]) => this.probeAndWait(node, probeKey(key, this.probeName))),
      );
      return;
    }
    // One server: any key does; one fixed key rather than one per device.
    await this.probeAndWait(this.redis, `g:{${this.probeName}}`);
  }

  private async probeAndWait(connection: Redis, probe: string): Promise<void> {
    const { replicas, timeoutMs } = this.settings;
    // Sent right behind the probe on the same connection (auto-pipelined in order). Both
    // awaited together: when the connection drops both fail, and a rejection nobody awaits
    // would end the process.
    const [, acked] = await Promise.all([
      connection.set(probe, '1', 'PX', PROBE_TTL_MS),
      this.waitFor(connection, replicas, timeoutMs),
    ]);
    if (acked < replicas) {
      throw new ReplicaAckError(
        `${acked} of ${replicas} Redis replicas confirmed the write within ${timeoutMs} ms`,
      );
    }
  }

  /** WAITAOF 1 n t where the server has it (Redis ≥ 7.2), else WAIT n t: the replicas that have it. */
  private async waitFor(connection: Redis, replicas: number, timeoutMs: number): Promise<number> {
    if (this.useWaitAof !== false) {
      try {
        const reply = (await connection.call('WAITAOF', 1, replicas, timeoutMs)) as [
          number,
          number,
        ];
        this.useWaitAof = true;
        return reply[1];
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        if (this.useWaitAof === true || !/unknown command|appendonly/i.test(message)) throw error;
        // Redis < 7.2 (or no AOF): WAIT from now on.
        this.useWaitAof = false;
      }
    }
    return connection.wait(replicas, timeoutMs);
  }
}

/** The probe key in the hash tag of `key` (same slot on a cluster): `g:{tag}:ra`. */
export function probeKey(key: string, name = 'ra'): string {
  const tag = /\{[^}]+\}/.exec(key)?.[0] ?? `{${key}}`;
  return `g:${tag}:${name}`;
}

/** Replicas the primary reports online, from INFO replication (`connected_slaves` with state=online). */
export async function replicasInSync(redis: Redis): Promise<number> {
  return parseReplication(await redis.info('replication')).replicas.filter(
    (replica) => replica.state === 'online',
  ).length;
}

/** One replica as its primary reports it. */
export interface ReplicaInfo {
  ip: string;
  port: number;
  state: string;
  offset: number;
  /** Seconds since its last acknowledgement. */
  lag: number;
}

/** The parts of INFO replication Grove reads. */
export interface ReplicationInfo {
  role: string;
  masterReplOffset: number;
  replicas: ReplicaInfo[];
  /** On a replica: its primary's address and whether the link is up. */
  masterHost?: string;
  masterPort?: number;
  masterLinkUp?: boolean;
}

export function parseReplication(info: string): ReplicationInfo {
  const fields = new Map<string, string>();
  for (const line of info.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  const replicas: ReplicaInfo[] = [];
  for (const [name, value] of fields) {
    if (!/^slave\d+$/.test(name)) continue;
    const parts = new Map(
      value.split(',').map((pair) => {
        const eq = pair.indexOf('=');
        return [pair.slice(0, eq), pair.slice(eq + 1)] as const;
      }),
    );
    replicas.push({
      ip: parts.get('ip') ?? '',
      port: Number(parts.get('port') ?? 0),
      state: parts.get('state') ?? '',
      offset: Number(parts.get('offset') ?? 0),
      lag: Number(parts.get('lag') ?? 0),
    });
  }
  const masterPort = fields.get('master_port');
  const masterLink = fields.get('master_link_status');
  return {
    role: fields.get('role') ?? '',
    masterReplOffset: Number(fields.get('master_repl_offset') ?? 0),
    replicas,
    ...(fields.has('master_host') ? { masterHost: fields.get('master_host') ?? '' } : {}),
    ...(masterPort === undefined ? {} : { masterPort: Number(masterPort) }),
    ...(masterLink === undefined ? {} : { masterLinkUp: masterLink === 'up' }),
  };
}

/** The master connection of the cluster for `key`'s slot, from the cluster's slot table. */
function masterOfKey(cluster: Cluster, key: string): Redis | undefined {
  const nodeKey = cluster.slots[keySlot(key)]?.[0];
  if (nodeKey === undefined) return undefined;
  return cluster
    .nodes('master')
    .find((node) => `${node.options.host ?? ''}:${node.options.port ?? ''}` === nodeKey);
}

/** The Redis Cluster slot of a key: CRC16 (XMODEM) of its hash tag, or of the key, mod 16384. */
export function keySlot(key: string): number {
  const open = key.indexOf('{');
  let hashed = key;
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) hashed = key.slice(open + 1, close);
  }
  let crc = 0;
  for (const byte of Buffer.from(hashed, 'utf8')) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
  }
  return crc % 16384;
}
