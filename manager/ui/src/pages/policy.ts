import { api } from '../api.js';
import type { Context } from '../app.js';
import { field, formValue, h, table } from '../dom.js';

export async function policyPage(ctx: Context, view: HTMLElement): Promise<void> {
  if (ctx.domain === '') {
    view.append(h('p', {}, 'No domain is visible to this token.'));
    return;
  }
  const member = ctx.params.get('member') ?? '';
  const [policy, relays] = await Promise.all([
    api.policy(ctx.domain, member === '' ? undefined : member),
    api.relays(ctx.domain),
  ]);
  const form = h(
    'form',
    { class: 'inline' },
    field('Member (empty: the whole domain)', {
      name: 'member',
      value: member,
      autocomplete: 'off',
    }),
    h('button', { type: 'submit' }, 'Show'),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const value = formValue(form, 'member');
    location.hash = value === '' ? '#/policy' : `#/policy?member=${encodeURIComponent(value)}`;
  });
  view.append(
    h('p', { class: 'meta' }, 'Read-only: policies and relay pools are configured as resources.'),
    h(
      'section',
      { 'aria-labelledby': 'policy-title' },
      h(
        'h2',
        { id: 'policy-title' },
        member === '' ? `Policy of ${ctx.domain}` : `Policy of ${member}`,
      ),
      form,
      table(
        'Bound policies',
        ['Policy', 'Priority'],
        policy.policies.map((p) => [p.name, String(p.priority)]),
        'No Policy resource applies: the defaults hold.',
      ),
      h('h3', {}, 'How they merge'),
      h('p', {}, policy.rule),
      h('h3', {}, 'Effective policy'),
      table(
        'Effective settings',
        ['Section', 'Setting', 'Value'],
        settingRows(policy.effective),
        'No settings.',
      ),
    ),
    h(
      'section',
      { 'aria-labelledby': 'relays-title' },
      h('h2', { id: 'relays-title' }, 'Relay assignment'),
      table(
        'Relay pools',
        ['Pool', 'URLs', 'Ready'],
        relays.relayPools.map((p) => [
          p.name,
          p.urls.length === 0
            ? '—'
            : h('ul', { class: 'plain' }, ...p.urls.map((u) => h('li', {}, h('code', {}, u)))),
          p.ready === undefined ? 'unknown' : p.ready ? 'yes' : 'no',
        ]),
        'No relay pool is assigned.',
      ),
      h('h3', {}, 'URLs given to devices'),
      relays.relayUrls.length === 0
        ? h('p', { class: 'empty' }, 'None.')
        : h('ul', {}, ...relays.relayUrls.map((u) => h('li', {}, h('code', {}, u)))),
    ),
  );
}

/** One row per leaf setting: {relay: {maxInFlight: 256}} → relay, maxInFlight, 256. */
function settingRows(effective: Record<string, unknown>): string[][] {
  const rows: string[][] = [];
  for (const [section, settings] of Object.entries(effective)) {
    if (typeof settings === 'object' && settings !== null && !Array.isArray(settings)) {
      for (const [name, value] of Object.entries(settings)) {
        rows.push([section, name, typeof value === 'string' ? value : JSON.stringify(value)]);
      }
    } else {
      rows.push([section, '', JSON.stringify(settings)]);
    }
  }
  return rows;
}
