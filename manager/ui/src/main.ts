import { api, setUnauthenticatedHandler, storedToken, storeToken } from './api.js';
import type { Context, Page } from './app.js';
import { describeError, notify } from './app.js';
import { clear, field, formValue, h } from './dom.js';
import { auditPage } from './pages/audit.js';
import { dashboardPage } from './pages/dashboard.js';
import { devicesPage } from './pages/devices.js';
import { membersPage } from './pages/members.js';
import { policyPage } from './pages/policy.js';
import { restoresPage } from './pages/restores.js';
import { workspacesPage } from './pages/workspaces.js';

const DOMAIN_KEY = 'grove.domain';

const pages: { path: string; title: string; render: Page }[] = [
  { path: 'dashboard', title: 'Dashboard', render: dashboardPage },
  { path: 'members', title: 'Members', render: membersPage },
  { path: 'devices', title: 'Devices', render: devicesPage },
  { path: 'workspaces', title: 'Workspaces', render: workspacesPage },
  { path: 'restores', title: 'Restores', render: restoresPage },
  { path: 'policy', title: 'Policy and relays', render: policyPage },
  { path: 'audit', title: 'Audit log', render: auditPage },
];

const root = document.getElementById('app') ?? document.body;
let session: Omit<Context, 'params' | 'refresh'> | undefined;

function route(): { path: string; params: URLSearchParams } {
  const hash = location.hash.replace(/^#\/?/, '');
  const [path = '', query = ''] = hash.split('?', 2);
  return { path, params: new URLSearchParams(query) };
}

function signOut(message?: string): void {
  storeToken(null);
  session = undefined;
  renderSignIn(message);
}

function renderSignIn(message?: string): void {
  document.title = 'Sign in · Grove Manager';
  const error = h('div', { id: 'notice', 'aria-live': 'polite' });
  const form = h(
    'form',
    { class: 'card', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, 'Grove Manager'),
    h('p', {}, 'Sign in with an admin token.'),
    field(
      'Admin token',
      { name: 'token', type: 'password', required: true, autocomplete: 'off', spellcheck: 'false' },
      'The token is kept in this browser tab only, until you sign out or close it.',
    ),
    error,
    h('button', { type: 'submit' }, 'Sign in'),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const token = formValue(form, 'token');
    api
      .whoami(token)
      .then(async () => {
        storeToken(token);
        await start();
      })
      .catch((failure: unknown) => {
        notify(`Sign-in failed: ${describeError(failure)}`, 'error');
      });
  });
  clear(root);
  root.appendChild(h('main', { id: 'main', class: 'signin' }, form));
  if (message !== undefined) notify(message, 'error');
  form.querySelector('input')?.focus();
}

async function start(): Promise<void> {
  if (storedToken() === null) {
    renderSignIn();
    return;
  }
  try {
    const [me, domains] = await Promise.all([api.whoami(), api.domains()]);
    const saved = sessionStorage.getItem(DOMAIN_KEY);
    const domain = domains.find((d) => d.name === saved)?.name ?? domains[0]?.name ?? '';
    session = { me, domains, domain };
  } catch (error) {
    signOut(`Sign-in failed: ${describeError(error)}`);
    return;
  }
  if (route().path === '') location.hash = '#/dashboard';
  else await render();
}

function shell(current: string): HTMLElement {
  if (session === undefined) throw new Error('not signed in');
  const s = session;
  const select = h(
    'select',
    { id: 'domain-select', name: 'domain' },
    ...s.domains.map((d) =>
      h(
        'option',
        { value: d.name, selected: d.name === s.domain },
        d.displayName === undefined ? d.name : `${d.displayName} (${d.name})`,
      ),
    ),
  );
  select.addEventListener('change', () => {
    s.domain = select.value;
    sessionStorage.setItem(DOMAIN_KEY, s.domain);
    void render();
  });
  const main = h('main', { id: 'main', tabindex: '-1' });
  clear(root);
  root.append(
    h('a', { class: 'skip', href: '#main' }, 'Skip to content'),
    h(
      'header',
      { class: 'top' },
      h('span', { class: 'brand' }, 'Grove Manager'),
      h(
        'nav',
        { 'aria-label': 'Main' },
        h(
          'ul',
          {},
          ...pages.map((p) =>
            h(
              'li',
              {},
              h(
                'a',
                { href: `#/${p.path}`, 'aria-current': p.path === current ? 'page' : undefined },
                p.title,
              ),
            ),
          ),
        ),
      ),
      h(
        'div',
        { class: 'session' },
        h('label', { for: 'domain-select' }, 'Domain'),
        select,
        h('span', { class: 'who' }, `${s.me.name} (${s.me.role})`),
        h('button', { type: 'button', class: 'secondary', onclick: () => signOut() }, 'Sign out'),
      ),
    ),
    main,
  );
  // The skip link targets #main, which the hash router would read as a route: focus instead.
  root.querySelector('.skip')?.addEventListener('click', (event) => {
    event.preventDefault();
    main.focus();
  });
  return main;
}

let renderCount = 0;
async function render(): Promise<void> {
  if (session === undefined) {
    renderSignIn();
    return;
  }
  const { path, params } = route();
  const page = pages.find((p) => p.path === path) ?? pages[0];
  if (page === undefined) return;
  const saved = sessionStorage.getItem(DOMAIN_KEY);
  if (saved !== null && session.domains.some((d) => d.name === saved)) session.domain = saved;
  const mine = ++renderCount;
  const main = shell(page.path);
  document.title = `${page.title} · Grove Manager`;
  main.append(h('h1', {}, page.title), h('div', { id: 'notice', 'aria-live': 'polite' }));
  const view = h('div', { class: 'view', 'aria-busy': 'true' });
  main.append(view);
  const ctx: Context = { ...session, params, refresh: render };
  try {
    await page.render(ctx, view);
  } catch (error) {
    if (mine === renderCount) notify(describeError(error), 'error');
  } finally {
    view.setAttribute('aria-busy', 'false');
    // The page replaced the element that had focus (a nav link, a submitted form): keyboard
    // and screen reader users continue from the top of the new content, not from nowhere.
    // The first page after loading keeps the browser's own start (the skip link comes first).
    const lost = document.activeElement === null || document.activeElement === document.body;
    if (lost && mine > 1) {
      main.focus({ preventScroll: true });
    }
    // Lets tests (and anyone curious) tell that this render, not an earlier one, is done.
    document.body.dataset.rendered = String(mine);
  }
}

setUnauthenticatedHandler(() => signOut('Your admin token was refused; sign in again.'));
window.addEventListener('hashchange', () => void render());
void start();
