import { api, type Workspace } from '../api.js';
import type { Context } from '../app.js';
import { canWrite, guard, notify } from '../app.js';
import { confirmDialog, field, formValue, h, time } from '../dom.js';

const idList = (text: string): string[] =>
  text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter((s) => s !== '');

export async function workspacesPage(ctx: Context, view: HTMLElement): Promise<void> {
  if (ctx.domain === '') {
    view.append(h('p', {}, 'No domain is visible to this token.'));
    return;
  }
  const workspaces = await api.workspaces(ctx.domain);
  const write = canWrite(ctx);
  if (write) view.append(createForm(ctx));
  view.append(
    h('h2', {}, `Workspaces of ${ctx.domain}`),
    workspaces.length === 0
      ? h('p', { class: 'empty' }, 'No workspaces yet.')
      : h('div', { class: 'cards' }, ...workspaces.map((w) => workspaceCard(ctx, w, write))),
  );
}

function createForm(ctx: Context): HTMLElement {
  const form = h(
    'form',
    { class: 'card', 'aria-labelledby': 'create-title' },
    h('h2', { id: 'create-title' }, 'Create a workspace'),
    field('Id', { name: 'id', required: true, autocomplete: 'off' }),
    field('Name', { name: 'name', required: true, maxlength: 256 }),
    field(
      'Members (optional)',
      { name: 'members', autocomplete: 'off' },
      'Member ids, separated by commas or spaces.',
    ),
    h('button', { type: 'submit' }, 'Create workspace'),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    guard(async () => {
      const created = await api.createWorkspace(
        ctx.domain,
        formValue(form, 'id'),
        formValue(form, 'name'),
        idList(formValue(form, 'members')),
      );
      await ctx.refresh();
      notify(`Workspace ${created.id} created.`);
    })();
  });
  return form;
}

function workspaceCard(ctx: Context, w: Workspace, write: boolean): HTMLElement {
  const titleId = `ws-${w.id}`;
  const card = h(
    'article',
    { class: 'card workspace', 'aria-labelledby': titleId, 'data-workspace': w.id },
    h('h3', { id: titleId }, w.name),
    h('p', { class: 'meta' }, 'Id ', h('code', {}, w.id), ' · updated ', time(w.updatedAt)),
    h('h4', {}, `Members (${String(w.members.length)})`),
    w.members.length === 0
      ? h('p', { class: 'empty' }, 'No members.')
      : h(
          'ul',
          { class: 'members' },
          ...w.members.map((m) =>
            h(
              'li',
              {},
              h('code', {}, m),
              write
                ? h(
                    'button',
                    {
                      type: 'button',
                      class: 'secondary small',
                      'aria-label': `Remove ${m} from ${w.name}`,
                      onclick: guard(async () => {
                        await api.removeWorkspaceMember(ctx.domain, w.id, m);
                        await ctx.refresh();
                        notify(`${m} removed from ${w.name}.`);
                      }),
                    },
                    'Remove',
                  )
                : null,
            ),
          ),
        ),
  );
  if (!write) return card;

  const add = h(
    'form',
    { class: 'inline' },
    field('Add members', { name: 'members', required: true, autocomplete: 'off' }),
    h('button', { type: 'submit' }, 'Add'),
  );
  add.addEventListener('submit', (event) => {
    event.preventDefault();
    guard(async () => {
      await api.addWorkspaceMembers(ctx.domain, w.id, idList(formValue(add, 'members')));
      await ctx.refresh();
      notify(`Members added to ${w.name}.`);
    })();
  });
  const rename = h(
    'form',
    { class: 'inline' },
    field('New name', { name: 'name', required: true, value: w.name, maxlength: 256 }),
    h('button', { type: 'submit' }, 'Rename'),
  );
  rename.addEventListener('submit', (event) => {
    event.preventDefault();
    guard(async () => {
      const renamed = await api.renameWorkspace(ctx.domain, w.id, formValue(rename, 'name'));
      await ctx.refresh();
      notify(`Workspace ${w.id} renamed to ${renamed.name}.`);
    })();
  });
  const remove = h(
    'button',
    {
      type: 'button',
      class: 'danger',
      onclick: guard(async () => {
        const sure = await confirmDialog(
          `Delete the workspace ${w.name} (${w.id})?`,
          'Delete workspace',
        );
        if (!sure) return;
        await api.deleteWorkspace(ctx.domain, w.id);
        await ctx.refresh();
        notify(`Workspace ${w.id} deleted.`);
      }),
    },
    'Delete workspace',
  );
  card.append(add, rename, h('div', { class: 'actions' }, remove));
  return card;
}
