/**
 * The ops console (/admin) in Chromium against a real gateway: log in with the admin key, see the node
 * and its connections, look a user up and close their connection.
 */
import { mkdir } from 'node:fs/promises';
import { CLOSE_CODES } from '@classwire/protocol';
import { loadConfig, startGateway, type Gateway } from '@classwire/gateway';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SECRET, TestClient, makeToken } from '../../../../test-support/harness.js';
import { SCREENSHOT_DIR, buildApp, launchChromium } from './support.js';

const ADMIN_KEY = 'e2e-admin-key-0123456789';
// Into test-output/ (ignored by git), like the other e2e screenshots; docs/images/ops-console.png is a copy
// chosen by hand, so a test run never rewrites a tracked file.
const SCREENSHOT = `${SCREENSHOT_DIR}ops-console.png`;

let browser: Browser;
let gateway: Gateway;
let page: Page;
let student: TestClient;

beforeAll(async () => {
  const [app, chromium] = await Promise.all([buildApp(), launchChromium()]);
  browser = chromium;
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    CLASSWIRE_JWT_SECRET: SECRET,
    CLASSWIRE_ADMIN_KEY: ADMIN_KEY,
    CLASSWIRE_NODE_ID: 'node-e2e',
    CLASSWIRE_STATIC_DIR: app,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
  });
  gateway = await startGateway(config);
  student = await TestClient.connect(gateway, await makeToken({ sub: 'grace', name: 'Grace Hopper', rooms: ['*'] }));
  await student.join('compilers-101');
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  page = await context.newPage();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await gateway?.drain();
});

describe('the ops console in Chromium', { timeout: 60_000 }, () => {
  it('refuses a wrong key and keeps the login form', async () => {
    await page.goto(`${gateway.url}/admin`);
    await page.fill('input[name="admin-key"]', 'not-the-admin-key-at-all');
    await page.click('button[type="submit"]');
    await page.getByRole('alert').getByText('That admin key was refused.').waitFor();
    expect(await page.locator('input[name="admin-key"]').count()).toBe(1);
  });

  it('logs in with the admin key, shows the node and a connection, and closes it', async () => {
    await page.fill('input[name="admin-key"]', ADMIN_KEY);
    await page.click('button[type="submit"]');
    const nodeRow = page.locator('[data-test="nodes"] tbody tr', { hasText: 'node-e2e' });
    await nodeRow.waitFor();
    expect((await nodeRow.locator('td').allInnerTexts()).slice(0, 4)).toEqual(['node-e2e', '1', '1', '1']);
    await page.locator('[data-test="rooms"] tbody tr', { hasText: 'compilers-101' }).waitFor();

    await page.fill('input[name="user"]', 'grace');
    await page.getByRole('button', { name: 'Look up' }).click();
    const connectionRow = page.locator('[data-test="user-connections"] tbody tr', { hasText: 'Grace Hopper' });
    await connectionRow.waitFor();
    expect(await connectionRow.innerText()).toContain('compilers-101');
    await mkdir(SCREENSHOT_DIR, { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    await connectionRow.getByRole('button', { name: 'Close' }).click();
    expect(await student.waitClosed()).toBe(CLOSE_CODES.removed);
    await page.getByRole('status').getByText('Closed connection').waitFor();
    // The console updates itself: the node's row shows no connection, the closes table the admin's close.
    await nodeRow.locator('td').nth(1).getByText('0', { exact: true }).waitFor();
    await page.locator('[data-test="closes"] dt', { hasText: String(CLOSE_CODES.removed) }).waitFor();
  });
});
