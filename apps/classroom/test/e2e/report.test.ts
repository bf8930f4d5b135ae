/**
 * The class report and lesson replay in Chromium, on a gateway with class records (an embedded
 * PostgreSQL, as `npm start` runs it): a teacher and two students chat and draw; the teacher opens the
 * report from the classroom, sees the transcript (and the attendance, on a server that has the route),
 * downloads the CSV, and replays the lesson, scrubbed to the middle, at desktop and phone widths.
 *
 * The tests run in order and share the class, as a lesson would.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Gateway } from '@classwire/gateway';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../../../test-support/harness.js';
import { Participant, SCREENSHOT_DIR, buildApp, launchChromium, startClassroomGateway, wave } from './support.js';

const CLASSROOM = 'history-9c';

/** The page's globals as the evaluated functions see them (this file is typechecked without the DOM library). */
interface PageGlobals {
  document: { documentElement: { scrollWidth: number } };
}

let gateway: Gateway;
let browser: Browser;
/** The app's build, served again by a gateway without records. */
let appDir: string;
let dataDir: string;
let teacher: Participant;
let ada: Participant;
let bo: Participant;
let report: Page;
/** A teacher's token for reading the records API from the test. */
let staffToken: string;
/** The board item each drawing left once settled. */
let teacherStroke: string;
let adaStroke: string;

interface RecordedEvent {
  id: number;
  ts: number;
  event: string;
  data: { id?: string; text?: string } | null;
  author: { userId: string | null; name: string | null } | null;
}

async function api<T>(path: string, accept = 'application/json'): Promise<{ status: number; body: T; text: string }> {
  const response = await fetch(`${gateway.url}${path}`, { headers: { authorization: `Bearer ${staffToken}`, accept } });
  const text = await response.text();
  return { status: response.status, text, body: (accept === 'application/json' && text !== '' ? JSON.parse(text) : undefined) as T };
}

/** The records API's status, 0 when the request failed (a keep-alive socket the server closed meanwhile). */
async function apiStatus(path: string): Promise<number> {
  return (await api(path).catch(() => undefined))?.status ?? 0;
}

async function theClass(): Promise<{ id: string; startedAt: number; endedAt: number | null }> {
  const { body } = await api<{ classes: { id: string; startedAt: number; endedAt: number | null }[] }>(`/classes?room=${CLASSROOM}`);
  return body.classes[0]!;
}

async function transcript(classId: string): Promise<RecordedEvent[]> {
  const events: RecordedEvent[] = [];
  let after = 0;
  for (;;) {
    const { body } = await api<{ events: RecordedEvent[]; next: number | null }>(`/classes/${classId}/transcript?after=${after}&limit=500`);
    events.push(...body.events);
    if (body.next === null) return events;
    after = body.next;
  }
}

/** True once the attendance route exists on this server (another part of issue 13 adds it); until then the path serves the app. */
async function attendanceRoute(classId: string): Promise<boolean> {
  const response = await fetch(`${gateway.url}/classes/${classId}/attendance`, { headers: { authorization: `Bearer ${staffToken}` } });
  await response.body?.cancel();
  return response.status === 200 && (response.headers.get('content-type') ?? '').includes('application/json');
}

/** Pages the report's transcript forward until a line with `text` is on the page. */
async function findTranscriptLine(page: Page, text: string) {
  const region = page.getByRole('region', { name: 'Transcript' });
  const line = region.locator('.line', { hasText: text });
  for (;;) {
    await region.locator('.line').first().waitFor();
    if ((await line.count()) > 0) return line;
    const next = region.getByRole('button', { name: 'Next' });
    if (await next.isDisabled()) throw new Error(`no transcript line says ${text}`);
    const first = await region.locator('.line').first().getAttribute('data-id');
    await next.click();
    await region.locator(`.line[data-id="${first}"]`).waitFor({ state: 'detached' });
  }
}

async function openReport(width: number, height: number): Promise<Page> {
  const context = await browser.newContext({ viewport: { width, height }, deviceScaleFactor: 1 });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  page.on('pageerror', (error) => teacher.errors.push(`report: ${error.message}`));
  await page.goto(`${gateway.url}/report?room=${CLASSROOM}&name=Ms%20Okafor`);
  return page;
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'classwire-report-e2e-'));
  const [app, chromium] = await Promise.all([buildApp(), launchChromium()]);
  browser = chromium;
  appDir = app;
  gateway = await startClassroomGateway(app, { CLASSWIRE_DATA_DIR: dataDir });
  const minted = await fetch(`${gateway.url}/dev/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Test reader', role: 'teacher', rooms: [CLASSROOM] }),
  });
  staffToken = ((await minted.json()) as { token: string }).token;
  // The embedded database's first open runs initdb: the records API answers 503 until it is open.
  await eventually(async () => (await apiStatus(`/classes?room=${CLASSROOM}`)) === 200, 60_000);
  teacher = await Participant.join(browser, gateway.url, 'Ms Okafor', 'teacher', CLASSROOM);
  ada = await Participant.join(browser, gateway.url, 'Ada Lovelace', 'student', CLASSROOM);
  bo = await Participant.join(browser, gateway.url, 'Bo Chen', 'student', CLASSROOM);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await gateway?.drain();
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
});

describe('the class report and lesson replay in Chromium', { timeout: 90_000 }, () => {
  it('records a lesson in which a teacher and two students chat and draw', async () => {
    await teacher.page.getByRole('button', { name: 'Start class' }).click();
    for (const person of [teacher, ada, bo]) await person.page.locator('[data-class-status="live"]').waitFor();
    await ada.sendChat('Which year did the wall fall?');
    await teacher.chatLog().getByText('Which year did the wall fall?').waitFor();
    await teacher.sendChat('1989. Here is the timeline.');
    await teacher.draw(wave(0.08, 0.5, 0.3, 0.08));
    teacherStroke = (await teacher.drawingSettled()).board.at(-1)!.item.id;
    await ada.waitForState('the teacher’s stroke', (s, id) => s.board.some((e) => e.item.id === id), teacherStroke);
    await ada.sendChat('I will add the reunification.');
    await ada.draw(wave(0.3, 0.9, 0.7, 0.06));
    adaStroke = (await ada.drawingSettled()).board.at(-1)!.item.id;
    // The teacher wipes the first stroke: the board at the end no longer shows it.
    expect(await teacher.publish('wb.erase', { id: teacherStroke })).toMatchObject({ ok: true });
    await bo.sendChat('Thanks!');
    for (const person of [teacher, ada, bo]) {
      await person.waitForState('the whole lesson', (s) => s.chat.length === 4 && s.board.length === 1);
    }
    const recorded = await theClass();
    await eventually(async () => (await transcript(recorded.id)).some((e) => e.event === 'chat.message' && e.data?.text === 'Thanks!'), 20_000);
  });

  it('opens the class report from the classroom: live, with the transcript and (when the server has it) attendance', async () => {
    const [opened] = await Promise.all([teacher.context.waitForEvent('page'), teacher.page.getByRole('link', { name: 'Class report' }).click()]);
    report = opened;
    report.on('pageerror', (error) => teacher.errors.push(`report: ${error.message}`));
    await report.locator('[data-class-state="live"]').waitFor();
    const lines = report.getByRole('region', { name: 'Transcript' }).locator('.line');
    await lines.filter({ hasText: 'Which year did the wall fall?' }).waitFor();
    // A stroke's many segments read as one line per person and run of drawing.
    expect(await lines.filter({ hasText: 'Ms Okafor' }).filter({ hasText: /drew on the board \(\d+ changes\)/ }).count()).toBeGreaterThan(0);
    await report.screenshot({ path: `${SCREENSHOT_DIR}report-live.png`, fullPage: true });
    const thanks = await findTranscriptLine(report, 'Thanks!');
    expect(await thanks.locator('.who').innerText()).toBe('Bo Chen');
    const recorded = await theClass();
    if (await attendanceRoute(recorded.id)) {
      const rows = report.locator('[data-test="attendance"] tbody tr');
      await rows.nth(2).waitFor();
      expect((await rows.locator('th').allInnerTexts()).sort()).toEqual(['Ada Lovelace', 'Bo Chen', 'Ms Okafor']);
    } else {
      await report.locator('[data-test="attendance-absent"]').waitFor();
      expect(await report.getByRole('button', { name: 'Download CSV' }).isDisabled()).toBe(true);
    }
  });

  it('shows the ended class after the teacher ends it, and downloads the attendance CSV', async () => {
    await teacher.page.getByRole('button', { name: 'End class' }).click();
    await teacher.page.getByRole('group', { name: 'End the class for everyone?' }).getByRole('button', { name: 'Yes' }).click();
    await teacher.page.getByRole('heading', { name: 'The class has ended' }).waitFor();
    await eventually(async () => (await theClass()).endedAt !== null, 20_000);
    // A live report refreshes itself and shows the class as ended.
    await report.locator('[data-class-state="ended"]').waitFor();
    const recorded = await theClass();
    if (!(await attendanceRoute(recorded.id))) return;
    const [download] = await Promise.all([report.waitForEvent('download'), report.getByRole('button', { name: 'Download CSV' }).click()]);
    expect(download.suggestedFilename()).toMatch(new RegExp(`^attendance-${CLASSROOM}-\\d{4}-\\d{2}-\\d{2}\\.csv$`));
    const csv = await readFile(await download.path(), 'utf8');
    expect(csv).toBe((await api<string>(`/classes/${recorded.id}/attendance`, 'text/csv')).text);
    for (const name of ['Ada Lovelace', 'Bo Chen', 'Ms Okafor']) expect(csv).toContain(name);
  });

  it('replays the lesson: scrubbed to the middle, the board is as it was then; by keyboard, start and end', async () => {
    const recorded = await theClass();
    const events = await transcript(recorded.id);
    const adaFirstDrawing = events.find((e) => e.event.startsWith('wb.') && e.author?.name === 'Ada Lovelace')!;
    const teacherLastDrawing = events.filter((e) => e.event.startsWith('wb.') && e.author?.name === 'Ms Okafor' && e.id < adaFirstDrawing.id).at(-1)!;
    expect(adaFirstDrawing.ts).toBeGreaterThan(teacherLastDrawing.ts);
    const middle = Math.floor((teacherLastDrawing.ts + adaFirstDrawing.ts) / 2) - recorded.startedAt;

    await report.getByRole('tab', { name: 'Replay' }).click();
    const board = report.getByRole('region', { name: 'Lesson replay' }).locator('canvas');
    const scrubber = report.getByRole('slider', { name: 'Lesson time' });
    await board.waitFor();
    expect(await board.getAttribute('data-items')).toBe('0');

    await scrubber.fill(String(middle));
    expect(await board.getAttribute('data-item-ids')).toBe(teacherStroke);
    const chat = report.getByRole('list', { name: 'Chat so far' });
    await chat.getByText('1989. Here is the timeline.').waitFor();
    expect(await chat.getByText('Thanks!').count()).toBe(0);
    await report.screenshot({ path: `${SCREENSHOT_DIR}replay-middle.png`, fullPage: true });

    await scrubber.press('End');
    expect(await board.getAttribute('data-item-ids')).toBe(adaStroke);
    await chat.getByText('Thanks!').waitFor();
    await report.screenshot({ path: `${SCREENSHOT_DIR}replay-end.png`, fullPage: true });
    // Seeking back rebuilds the board from the start.
    await scrubber.press('Home');
    expect(await board.getAttribute('data-items')).toBe('0');
    await scrubber.fill(String(middle));
    expect(await board.getAttribute('data-item-ids')).toBe(teacherStroke);

    // Played at the highest speed from the middle, it reaches the end and stops by itself.
    await report.getByLabel('Playback speed').selectOption('16');
    await report.getByRole('button', { name: 'Play' }).press('Enter');
    await report.getByRole('button', { name: 'Play' }).waitFor({ timeout: 30_000 });
    expect(await board.getAttribute('data-item-ids')).toBe(adaStroke);
    expect(await report.locator('[data-test="replay-time"]').innerText()).toMatch(/^(\d+:\d\d) \/ \1$/);
  });

  it('fits a 390 px wide phone: the replay and the report without sideways scrolling', async () => {
    const phone = await openReport(390, 844);
    await phone.locator('[data-class-state="ended"]').waitFor();
    await phone.getByRole('region', { name: 'Transcript' }).locator('.line').first().waitFor();
    await phone.screenshot({ path: `${SCREENSHOT_DIR}report-phone.png`, fullPage: true });
    expect(await phone.evaluate(() => (globalThis as unknown as PageGlobals).document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await phone.getByRole('tab', { name: 'Replay' }).click();
    const scrubber = phone.getByRole('slider', { name: 'Lesson time' });
    await scrubber.press('End');
    expect(await phone.getByRole('region', { name: 'Lesson replay' }).locator('canvas').getAttribute('data-item-ids')).toBe(adaStroke);
    await phone.screenshot({ path: `${SCREENSHOT_DIR}replay-phone.png`, fullPage: true });
    expect(await phone.evaluate(() => (globalThis as unknown as PageGlobals).document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    expect(teacher.errors).toEqual([]);
    for (const person of [ada, bo]) expect(person.errors).toEqual([]);
  });

  it('says so on a server that keeps no records', async () => {
    const bare = await startClassroomGateway(appDir);
    try {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(`${bare.url}/report?room=${CLASSROOM}&name=Ms%20Okafor`);
      await page.getByRole('alert').getByText('This server keeps no class records').waitFor();
      await context.close();
    } finally {
      await bare.drain();
    }
  });
});
