import { describe, expect, it } from '@jest/globals';
import type { Workspace } from '../model.js';
import { selectedWorkspaces, workspaceRoles } from './bridge-membership.js';

const workspace = (id: string, members: string[] = []): Workspace => ({
  id,
  domain: 'acme',
  name: id,
  members,
  createdAt: '2026-01-01T00:00:00Z',
  updatedAt: '2026-01-01T00:00:00Z',
});

describe('bridge membership', () => {
  const all = [workspace('design'), workspace('legal'), workspace('ops')];
  const labels = new Map<string, Record<string, string>>([
    ['design', { archive: 'yes' }],
    ['legal', { archive: 'yes', tier: 'gold' }],
  ]);

  it('selects every workspace, a list, or by label selector', () => {
    expect(selectedWorkspaces({ all: true }, all, labels).map((w) => w.id)).toEqual([
      'design',
      'legal',
      'ops',
    ]);
    expect(selectedWorkspaces({ ids: ['ops', 'gone'] }, all, labels).map((w) => w.id)).toEqual([
      'ops',
    ]);
    expect(
      selectedWorkspaces({ selector: { matchLabels: { archive: 'yes' } } }, all, labels).map(
        (w) => w.id,
      ),
    ).toEqual(['design', 'legal']);
    expect(
      selectedWorkspaces(
        { selector: { matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] } },
        all,
        labels,
      ).map((w) => w.id),
    ).toEqual(['design', 'ops']);
  });

  it('lists roles: owner, bridge, members, then suspended members not re-invited', () => {
    const restored = workspace('design-restored', ['alice', 'archiver', 'carol']);
    expect(
      workspaceRoles(restored, new Set(['archiver']), {
        owner: 'alice',
        suspended: ['bob', 'carol'],
      }),
    ).toEqual([
      { id: 'alice', role: 'owner' },
      { id: 'archiver', role: 'bridge' },
      { id: 'carol', role: 'member' },
      { id: 'bob', role: 'suspended' },
    ]);
    expect(workspaceRoles(workspace('plain', ['bob']), new Set(), undefined)).toEqual([
      { id: 'bob', role: 'member' },
    ]);
  });
});
