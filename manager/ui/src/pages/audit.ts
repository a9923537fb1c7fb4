import { api, type AuditEntry } from '../api.js';
import type { Context } from '../app.js';
import { guard, notify } from '../app.js';
import { clear, field, formValue, h, table, time } from '../dom.js';

const FILTERS = ['domain', 'actor', 'action', 'since', 'until'] as const;

/** datetime-local gives local wall time without a zone; the API wants RFC 3339. */
function toIso(local: string): string | undefined {
  if (local === '') return undefined;
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

function toLocalInput(iso: string | null): string {
  if (iso === null) return '';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${String(date.getFullYear())}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

export async function auditPage(ctx: Context, view: HTMLElement): Promise<void> {
  const p = ctx.params;
  const filters: Record<string, string | undefined> = {};
  for (const key of FILTERS) filters[key] = p.get(key) ?? undefined;
  if (!p.has('domain')) filters.domain = ctx.domain === '' ? undefined : ctx.domain;

  const domainSelect = h(
    'select',
    { id: 'audit-domain', name: 'domain' },
    h('option', { value: '' }, 'All visible domains'),
    ...ctx.domains.map((d) =>
      h('option', { value: d.name, selected: d.name === filters.domain }, d.name),
    ),
  );
  const form = h(
    'form',
    { class: 'filters', 'aria-label': 'Audit filters' },
    h('div', { class: 'field' }, h('label', { for: 'audit-domain' }, 'Domain'), domainSelect),
    field('Actor', { name: 'actor', value: filters.actor ?? '', autocomplete: 'off' }),
    field(
      'Action',
      { name: 'action', value: filters.action ?? '', autocomplete: 'off' },
      'e.g. member.create, device.revoke',
    ),
    field('Since', { name: 'since', type: 'datetime-local', value: toLocalInput(p.get('since')) }),
    field('Until', { name: 'until', type: 'datetime-local', value: toLocalInput(p.get('until')) }),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'submit' }, 'Apply filters'),
      h('a', { href: '#/audit?domain=', class: 'button secondary' }, 'Clear'),
    ),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const query = new URLSearchParams();
    query.set('domain', formValue(form, 'domain'));
    for (const key of ['actor', 'action'] as const) {
      const value = formValue(form, key);
      if (value !== '') query.set(key, value);
    }
    for (const key of ['since', 'until'] as const) {
      const value = toIso(formValue(form, key));
      if (value !== undefined) query.set(key, value);
    }
    location.hash = `#/audit?${query.toString()}`;
  });

  const exportButton = h(
    'button',
    {
      type: 'button',
      class: 'secondary',
      id: 'audit-export',
      onclick: guard(async () => {
        const blob = await api.auditExport(filters);
        const url = URL.createObjectURL(blob);
        const link = h('a', {
          href: url,
          download: `grove-audit-${new Date().toISOString()}.jsonl`,
        });
        document.body.appendChild(link);
        link.click();
        link.remove();
        setTimeout(() => URL.revokeObjectURL(url), 10_000);
        notify('Audit log exported as JSON lines.');
      }),
    },
    'Export JSON lines',
  );

  const entries: AuditEntry[] = [];
  const list = h('div', { id: 'audit-list' });
  const show = (next?: string): void => {
    clear(list);
    list.append(
      table(
        'Audit entries, newest first',
        ['Time', 'Actor', 'Action', 'Domain', 'Target', 'Outcome', 'Details'],
        entries.map((e) => [
          time(e.time),
          h('span', { class: 'wrap-any' }, e.actor),
          h('code', { class: 'action' }, e.action),
          e.domain ?? '—',
          h('span', { class: 'wrap-any' }, e.target ?? '—'),
          h('span', { class: `badge ${e.outcome}` }, e.outcome),
          e.details === undefined ? '' : h('span', { class: 'details' }, detailText(e.details)),
        ]),
        'No audit entry matches.',
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
              const page = await api.audit(filters, next);
              entries.push(...page.items);
              show(page.next);
            }),
          },
          'Load more',
        ),
      );
    }
  };
  const first = await api.audit(filters);
  entries.push(...first.items);
  show(first.next);
  view.append(form, h('div', { class: 'toolbar' }, exportButton), list);
}

/** "member: alice · deviceName: laptop": readable, and it wraps in a narrow column. */
function detailText(details: Record<string, unknown>): string {
  return Object.entries(details)
    .map(([key, value]) => `${key}: ${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' · ');
}
