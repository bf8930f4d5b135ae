/**
 * The built app under the gateway's Content-Security-Policy, in Chromium: it loads, connects over its
 * WebSocket and works with no policy violation, and no other site can frame it.
 */
import type { Gateway } from '@classwire/gateway';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, launchChromium, startClassroomGateway } from './support.js';

let gateway: Gateway;
let browser: Browser;

beforeAll(async () => {
  const [app, chromium] = await Promise.all([buildApp(), launchChromium()]);
  browser = chromium;
  gateway = await startClassroomGateway(app);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await gateway?.drain();
});

describe('the classroom app under its Content-Security-Policy', { timeout: 60_000 }, () => {
  it('serves every response with the policy and the other security headers', async () => {
    for (const path of ['/', '/healthz', '/no-such-page', '/dev/token']) {
      const response = await fetch(`${gateway.url}${path}`);
      const csp = response.headers.get('content-security-policy') ?? '';
      for (const directive of ["script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'self'"]) {
        expect(csp).toContain(directive);
      }
      expect(csp).toMatch(/connect-src 'self' ws:\/\/127\.0\.0\.1:\d+ wss:\/\/127\.0\.0\.1:\d+/);
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('referrer-policy')).toBe('no-referrer');
    }
    // A forged Host header is never written into the policy.
    const forged = await new Promise<string>((resolve, reject) => {
      import('node:http')
        .then(({ get }) =>
          get(`${gateway.url}/`, { headers: { host: "evil; script-src 'unsafe-inline'" } }, (res) => {
            res.resume();
            resolve(String(res.headers['content-security-policy']));
          }).on('error', reject),
        )
        .catch(reject);
    });
    expect(forged).not.toContain('unsafe-inline');
    expect(forged).not.toContain('evil');
  });

  it('loads and works in Chromium with no CSP violation', async () => {
    const context = await browser.newContext();
    context.setDefaultTimeout(10_000);
    // Listens before the app's own scripts run, so every violation of the page is recorded.
    await context.addInitScript(() => {
      const seen: string[] = [];
      (globalThis as unknown as { __violations: string[] }).__violations = seen;
      // Runs in the page (typed here without the DOM library).
      const page = globalThis as unknown as { document: { addEventListener(type: string, listener: (event: { violatedDirective: string; blockedURI: string }) => void): void } };
      page.document.addEventListener('securitypolicyviolation', (event) => seen.push(`${event.violatedDirective} ${event.blockedURI}`));
    });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy|Refused to/i.test(message.text())) problems.push(message.text());
    });
    page.on('pageerror', (error) => problems.push(error.message));
    await page.goto(`${gateway.url}/`);
    await page.getByLabel('Your name').fill('Ms Rivera');
    await page.locator('.role-option', { hasText: /^teacher/i }).click();
    await page.getByLabel('Classroom').fill('csp-class');
    await page.getByRole('button', { name: 'Join class' }).click();
    await page.locator('[data-status="connected"]').waitFor();
    await page.getByRole('button', { name: 'Start class' }).click();
    await page.locator('[data-class-status="live"]').waitFor();
    await page.getByLabel('Message the class').fill('Welcome, under a strict policy.');
    await page.getByLabel('Message the class').press('Enter');
    await page.getByRole('log', { name: 'Class chat messages' }).getByText('Welcome, under a strict policy.').waitFor();
    const recorded = await page.evaluate(() => (globalThis as unknown as { __violations: string[] }).__violations);
    expect([...problems, ...recorded]).toEqual([]);
    await context.close();
  });

  it('cannot be framed by another page', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const blocked: string[] = [];
    page.on('console', (message) => blocked.push(message.text()));
    await page.setContent(`<iframe id="victim" src="${gateway.url}/"></iframe>`);
    await expect.poll(() => blocked.some((text) => /frame-ancestors/.test(text)), { timeout: 10_000 }).toBe(true);
    const framed = page.frames().find((frame) => frame.url().startsWith(gateway.url));
    expect(await framed?.locator('text=Join class').count().catch(() => 0) ?? 0).toBe(0);
    await context.close();
  });
});
