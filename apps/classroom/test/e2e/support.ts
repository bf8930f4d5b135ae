/**
 * Browser end-to-end support: builds the classroom app from source, serves it from a real gateway in
 * development mode, and drives Debian's Chromium with playwright-core.
 */
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, startGateway, type Gateway } from '@classwire/gateway';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const APP_DIR = fileURLToPath(new URL('../../', import.meta.url));
export const OUTPUT_DIR = `${ROOT}test-output/classroom-e2e/`;
export const SCREENSHOT_DIR = `${ROOT}test-output/screenshots/`;

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// Headless on a machine whose network is loopback only: nothing in the background may phone home.
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/** Builds the app from its sources into the test output, so the test never serves a stale build. */
export async function buildApp(): Promise<string> {
  const outDir = `${OUTPUT_DIR}app`;
  await mkdir(OUTPUT_DIR, { recursive: true });
  const vite = join(dirname(createRequire(import.meta.url).resolve('vite/package.json')), 'bin/vite.js');
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, [vite, 'build', APP_DIR, '--outDir', outDir, '--emptyOutDir', '--sourcemap', 'false', '--logLevel', 'warn'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`vite build failed (${code}):\n${output}`))));
  });
  return outDir;
}

/**
 * A gateway as `npm start` runs it (development tokens, memory engine), serving the given app build;
 * `env` adds settings (the class records' data directory, for one).
 */
export function startClassroomGateway(staticDir: string, env: Record<string, string> = {}): Promise<Gateway> {
  const config = loadConfig(
    { PORT: '0', HOST: '127.0.0.1', CLASSWIRE_STATIC_DIR: staticDir, LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent', ...env },
    { dev: true },
  );
  return startGateway(config);
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
}

export type Role = 'teacher' | 'assistant' | 'student' | 'observer';

/** What `window.__classroom` (the app's test hook, on with `?debug`) answers. */
export interface AppState {
  status: string;
  settings: { chatLocked: boolean; whiteboardLocked: boolean };
  muted: string[];
  granted: string[];
  removed: string[];
  hands: { userId: string; name: string }[];
  chat: { seq: number; text: string; from: { name: string }; edited: boolean }[];
  board: { seq: number; userId: string; page?: number; item: { id: string; type: string } }[];
  pages: { pages: number[]; shown: number; free: boolean };
  private: { id: string; text: string }[];
  seq: number;
}

interface Hook {
  state(): AppState;
  phase(): string;
  connection(): string;
  clientState(): string;
  me(): { userId: string; name: string; role: Role };
  cursors(): { name: string; x: number; y: number }[];
  publish(event: string, data: unknown): Promise<{ ok: true; seq: number | undefined } | { ok: false; code: string }>;
}

/** The page's globals as the evaluated functions see them (they run in the page, not here). */
interface PageGlobals {
  __classroom: Hook;
}

/** One person in one browser context, with the app's test hook at hand. */
export class Participant {
  private constructor(
    readonly name: string,
    readonly context: BrowserContext,
    readonly page: Page,
  ) {}

  /** `clockSkewMs` moves the page's `Date.now()` away from the real time (a device with a wrong clock). */
  static async join(browser: Browser, baseUrl: string, name: string, role: Role, classroom: string, clockSkewMs = 0): Promise<Participant> {
    const context = await browser.newContext({ viewport: { width: 1366, height: 800 }, deviceScaleFactor: 1 });
    if (clockSkewMs !== 0) {
      await context.addInitScript((skew: number) => {
        const realNow = Date.now.bind(Date);
        Date.now = () => realNow() + skew;
      }, clockSkewMs);
    }
    // Every wait is for a condition that holds within a few seconds when the app works.
    context.setDefaultTimeout(10_000);
    const page = await context.newPage();
    const participant = new Participant(name, context, page);
    page.on('pageerror', (error) => participant.errors.push(error.message));
    await page.goto(`${baseUrl}/?debug`);
    await participant.joinClass(role, classroom);
    return participant;
  }

  /** Uncaught errors in the page: a test ends by asserting there were none. */
  readonly errors: string[] = [];

  /** Fills the join form and waits for the classroom (or for the form's error). */
  async joinClass(role: Role, classroom: string): Promise<void> {
    const { page } = this;
    await page.getByLabel('Your name').fill(this.name);
    await page.locator('.role-option', { hasText: new RegExp(`^${role}`, 'i') }).click();
    await page.getByLabel('Classroom').fill(classroom);
    await page.getByRole('button', { name: 'Join class' }).click();
    await page.locator('[data-status="connected"], .join-error').first().waitFor();
  }

  state(): Promise<AppState> {
    return this.page.evaluate(() => (globalThis as unknown as PageGlobals).__classroom.state());
  }

  connection(): Promise<string> {
    return this.page.evaluate(() => (globalThis as unknown as PageGlobals).__classroom.connection());
  }

  clientState(): Promise<string> {
    return this.page.evaluate(() => (globalThis as unknown as PageGlobals).__classroom.clientState());
  }

  userId(): Promise<string> {
    return this.page.evaluate(() => (globalThis as unknown as PageGlobals).__classroom.me().userId);
  }

  publish(event: string, data: unknown): ReturnType<Hook['publish']> {
    return this.page.evaluate(([e, d]) => (globalThis as unknown as PageGlobals).__classroom.publish(e, d), [event, data] as const);
  }

  /**
   * Waits until the app's state satisfies `predicate`, checked here on each state the page reports (the
   * page's Content-Security-Policy forbids evaluating a predicate's source inside it).
   */
  async waitForState<A = undefined>(description: string, predicate: (state: AppState, arg: A) => boolean, arg?: A): Promise<AppState> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const state = await this.state();
      if (predicate(state, arg as A)) return state;
      if (Date.now() > deadline) throw new Error(`${this.name}: ${description} did not happen within 20 s\nstate: ${JSON.stringify(state)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async sendChat(text: string): Promise<void> {
    await this.page.getByLabel('Message the class').fill(text);
    await this.page.getByLabel('Message the class').press('Enter');
  }

  /** The chat's message log; `chat` is the panel's name ("Group 2 chat" in a breakout group). */
  chatLog(chat = 'Class chat') {
    return this.page.getByRole('log', { name: `${chat} messages`, exact: true });
  }

  canvas() {
    return this.page.locator('canvas');
  }

  /** Draws with the mouse through the given points (board fractions); `whileDown` runs before the pen lifts. */
  async draw(points: [number, number][], whileDown?: () => Promise<void>): Promise<void> {
    const box = await this.canvas().boundingBox();
    if (box === null) throw new Error('no board on screen');
    const at = ([x, y]: [number, number]) => [box.x + x * box.width, box.y + y * box.height] as const;
    const [first, ...rest] = points;
    await this.page.mouse.move(...at(first!));
    await this.page.mouse.down();
    for (const point of rest) await this.page.mouse.move(...at(point), { steps: 4 });
    if (whileDown !== undefined) await whileDown();
    await this.page.mouse.up();
  }

  /** Moves the pointer over the board without drawing. */
  async hover(x: number, y: number): Promise<void> {
    const box = await this.canvas().boundingBox();
    if (box === null) throw new Error('no board on screen');
    await this.page.mouse.move(box.x + x * box.width, box.y + y * box.height, { steps: 5 });
  }

  /** Waits until this person sees `name`'s cursor at (x, y) on the board, within a pixel or so. */
  async waitForCursor(name: string, x: number, y: number): Promise<void> {
    await this.page.waitForFunction(
      ([who, cx, cy]) =>
        (globalThis as unknown as PageGlobals).__classroom.cursors().some((c) => c.name === who && Math.abs(c.x - cx) < 0.002 && Math.abs(c.y - cy) < 0.002),
      [name, x, y] as const,
      { polling: 50 },
    );
  }

  /** Waits until this person's board holds exactly the items of `other` (ids in order). */
  waitForBoard(other: AppState): Promise<AppState> {
    const ids = other.board.map((entry) => entry.item.id).join(' ');
    return this.waitForState('the same board', (s, expected) => s.board.map((e) => e.item.id).join(' ') === expected, ids);
  }

  /** Waits until everything this person drew was confirmed by the server (and so is in their state). */
  async drawingSettled(): Promise<AppState> {
    await this.page.locator('canvas[data-pending="0"]').waitFor();
    return this.state();
  }

  async screenshot(name: string): Promise<void> {
    await mkdir(SCREENSHOT_DIR, { recursive: true });
    await this.page.screenshot({ path: `${SCREENSHOT_DIR}${name}.png` });
  }

  /** A screenshot of one labelled region of the page (a panel), rather than the whole window. */
  async screenshotRegion(region: string, name: string): Promise<void> {
    await mkdir(SCREENSHOT_DIR, { recursive: true });
    await this.page.getByRole('region', { name: region, exact: true }).screenshot({ path: `${SCREENSHOT_DIR}${name}.png` });
  }

  async close(): Promise<void> {
    await this.context.close();
  }
}

/** A wave across the board, for strokes that look like handwriting in screenshots. */
export function wave(fromX: number, toX: number, y: number, amplitude: number, steps = 16): [number, number][] {
  return Array.from({ length: steps + 1 }, (_, i) => {
    const x = fromX + ((toX - fromX) * i) / steps;
    return [x, y + Math.sin((i / steps) * Math.PI * 2) * amplitude] as [number, number];
  });
}
