import type { ArchiveStore } from '../store/archive-store.js';
import type { ArchiveKeyring, KdfParams } from './archive-keys.js';
import { openArchiveRoot } from './archive-root.js';
import { WorkspaceArchive, type ArchiveLimits } from './workspace-archive.js';

/**
 * The archives of one domain as the bridge writes them: the root file (opened once: a wrong
 * password stops here) and each workspace's archive, loaded on first use.
 */
export class DomainArchive {
  private readonly loaded = new Map<string, Promise<WorkspaceArchive>>();

  private constructor(
    readonly store: ArchiveStore,
    private readonly keyring: ArchiveKeyring,
    private readonly kdf: KdfParams,
    readonly domain: string,
    private readonly limits: ArchiveLimits,
    private readonly clock: () => Date,
  ) {}

  static async open(
    store: ArchiveStore,
    keyring: ArchiveKeyring,
    domain: string,
    limits: ArchiveLimits,
    clock: () => Date,
  ): Promise<DomainArchive> {
    const kdf = await openArchiveRoot(store, keyring, domain, clock(), true);
    return new DomainArchive(store, keyring, kdf, domain, limits, clock);
  }

  /** A workspace's archive, loaded (and repaired) once; a failed load is tried again next time. */
  workspace(workspace: string): Promise<WorkspaceArchive> {
    let loading = this.loaded.get(workspace);
    if (loading === undefined) {
      loading = WorkspaceArchive.load(
        this.store,
        this.keyring,
        this.kdf,
        this.domain,
        workspace,
        this.limits,
        this.clock(),
      );
      this.loaded.set(workspace, loading);
      loading.catch(() => this.loaded.delete(workspace));
    }
    return loading;
  }

  /** Every workspace with an archive in the store, and those loaded since (sorted). */
  async workspaces(): Promise<string[]> {
    const names = new Set(await this.store.folders(`${this.domain}/`));
    for (const name of this.loaded.keys()) names.add(name);
    return [...names].sort();
  }

  /** Forgets a workspace whose whole archive retention removed. */
  forget(workspace: string): void {
    this.loaded.delete(workspace);
  }
}
