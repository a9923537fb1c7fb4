import { matchesSelector } from '../../crds/selector.js';
import type { Workspace } from '../model.js';
import type { BridgeSelection, StoredRoles } from './bridge-model.js';

/** The workspaces a bridge's selection names, in id order (ids that do not exist are left out). */
export function selectedWorkspaces(
  selection: BridgeSelection,
  workspaces: readonly Workspace[],
  labels: ReadonlyMap<string, Record<string, string>>,
  exclude: readonly string[] = [],
): Workspace[] {
  const excluded = new Set(exclude);
  const candidates = workspaces.filter((workspace) => !excluded.has(workspace.id));
  if ('all' in selection) return candidates;
  if ('ids' in selection) {
    const ids = new Set(selection.ids);
    return candidates.filter((workspace) => ids.has(workspace.id));
  }
  return candidates.filter((workspace) =>
    matchesSelector(selection.selector, labels.get(workspace.id) ?? {}),
  );
}

export type WorkspaceRole = 'owner' | 'member' | 'bridge' | 'suspended';

/**
 * Everyone a workspace lists, with a role: its members (the owner of a restored workspace,
 * bridges as `bridge`, the rest `member`), then the members it had before a restore that were
 * not re-invited yet (`suspended`: they receive nothing until added back).
 */
export function workspaceRoles(
  workspace: Pick<Workspace, 'members'>,
  bridges: ReadonlySet<string>,
  stored: StoredRoles | undefined,
): { id: string; role: WorkspaceRole }[] {
  const roleOf = (id: string): WorkspaceRole =>
    bridges.has(id) ? 'bridge' : id === stored?.owner ? 'owner' : 'member';
  const members = workspace.members.map((id) => ({ id, role: roleOf(id) }));
  const present = new Set(workspace.members);
  const suspended = (stored?.suspended ?? [])
    .filter((id) => !present.has(id))
    .map((id) => ({ id, role: 'suspended' as const }));
  return [...members, ...suspended];
}
