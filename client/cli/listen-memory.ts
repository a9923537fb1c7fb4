import { randomBytes } from 'node:crypto';
import { appendFile, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * What `grove listen --state DIR` remembers across runs: the ids it printed (so a message
 * redelivered after a crash between printing and the relay's ack is not printed twice) and
 * the last queue epoch (so a resync while it was stopped is reported). The ids are appended
 * to DIR/listen-seen.log before the message is acked; the file is trimmed at start.
 */
export const SEEN_FILE = 'listen-seen.log';
export const EPOCH_FILE = 'listen-epoch';

/** The last `keep` distinct keys of a seen log, oldest first; blank and torn lines dropped. */
export function recentKeys(text: string, keep: number): string[] {
  const keys = text.split('\n').filter((line) => /^[^|\s]+\|[^|\s]+$/.test(line));
  return [...new Set(keys.slice(-keep))];
}

export class ListenMemory {
  private constructor(
    private readonly dir: string,
    private readonly seen: Set<string>,
    readonly epoch: string | undefined,
  ) {}

  static async open(dir: string, keep = 10_000): Promise<ListenMemory> {
    const file = join(dir, SEEN_FILE);
    const text = await readFile(file, 'utf8').catch(() => '');
    const keys = recentKeys(text, keep);
    const lineCount = text.split('\n').length - 1;
    if (lineCount > keep * 2) {
      // Rewrite atomically: a crash mid-trim must not lose the ids kept.
      const temp = join(dir, `.${SEEN_FILE}.${randomBytes(4).toString('hex')}`);
      try {
        await writeFile(temp, keys.map((key) => `${key}\n`).join(''), { mode: 0o600 });
        await rename(temp, file);
      } catch {
        await unlink(temp).catch(() => undefined);
      }
    }
    const epochText = await readFile(join(dir, EPOCH_FILE), 'utf8').catch(() => '');
    const epoch = epochText.trim();
    return new ListenMemory(dir, new Set(keys), epoch === '' ? undefined : epoch);
  }

  static key(message: { id: string; from: { device: string } }): string {
    return `${message.from.device}|${message.id}`;
  }

  has(key: string): boolean {
    return this.seen.has(key);
  }

  async remember(key: string): Promise<void> {
    this.seen.add(key);
    await appendFile(join(this.dir, SEEN_FILE), `${key}\n`, { mode: 0o600 });
  }

  async saveEpoch(epoch: string | undefined): Promise<void> {
    if (epoch === undefined || epoch === this.epoch) return;
    await writeFile(join(this.dir, EPOCH_FILE), `${epoch}\n`, { mode: 0o600 });
  }
}
