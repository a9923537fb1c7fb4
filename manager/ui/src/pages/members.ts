import { api, type ImportReport, type IssuedCode, type Member } from '../api.js';
import type { Context } from '../app.js';
import { canWrite, guard, notify } from '../app.js';
import { clear, field, formValue, h, table, time } from '../dom.js';

export async function membersPage(ctx: Context, view: HTMLElement): Promise<void> {
  if (ctx.domain === '') {
    view.append(h('p', {}, 'No domain is visible to this token.'));
    return;
  }
  const q = ctx.params.get('q') ?? '';
  const codePanel = h('section', { class: 'code-panel', hidden: true, 'aria-live': 'polite' });
  const list = h('div', { id: 'member-list' });

  const search = h(
    'form',
    { role: 'search', class: 'inline' },
    field('Search members', { name: 'q', type: 'search', value: q }),
    h('button', { type: 'submit' }, 'Search'),
  );
  search.addEventListener('submit', (event) => {
    event.preventDefault();
    const value = formValue(search, 'q');
    location.hash = value === '' ? '#/members' : `#/members?q=${encodeURIComponent(value)}`;
  });

  const rows: Member[] = [];
  const showList = (next?: string): void => {
    clear(list);
    list.append(
      table(
        `Members of ${ctx.domain}`,
        ['Id', 'Display name', 'Email', 'Created', 'Actions'],
        rows.map((m) => [
          h('code', { class: 'id' }, m.id),
          m.displayName,
          m.email ?? '—',
          time(m.createdAt),
          h(
            'div',
            { class: 'actions' },
            canWrite(ctx)
              ? h(
                  'button',
                  {
                    type: 'button',
                    'data-member': m.id,
                    'aria-label': `Issue an activation code for ${m.id}`,
                    onclick: guard(async () => {
                      showCode(codePanel, m, await api.issueCode(ctx.domain, m.id));
                    }),
                  },
                  'Issue code',
                )
              : null,
            h('a', { href: `#/devices?member=${encodeURIComponent(m.id)}` }, 'Devices'),
          ),
        ]),
        q === '' ? 'No members yet.' : 'No member matches.',
      ),
    );
    if (next !== undefined) {
      list.append(
        h(
          'button',
          {
            type: 'button',
            class: 'secondary',
            onclick: guard(async () => {
              const page = await api.members(ctx.domain, q, next);
              rows.push(...page.items);
              showList(page.next);
            }),
          },
          'Load more',
        ),
      );
    }
  };
  const reload = async (): Promise<void> => {
    const first = await api.members(ctx.domain, q);
    rows.splice(0, rows.length, ...first.items);
    showList(first.next);
  };
  await reload();

  view.append(
    codePanel,
    h(
      'section',
      { 'aria-labelledby': 'list-title' },
      h('h2', { id: 'list-title' }, 'Find members'),
      search,
      list,
    ),
  );
  if (canWrite(ctx))
    view.append(h('div', { class: 'form-grid' }, addForm(ctx), importForm(ctx, reload)));
}

function showCode(panel: HTMLElement, member: Member, issued: IssuedCode): void {
  clear(panel);
  const output = h('input', {
    id: 'activation-code',
    class: 'code',
    readonly: true,
    value: issued.code,
    size: issued.code.length,
    'aria-describedby': 'code-hint',
  });
  const copy = h('button', { type: 'button' }, 'Copy');
  copy.addEventListener('click', () => {
    output.select();
    navigator.clipboard
      .writeText(issued.code)
      .then(() => notify('Activation code copied.'))
      .catch(() => notify('Copy failed: the code is selected, copy it with Ctrl+C.', 'error'));
  });
  panel.append(
    h('h2', {}, `Activation code for ${member.displayName}`),
    h(
      'div',
      { class: 'inline' },
      h('label', { for: 'activation-code' }, 'Code'),
      output,
      copy,
      h(
        'button',
        {
          type: 'button',
          class: 'secondary',
          onclick: () => {
            clear(panel);
            panel.hidden = true;
          },
        },
        'Done',
      ),
    ),
    h(
      'p',
      { id: 'code-hint' },
      'Shown only now. The member enrolls a device with ',
      h('code', {}, 'grove enroll --manager URL --code CODE --state DIR'),
      '; the code works once and expires ',
      time(issued.expiresAt),
      '.',
    ),
  );
  panel.hidden = false;
  output.focus();
  output.select();
}

function addForm(ctx: Context): HTMLElement {
  const form = h(
    'form',
    { 'aria-labelledby': 'add-title', class: 'card' },
    h('h2', { id: 'add-title' }, 'Add a member'),
    field(
      'Id',
      {
        name: 'id',
        required: true,
        pattern: '[a-z0-9][a-z0-9._@\\-]{0,127}',
        autocomplete: 'off',
      },
      'Lower-case letters, digits and . _ @ -, starting with a letter or digit; used in addresses.',
    ),
    field('Display name', { name: 'displayName', required: true, maxlength: 256 }),
    field('Email (optional)', { name: 'email', type: 'email' }),
    h('button', { type: 'submit' }, 'Add member'),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    guard(async () => {
      const email = formValue(form, 'email');
      const member = await api.createMember(ctx.domain, {
        id: formValue(form, 'id'),
        displayName: formValue(form, 'displayName'),
        ...(email === '' ? {} : { email }),
      });
      await ctx.refresh();
      notify(`Member ${member.id} added.`);
    })();
  });
  return form;
}

function importForm(ctx: Context, reload: () => Promise<void>): HTMLElement {
  const report = h('div', { class: 'import-report', 'aria-live': 'polite' });
  const file = h('input', {
    id: 'import-file',
    type: 'file',
    accept: '.csv,.json,text/csv,application/json',
  });
  const text = h('textarea', { id: 'import-text', name: 'text', rows: 6, spellcheck: 'false' });
  file.addEventListener('change', () => {
    const chosen = file.files?.[0];
    if (chosen === undefined) return;
    chosen
      .text()
      .then((content) => {
        text.value = content;
        const json = chosen.name.endsWith('.json');
        const radio = form.querySelector<HTMLInputElement>(
          `input[value="${json ? 'json' : 'csv'}"]`,
        );
        if (radio !== null) radio.checked = true;
      })
      .catch(() => notify('Could not read the file.', 'error'));
  });
  const radio = (value: string, label: string, checked: boolean): HTMLElement =>
    h(
      'label',
      { class: 'choice' },
      h('input', { type: 'radio', name: 'format', value, checked }),
      ` ${label}`,
    );
  const form = h(
    'form',
    { 'aria-labelledby': 'import-title', class: 'card' },
    h('h2', { id: 'import-title' }, 'Import members'),
    h(
      'p',
      {},
      'CSV with the header ',
      h('code', {}, 'id,displayName,email'),
      ', or a JSON array of ',
      h('code', {}, '{"id", "displayName", "email"}'),
      '.',
    ),
    h('div', { class: 'field' }, h('label', { for: 'import-file' }, 'File'), file),
    h('div', { class: 'field' }, h('label', { for: 'import-text' }, 'Or paste the rows'), text),
    h(
      'fieldset',
      {},
      h('legend', {}, 'Format'),
      radio('csv', 'CSV', true),
      radio('json', 'JSON', false),
    ),
    h(
      'label',
      { class: 'choice' },
      h('input', { type: 'checkbox', name: 'allOrNothing', value: 'true' }),
      ' All or nothing: import no row when any row is wrong',
    ),
    h('button', { type: 'submit' }, 'Import'),
    report,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    guard(async () => {
      const format = formValue(form, 'format') === 'json' ? 'json' : 'csv';
      const allOrNothing = formValue(form, 'allOrNothing') === 'true';
      let result: ImportReport;
      try {
        result = await api.importMembers(ctx.domain, format, text.value, allOrNothing);
      } catch (error) {
        // 422 with allOrNothing still carries the per-row report.
        const found = reportIn((error as { body?: unknown }).body);
        if (found === undefined) throw error;
        result = found;
      }
      showReport(report, result);
      // The list shows the new members; the report stays where it is.
      if (result.created.length > 0) await reload();
    })();
  });
  return form;
}

/** The report is the body itself or the error's details, depending on the answer. */
function reportIn(body: unknown): ImportReport | undefined {
  if (isReport(body)) return body;
  const details = (body as { error?: { details?: unknown } } | undefined)?.error?.details;
  return isReport(details) ? details : undefined;
}

function isReport(body: unknown): body is ImportReport {
  return (
    typeof body === 'object' &&
    body !== null &&
    Array.isArray((body as { errors?: unknown }).errors) &&
    Array.isArray((body as { created?: unknown }).created)
  );
}

function showReport(report: HTMLElement, result: ImportReport): void {
  clear(report);
  report.append(
    h(
      'p',
      { role: 'status' },
      `${String(result.created.length)} created, ${String(result.errorCount ?? result.errors.length)} rejected.` +
        (result.errorCount === undefined
          ? ''
          : ` The first ${String(result.errors.length)} are listed.`),
    ),
    table(
      'Rejected rows',
      ['Row', 'Id', 'Code', 'Message'],
      result.errors.map((e) => [String(e.row), e.id ?? '—', h('code', {}, e.code), e.message]),
      'Every row was accepted.',
    ),
  );
}
