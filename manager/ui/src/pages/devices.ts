import { api, type Device } from '../api.js';
import type { Context } from '../app.js';
import { canWrite, guard, notify } from '../app.js';
import { confirmDialog, field, formValue, h, table, time } from '../dom.js';

const presenceLabel: Record<Device['presence'], string> = {
  active: 'Online',
  idle: 'Idle',
  offline: 'Offline',
};

export async function devicesPage(ctx: Context, view: HTMLElement): Promise<void> {
  if (ctx.domain === '') {
    view.append(h('p', {}, 'No domain is visible to this token.'));
    return;
  }
  const member = ctx.params.get('member') ?? '';
  const devices = await api.devices(ctx.domain, member === '' ? undefined : member);
  devices.sort((a, b) => Number(a.revokedAt !== undefined) - Number(b.revokedAt !== undefined));

  const filter = h(
    'form',
    { class: 'inline', role: 'search' },
    field('Member', { name: 'member', value: member, autocomplete: 'off' }),
    h('button', { type: 'submit' }, 'Filter'),
    h(
      'button',
      { type: 'button', class: 'secondary', onclick: () => void ctx.refresh() },
      'Refresh',
    ),
  );
  filter.addEventListener('submit', (event) => {
    event.preventDefault();
    const value = formValue(filter, 'member');
    location.hash = value === '' ? '#/devices' : `#/devices?member=${encodeURIComponent(value)}`;
  });

  view.append(
    filter,
    table(
      member === '' ? `Devices of ${ctx.domain}` : `Devices of ${member} in ${ctx.domain}`,
      ['Device', 'Name', 'Member', 'Presence', 'Last seen', 'Enrolled', 'Actions'],
      devices.map((d) => {
        const revoked = d.revokedAt !== undefined;
        const status = revoked ? 'Revoked' : presenceLabel[d.presence];
        return [
          h('code', { class: 'id' }, d.id),
          d.name,
          h('a', { href: `#/devices?member=${encodeURIComponent(d.memberId)}` }, d.memberId),
          h(
            'span',
            {
              class: `badge ${revoked ? 'revoked' : d.presence}`,
              'data-presence': revoked ? 'revoked' : d.presence,
            },
            status,
          ),
          time(d.lastSeenAt),
          time(d.enrolledAt),
          revoked || !canWrite(ctx)
            ? revoked
              ? h('span', {}, 'Revoked ', time(d.revokedAt))
              : '—'
            : h(
                'button',
                {
                  type: 'button',
                  class: 'danger',
                  'data-device': d.id,
                  'aria-label': `Revoke device ${d.id}`,
                  onclick: guard(async () => {
                    const sure = await confirmDialog(
                      `Revoke ${d.name} (${d.id}) of ${d.memberId}? It is disconnected at once, its tokens stop working and its queued messages are deleted.`,
                      'Revoke device',
                    );
                    if (!sure) return;
                    await api.revokeDevice(ctx.domain, d.id);
                    await ctx.refresh();
                    notify(`Device ${d.id} revoked.`);
                  }),
                },
                'Revoke',
              ),
        ];
      }),
      'No device enrolled.',
    ),
  );
}
