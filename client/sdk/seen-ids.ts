/**
 * The ids of recently delivered messages, bounded (oldest forgotten first), so a message
 * redelivered after a reconnect reaches the application once.
 */
export class SeenIds {
  private readonly ids = new Set<string>();

  constructor(private readonly capacity = 100_000) {}

  /** Records the id; false when it was already seen. */
  add(id: string): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.capacity) {
      const oldest = this.ids.values().next();
      if (oldest.done !== true) this.ids.delete(oldest.value);
    }
    return true;
  }

  delete(id: string): void {
    this.ids.delete(id);
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }
}
