import { api, type UsageReport } from '../api.js';
import type { Context } from '../app.js';
import { errorBox } from '../app.js';
import { h, table } from '../dom.js';

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? String(value) : value.toFixed(1)} ${units[unit] ?? 'B'}`;
}

const number = (n: number): string => n.toLocaleString();

export async function dashboardPage(ctx: Context, view: HTMLElement): Promise<void> {
  const reports = await Promise.all(
    ctx.domains.map(async (domain) => {
      try {
        return { domain, usage: await api.usage(domain.name) };
      } catch (error) {
        return { domain, error };
      }
    }),
  );
  const ok = reports.flatMap((r) => (r.usage === undefined ? [] : [r.usage]));
  const total = (key: keyof Omit<UsageReport, 'domain'>): number =>
    ok.reduce((sum, usage) => sum + usage[key], 0);
  view.append(
    h(
      'section',
      { 'aria-labelledby': 'totals-title' },
      h('h2', { id: 'totals-title' }, 'All your domains'),
      h(
        'dl',
        { class: 'stats' },
        stat('Devices online', number(total('devicesOnline'))),
        stat('Messages relayed', number(total('messagesRelayed'))),
        stat('Members', number(total('members'))),
        stat('Devices', number(total('devices'))),
        stat('Queued messages', number(total('queuedMessages'))),
      ),
    ),
    h(
      'section',
      { 'aria-labelledby': 'domains-title' },
      h('h2', { id: 'domains-title' }, 'Per domain'),
      table(
        'Usage per domain',
        [
          'Domain',
          'Devices online',
          'Messages relayed',
          'Members',
          'Devices',
          'Queued',
          'Relay URLs',
        ],
        reports.map((r) => {
          const name = h('a', { href: '#/members' }, r.domain.displayName ?? r.domain.name);
          name.addEventListener('click', () =>
            sessionStorage.setItem('grove.domain', r.domain.name),
          );
          if (r.usage === undefined) return [name, errorBox(r.error)];
          const u = r.usage;
          return [
            name,
            number(u.devicesOnline),
            number(u.messagesRelayed),
            number(u.members),
            number(u.devices),
            `${number(u.queuedMessages)} (${formatBytes(u.queuedBytes)})`,
            r.domain.relayUrls.join(', ') || '—',
          ];
        }),
        'No domain is visible to this token.',
      ),
    ),
  );
}

function stat(label: string, value: string): HTMLElement {
  return h('div', { class: 'stat' }, h('dt', {}, label), h('dd', {}, value));
}
