import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { runGrove, spawnGrove, type CliRun } from '../../test/support/grove-cli.js';
import { ManagerProcess, writeManagerConfig } from '../../test/support/manager-process.js';
import { freePort, waitFor } from '../../test/support/ports.js';
import { RedisServer } from '../../test/support/redis-server.js';
import { makeDomain, RelayProcess } from '../../test/support/relay-process.js';

/**
 * The admin web UI in a real headless Chromium (Debian's /usr/bin/chromium driven by
 * playwright-core) against a real `grove manager` process, a real relay and Redis, and
 * devices enrolled with the real CLI. Screenshots of every page go to /tmp/grove-ui-shots.
 */

const CHROMIUM = process.env.GROVE_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = '/tmp/grove-ui-shots';
const BOOTSTRAP = 'ui-test-bootstrap-token-0123456789abcdef';
const DOMAIN = 'acme';

type Run = CliRun;

/** A grove CLI command run to completion. */
function grove(args: string[], timeoutMs = 20_000): Promise<Run> {
  return runGrove(args, { timeoutMs });
}

/** A long-running grove process (listen), stopped in afterAll. */
function startGrove(args: string[], env: Record<string, string> = {}) {
  const child = spawnGrove(args, env);
  const logs: string[] = [];
  child.stdout?.on('data', (chunk: Buffer) => logs.push(chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => logs.push(chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, logs, exited };
}

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

// Set by beforeAll; afterAll cleans up whatever of it started.
let redis: RedisServer | undefined;
let relay: RelayProcess | undefined;
let manager: ManagerProcess | undefined;
let browser: Browser | undefined;
let dir: string | undefined;
let managerUrl = '';

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`${what} did not start (see beforeAll)`);
  return value;
}
const listeners: ChildProcess[] = [];

async function admin<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${managerUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${BOOTSTRAP}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${String(response.status)} ${text}`);
  return (text === '' ? undefined : JSON.parse(text)) as T;
}

/** A page that records what must never happen: dialogs, page errors, CSP violations. */
async function openPage(context: BrowserContext): Promise<{ page: Page; problems: string[] }> {
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('dialog', (dialog) => {
    problems.push(`dialog: ${dialog.message()}`);
    void dialog.dismiss();
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    // Failed API calls (the wrong token's 401) are logged by Chromium; they are expected.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
      problems.push(`console: ${message.text()}`);
    }
  });
  return { page, problems };
}

async function signIn(page: Page): Promise<void> {
  await page.goto(`${managerUrl}/`);
  await page.getByLabel('Admin token').fill(BOOTSTRAP);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor();
}

/*
 * Code run inside the page is passed as strings: this file is type-checked with the Node
 * libraries, not the DOM's.
 */
async function inPage(page: Page, expression: string): Promise<unknown> {
  return page.evaluate(expression);
}

/** Runs an action that re-renders the page and waits until that render has finished. */
async function rerender(page: Page, action: () => Promise<unknown>): Promise<void> {
  const before = Number(await inPage(page, 'document.body.dataset.rendered ?? "0"'));
  await action();
  await waitFor(
    async () => Number(await inPage(page, 'document.body.dataset.rendered ?? "0"')) > before,
    'the page to render',
    10_000,
    25,
  );
}

async function visit(page: Page, hash: string, heading: string): Promise<void> {
  const target = JSON.stringify(hash);
  // The same hash again fires no hashchange: ask for the render explicitly.
  await rerender(page, () =>
    inPage(
      page,
      `location.hash === ${target} ? window.dispatchEvent(new HashChangeEvent('hashchange')) : (location.hash = ${target})`,
    ),
  );
  await page.getByRole('heading', { level: 1, name: heading }).waitFor();
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: run bash scripts/ensure-deps.sh --ui (Debian's chromium)`,
    );
  }
  mkdirSync(SHOTS, { recursive: true });
  dir = mkdtempSync(join(tmpdir(), 'grove-ui-'));
  redis = await RedisServer.start();
  const domain = await makeDomain(DOMAIN);
  const relayPort = await freePort();
  // The Manager signs relay tokens with the domain key written next to its config; the
  // relay trusts the same key.
  const configFile = writeManagerConfig({
    redisPort: redis.port,
    domains: [{ domain, relayUrls: [`ws://127.0.0.1:${String(relayPort)}`] }],
    policies: [{ name: 'defaults', identity: { contactSearch: true } }],
  });
  const [startedRelay, launched, startedManager] = await Promise.all([
    RelayProcess.start({
      redis: { url: redis.url, cluster: false },
      domains: [domain],
      port: relayPort,
    }),
    chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] }),
    ManagerProcess.start({ configFile, redisUrl: redis.url, bootstrapToken: BOOTSTRAP }),
  ]);
  relay = startedRelay;
  browser = launched;
  manager = startedManager;
  managerUrl = manager.url;
}, 60_000);

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  for (const child of listeners) await stopChild(child);
  await manager?.terminate();
  await relay?.terminate();
  await redis?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('admin web UI', () => {
  test('sign in, add a member, issue a code, see the CLI-enrolled device online, revoke it, find it all in the audit log', async () => {
    const context = await need(browser, 'browser').newContext({
      viewport: { width: 1280, height: 800 },
    });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: managerUrl });
    const { page, problems } = await openPage(context);

    // A wrong token is refused on the sign-in page itself.
    await page.goto(`${managerUrl}/`);
    await shot(page, '00-sign-in');
    await page.getByLabel('Admin token').fill('not-a-token');
    await page.keyboard.press('Enter');
    await expect(page.getByRole('alert').textContent()).resolves.toContain('UNAUTHENTICATED');

    await page.getByLabel('Admin token').fill(BOOTSTRAP);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor();
    expect(await inPage(page, 'sessionStorage.getItem("grove.adminToken")')).toBe(BOOTSTRAP);

    await visit(page, '#/members', 'Members');
    await page.getByLabel('Id', { exact: true }).fill('alice');
    await page.getByLabel('Display name').fill('Alice Example');
    await page.getByLabel('Email (optional)').fill('alice@example.com');
    await page.getByRole('button', { name: 'Add member' }).click();
    await page.getByRole('cell', { name: 'Alice Example' }).waitFor();

    await page.getByRole('button', { name: 'Issue an activation code for alice' }).click();
    const code = await page.locator('#activation-code').inputValue();
    expect(code).toMatch(/^acme\.[A-Z2-7a-z0-9]{20,}$/);
    await page.getByRole('button', { name: 'Copy' }).click();
    await page.getByText('Activation code copied.').waitFor();
    expect(await inPage(page, 'navigator.clipboard.readText()')).toBe(code);
    await shot(page, '02-members-code');

    // Import: the valid row is created, the bad one comes back in the per-row report.
    await page
      .getByLabel('Or paste the rows')
      .fill('id,displayName,email\nbob,Bob Builder,bob@example.com\nNot An Id,Nope,\n');
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    await page.getByText('1 created, 1 rejected.').waitFor();
    const rejected = page.locator('.import-report tbody tr');
    await expect(rejected.count()).resolves.toBe(1);
    await expect(rejected.textContent()).resolves.toContain('Not An Id');
    await page.getByRole('cell', { name: 'Bob Builder' }).waitFor();
    await shot(page, '02-members-import');

    const state = join(need(dir, 'temp folder'), 'alice-laptop');
    const enrolled = await grove([
      'enroll',
      '--manager',
      managerUrl,
      '--code',
      code,
      '--state',
      state,
      '--name',
      'alice-laptop',
    ]);
    expect(enrolled).toMatchObject({ code: 0 });
    const listen = startGrove(['listen', '--state', state]);
    listeners.push(listen.child);

    await visit(page, '#/devices', 'Devices');
    const row = page.locator('tr', { hasText: 'alice-laptop' });
    await waitFor(
      async () => {
        await rerender(page, () => page.getByRole('button', { name: 'Refresh' }).click());
        return (await row.locator('[data-presence]').getAttribute('data-presence')) === 'active';
      },
      'device online in the UI',
      15_000,
      300,
    );
    await shot(page, '03-devices-online');

    // Bob (imported above) enrolls too and sends Alice a message through the relay: her
    // listener prints it, and the dashboard counts it.
    const bobCode = await admin<{ code: string }>(
      'POST',
      `/v1/admin/domains/${DOMAIN}/members/bob/codes`,
      {},
    );
    const bobState = join(need(dir, 'temp folder'), 'bob-phone');
    const bobEnrolled = await grove([
      'enroll',
      '--manager',
      managerUrl,
      '--code',
      bobCode.code,
      '--state',
      bobState,
      '--name',
      'bob-phone',
    ]);
    expect(bobEnrolled).toMatchObject({ code: 0 });
    const sent = await grove([
      'send',
      '--state',
      bobState,
      '--to',
      'identity:alice',
      '--data',
      'hello from bob',
    ]);
    expect(sent).toMatchObject({ code: 0 });
    await waitFor(
      () => listen.logs.join('').includes('hello from bob'),
      'alice receives the message',
    );

    const stat = (label: string) =>
      page
        .locator('.stat')
        .filter({ has: page.getByRole('term').getByText(label, { exact: true }) })
        .locator('dd')
        .textContent();
    await waitFor(
      async () => {
        await visit(page, '#/dashboard', 'Dashboard');
        return Number(await stat('Messages relayed')) >= 1;
      },
      'messages relayed on the dashboard',
      10_000,
      500,
    );
    expect(Number(await stat('Devices online'))).toBeGreaterThanOrEqual(1);
    expect(await stat('Devices')).toBe('2');
    await shot(page, '01-dashboard');
    await visit(page, '#/devices', 'Devices');

    // Revoke, with the confirmation dialog driven from the keyboard's point of view too.
    await row.getByRole('button', { name: /^Revoke device/ }).click();
    const dialog = page.getByRole('dialog');
    await expect(dialog.textContent()).resolves.toContain('alice-laptop');
    await shot(page, '04-devices-confirm');
    await dialog.getByRole('button', { name: 'Revoke device' }).click();
    await row.locator('[data-presence="revoked"]').waitFor({ timeout: 5000 });
    await shot(page, '05-devices-revoked');
    // The relay closes the live connection: the listener is told not to reconnect and stops.
    let timer: NodeJS.Timeout | undefined;
    const exit = await Promise.race([
      listen.exited,
      new Promise<string>((resolve) => (timer = setTimeout(() => resolve('still running'), 5000))),
    ]);
    clearTimeout(timer);
    expect(exit).not.toBe('still running');

    await visit(page, '#/audit', 'Audit log');
    const actions = await page.locator('code.action').allTextContents();
    expect(actions).toEqual(
      expect.arrayContaining(['member.create', 'code.issue', 'device.enroll', 'device.revoke']),
    );
    await shot(page, '06-audit');
    await page.getByLabel('Action', { exact: true }).fill('device.revoke');
    await rerender(page, () => page.getByRole('button', { name: 'Apply filters' }).click());
    await expect(page.locator('code.action').allTextContents()).resolves.toEqual(['device.revoke']);

    const download = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Export JSON lines' }).click();
    const file = await (await download).path();
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as { action: string }).action)).toEqual([
      'device.revoke',
    ]);

    await visit(page, '#/policy', 'Policy and relays');
    await expect(page.locator('main').textContent()).resolves.toContain(
      `ws://127.0.0.1:${String(need(relay, 'relay').port)}`,
    );
    await shot(page, '07-policy');

    expect(problems).toEqual([]);
    await context.close();
  }, 60_000);

  test('workspaces: create, add and remove members, rename and delete from the page', async () => {
    const context = await need(browser, 'browser').newContext({
      viewport: { width: 1280, height: 800 },
    });
    const { page, problems } = await openPage(context);
    await signIn(page);
    await admin('POST', `/v1/admin/domains/${DOMAIN}/members`, {
      id: 'carol',
      displayName: 'Carol',
    });
    await admin('POST', `/v1/admin/domains/${DOMAIN}/members`, { id: 'dave', displayName: 'Dave' });

    // Without a mouse: the first Tab reaches the skip link, which moves focus to the content;
    // the nav links work with Enter, and focus lands in the new page.
    await page.reload();
    await waitFor(
      async () => (await inPage(page, 'document.body.dataset.rendered')) === '1',
      'the reloaded page to render',
    );
    await page.keyboard.press('Tab');
    await expect(inPage(page, 'document.activeElement.textContent')).resolves.toBe(
      'Skip to content',
    );
    await page.keyboard.press('Enter');
    await expect(inPage(page, 'document.activeElement.id')).resolves.toBe('main');
    await page.getByRole('link', { name: 'Workspaces' }).focus();
    await rerender(page, () => page.keyboard.press('Enter'));
    await page.getByRole('heading', { level: 1, name: 'Workspaces' }).waitFor();
    await expect(inPage(page, 'document.activeElement.id')).resolves.toBe('main');

    await page.getByLabel('Id', { exact: true }).fill('team');
    await page.getByLabel('Name', { exact: true }).fill('The Team');
    await page.getByLabel('Members (optional)').fill('carol');
    await rerender(page, () => page.getByRole('button', { name: 'Create workspace' }).click());
    const card = page.locator('article[data-workspace="team"]');
    await expect(card.getByRole('heading', { level: 3 }).textContent()).resolves.toBe('The Team');

    await card.getByLabel('Add members').fill('dave');
    await rerender(page, () => card.getByRole('button', { name: 'Add', exact: true }).click());
    await expect(card.locator('ul.members code').allTextContents()).resolves.toEqual([
      'carol',
      'dave',
    ]);
    await card.getByLabel('New name').fill('Team Renamed');
    await rerender(page, () => card.getByRole('button', { name: 'Rename' }).click());
    await expect(card.getByRole('heading', { level: 3 }).textContent()).resolves.toBe(
      'Team Renamed',
    );
    await rerender(page, () =>
      card.getByRole('button', { name: 'Remove carol from Team Renamed' }).click(),
    );
    await expect(card.locator('ul.members code').allTextContents()).resolves.toEqual(['dave']);
    await shot(page, '08-workspaces');

    // Cancelling the confirmation keeps the workspace; confirming deletes it.
    await card.getByRole('button', { name: 'Delete workspace' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
    await expect(card.count()).resolves.toBe(1);
    await card.getByRole('button', { name: 'Delete workspace' }).click();
    await rerender(page, () =>
      page.getByRole('dialog').getByRole('button', { name: 'Delete workspace' }).click(),
    );
    await expect(card.count()).resolves.toBe(0);
    const stored = await admin<{ id: string }[]>('GET', `/v1/admin/domains/${DOMAIN}/workspaces`);
    expect(stored.map((w) => w.id)).not.toContain('team');
    expect(problems).toEqual([]);
    await context.close();
  }, 30_000);

  test('XSS payloads in every user-supplied field are shown as text and never run', async () => {
    const img = '<img src=x onerror="window.__xss=1">';
    const script = '<script>window.__xss=2</script>';
    const svg = '"><svg onload="window.__xss=3">';
    await admin('POST', `/v1/admin/domains/${DOMAIN}/members`, {
      id: 'mallory',
      displayName: img,
      email: 'mallory@example.com',
    });
    await admin('POST', `/v1/admin/domains/${DOMAIN}/members`, {
      id: 'mallet',
      displayName: script,
    });
    await admin('POST', `/v1/admin/domains/${DOMAIN}/workspaces`, {
      id: 'evil',
      name: script,
      members: ['mallory', 'mallet'],
    });
    await admin('POST', `/v1/admin/domains/${DOMAIN}/workspaces`, {
      id: 'evil2',
      name: svg,
    });
    const issued = await admin<{ code: string }>(
      'POST',
      `/v1/admin/domains/${DOMAIN}/members/mallory/codes`,
      {},
    );
    const { publicKey } = generateKeyPairSync('ed25519');
    const x = (publicKey.export({ format: 'jwk' }) as { x: string }).x;
    const enroll = await fetch(`${managerUrl}/v1/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code: issued.code, publicKey: x, deviceName: svg }),
    });
    expect(enroll.status).toBe(201);

    // The UI is served under / and /ui/ with a CSP that forbids inline and foreign scripts:
    // a payload that slipped into markup could still not run.
    for (const path of ['/', '/ui/']) {
      const response = await fetch(`${managerUrl}${path}`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-security-policy')).toContain("default-src 'self'");
      const html = await response.text();
      expect(html).toContain('<script type="module" src="app.js"></script>');
      expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    }

    const context = await need(browser, 'browser').newContext({
      viewport: { width: 1280, height: 800 },
    });
    const { page, problems } = await openPage(context);
    await signIn(page);
    const pages: [string, string][] = [
      ['#/dashboard', 'Dashboard'],
      ['#/members', 'Members'],
      ['#/members?q=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E', 'Members'],
      ['#/devices', 'Devices'],
      ['#/devices?member=%3Cscript%3Ealert(1)%3C%2Fscript%3E', 'Devices'],
      ['#/workspaces', 'Workspaces'],
      ['#/policy', 'Policy and relays'],
      ['#/policy?member=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E', 'Policy and relays'],
      ['#/audit', 'Audit log'],
      ['#/audit?actor=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E', 'Audit log'],
    ];
    for (const [hash, heading] of pages) {
      await visit(page, hash, heading);
      // The UI has no images, scripts or SVG of its own in the page: any is injected.
      expect(await page.locator('main img, main script, main svg').count()).toBe(0);
    }
    await visit(page, '#/members', 'Members');
    await expect(page.getByRole('cell', { name: img }).count()).resolves.toBe(1);
    await expect(page.getByRole('cell', { name: script }).count()).resolves.toBe(1);
    await shot(page, '10-xss-members');
    await visit(page, '#/devices', 'Devices');
    await expect(page.getByRole('cell', { name: svg }).count()).resolves.toBe(1);
    await visit(page, '#/workspaces', 'Workspaces');
    await expect(page.getByRole('heading', { name: script }).count()).resolves.toBe(1);
    await expect(page.getByRole('heading', { name: svg }).count()).resolves.toBe(1);
    await shot(page, '11-xss-workspaces');

    // Give a late onerror/onload a chance to fire before looking for its trace.
    await page.waitForTimeout(300);
    expect(await inPage(page, 'window.__xss')).toBeUndefined();
    expect(problems).toEqual([]);
    await context.close();
  }, 60_000);
});
