import { api, type RestoreJob } from '../api.js';
import type { Context } from '../app.js';
import { canWrite, guard, notify } from '../app.js';
import { field, formValue, h, table, time } from '../dom.js';

/** While a restore is pending or running, the list is read again this often. */
const POLL_MS = 1000;

/**
 * Restores from the Data Bridge's archive: a form that asks for one (source workspace, new
 * workspace, owner, a segment or a point in time) and the domain's restores with their state
 * and progress, refreshed while any is under way.
 */
export async function restoresPage(ctx: Context, view: HTMLElement): Promise<void> {
  if (ctx.domain === '') {
    view.append(h('p', {}, 'No domain is visible to this token.'));
    return;
  }
  const [workspaces, jobs] = await Promise.all([
    api.workspaces(ctx.domain),
    api.restores(ctx.domain),
  ]);
  if (canWrite(ctx))
    view.append(
      requestForm(
        ctx,
        workspaces.map((w) => w.id),
      ),
    );
  const list = h('section', { 'aria-labelledby': 'restores-title' });
  view.append(list);
  showJobs(list, jobs);
  if (jobs.some(underWay)) pollWhileUnderWay(ctx, list);
}

const underWay = (job: RestoreJob): boolean => job.state === 'pending' || job.state === 'running';

function showJobs(list: HTMLElement, jobs: RestoreJob[]): void {
  list.replaceChildren(
    h('h2', { id: 'restores-title' }, 'Restores'),
    table(
      'Restores, newest first',
      ['New workspace', 'From', 'Owner', 'Point', 'State', 'Delivered', 'Requested', 'Finished'],
      jobs.map((job) => [
        h('code', {}, job.newWorkspace),
        h('code', {}, job.sourceWorkspace),
        job.owner,
        job.segment !== undefined
          ? `through segment ${String(job.segment)}`
          : job.until !== undefined
            ? `until ${new Date(job.until).toISOString()}`
            : 'every sealed segment',
        h(
          'span',
          { class: `state ${job.state}`, 'data-restore': job.newWorkspace },
          job.error === undefined ? job.state : `${job.state}: ${job.error.code}`,
        ),
        job.total === undefined
          ? String(job.delivered)
          : `${String(job.delivered)} of ${String(job.total)}`,
        time(job.requestedAt),
        time(job.finishedAt),
      ]),
      'No restores yet.',
    ),
  );
}

function pollWhileUnderWay(ctx: Context, list: HTMLElement): void {
  const timer = setInterval(() => {
    // The page was left or re-rendered: this list is gone.
    if (!list.isConnected) {
      clearInterval(timer);
      return;
    }
    api
      .restores(ctx.domain)
      .then((jobs) => {
        if (!list.isConnected) return;
        showJobs(list, jobs);
        if (!jobs.some(underWay)) clearInterval(timer);
      })
      .catch(() => undefined);
  }, POLL_MS);
}

function requestForm(ctx: Context, workspaceIds: string[]): HTMLElement {
  const listId = 'restore-workspaces';
  const form = h(
    'form',
    { class: 'card', 'aria-labelledby': 'restore-title' },
    h('h2', { id: 'restore-title' }, 'Restore a workspace from the archive'),
    h(
      'p',
      {},
      'The Data Bridge sends the archived messages, oldest first, to a new workspace: its owner ' +
        'receives them on their devices; the other members are suspended until you add them again.',
    ),
    field(
      'Archived workspace',
      { name: 'source', required: true, autocomplete: 'off', list: listId },
      'Its id (it may have been deleted since).',
    ),
    h('datalist', { id: listId }, ...workspaceIds.map((id) => h('option', { value: id }))),
    field('New workspace id', { name: 'to', required: true, autocomplete: 'off' }),
    field('Owner', { name: 'owner', required: true, autocomplete: 'off' }, 'A member id.'),
    field('Name (optional)', { name: 'name', maxlength: 256 }),
    field(
      'Through segment (optional)',
      { name: 'segment', type: 'number', min: 1, step: 1 },
      'The last sealed segment to restore.',
    ),
    field(
      'Until (optional)',
      { name: 'until', type: 'datetime-local', step: 1 },
      'Messages created at or before this time (your time zone). Not with a segment.',
    ),
    h('button', { type: 'submit' }, 'Restore'),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    guard(async () => {
      const segment = formValue(form, 'segment');
      const until = formValue(form, 'until');
      const name = formValue(form, 'name');
      const job = await api.restore(ctx.domain, {
        sourceWorkspace: formValue(form, 'source'),
        newWorkspace: formValue(form, 'to'),
        owner: formValue(form, 'owner'),
        ...(name === '' ? {} : { name }),
        ...(segment === '' ? {} : { segment: Number(segment) }),
        ...(until === '' ? {} : { until: new Date(until).toISOString() }),
      });
      await ctx.refresh();
      notify(`Restore of ${job.sourceWorkspace} into ${job.newWorkspace} requested.`);
    })();
  });
  return form;
}
