import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { ADMIN_TOKEN, BridgeWorld, type MemberDevice } from '../../bridge/test/bridge-world.js';
import type { BridgeProcess } from '../../test/support/bridge-process.js';
import { waitFor } from '../../test/support/ports.js';

/**
 * The restore page of the admin web UI in a real headless Chromium, against real Redis, two
 * relays, the Manager and a Data Bridge archiving into a folder: an administrator asks for a
 * restore in the page, the page follows it to `succeeded`, and the owner's device holds the
 * archived messages in order.
 */

const CHROMIUM = process.env.GROVE_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = '/tmp/grove-ui-shots';

let world: BridgeWorld;
let browser: Browser | undefined;
let alice: MemberDevice;
let bridge: BridgeProcess;
const sent: Buffer[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: run bash scripts/ensure-deps.sh --ui`);
  }
  mkdirSync(SHOTS, { recursive: true });
  [world, browser] = await Promise.all([
    BridgeWorld.start({ members: ['alice', 'bob'], workspaces: { team: ['alice', 'bob'] } }),
    chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] }),
  ]);
  const registered = await world.manager.api('POST', '/v1/admin/domains/acme/bridges/archiver', {
    workspaces: { ids: ['team'] },
  });
  expect(registered.status).toBe(200);
  alice = await world.device('alice', 'alice-laptop');
  bridge = await world.startBridge([
    '--device-key',
    await world.keyFile('archiver', 'bridge-device'),
    '--path',
    join(world.dir, 'archive'),
    '--schedule',
    '0 0 1 1 *',
    '--manager-poll',
    '1',
  ]);
  for (let index = 0; index < 12; index++) {
    const data = randomBytes(24);
    await alice.client.send(['workspace:team'], data);
    sent.push(data);
  }
  await waitFor(
    async () =>
      (await bridge.status<{ bufferedMessages: number }>()).bufferedMessages === 0 || undefined,
    'messages written',
    10_000,
    50,
  );
  expect((await bridge.cycle<{ outcome: string }>()).outcome).toBe('Succeeded');
}, 120_000);

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  await world.stop();
});

describe('admin web UI › restores', () => {
  test('requests a restore in the page and follows it until the owner has every message', async () => {
    if (browser === undefined) throw new Error('no browser');
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('dialog', (dialog) => {
      problems.push(`dialog: ${dialog.message()}`);
      void dialog.dismiss();
    });
    await page.goto(`${world.manager.url}/`);
    await page.getByLabel('Admin token').fill(ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor();
    await page.getByRole('link', { name: 'Restores' }).click();
    await page.getByRole('heading', { level: 1, name: 'Restores' }).waitFor();
    await page.getByText('No restores yet.').waitFor();

    await page.getByLabel('Archived workspace').fill('team');
    await page.getByLabel('New workspace id').fill('team-ui');
    await page.getByLabel('Owner').fill('alice');
    await page.getByLabel('Through segment (optional)').fill('1');
    await page.screenshot({ path: join(SHOTS, 'restore-form.png'), fullPage: true });
    await page.getByRole('button', { name: 'Restore' }).click();
    await expect(page.getByRole('status').textContent()).resolves.toContain(
      'Restore of team into team-ui requested.',
    );
    // The page polls while the restore is under way: it shows the end by itself.
    const state = page.locator('[data-restore="team-ui"]');
    await waitFor(
      async () => (await state.textContent()) === 'succeeded' || undefined,
      'the page showing the restore succeeded',
      30_000,
      100,
    );
    const row = page.locator('tr', { has: state });
    await expect(row.textContent()).resolves.toContain('12 of 12');
    await expect(row.textContent()).resolves.toContain('through segment 1');
    await page.screenshot({ path: join(SHOTS, 'restore-done.png'), fullPage: true });

    const got = await waitFor(
      () => {
        const list = alice.got.filter((message) => message.to.includes('workspace:team-ui'));
        return list.length >= sent.length ? list : undefined;
      },
      'the restored messages on alice’s device',
      10_000,
      50,
    );
    expect(got.map((message) => message.data.toString('hex'))).toEqual(
      sent.map((data) => data.toString('hex')),
    );

    // A refused request is shown, not lost: the new id is taken now.
    await page.getByLabel('Archived workspace').fill('team');
    await page.getByLabel('New workspace id').fill('team-ui');
    await page.getByLabel('Owner').fill('alice');
    await page.getByRole('button', { name: 'Restore' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toContain('ALREADY_EXISTS');
    expect(problems).toEqual([]);
  });
});
