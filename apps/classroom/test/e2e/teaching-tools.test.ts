/**
 * Teaching tools in real browsers. A poll, driven through the app's controls: the teacher writes a quiz, opens it with
 * a time limit, two students answer (one changes their mind), the teacher watches the live tally,
 * closes the poll and shares the results, and a late joiner finds them. Screenshots at desktop width
 * and at 390 px (a phone), where the header must keep Leave on screen. Then the class timer, also on a
 * device whose clock is 7 minutes fast. Then the board's pages (students follow the teacher, or browse
 * when allowed), the text tool, and undo/redo by keyboard and buttons.
 */
import type { Gateway } from '@classwire/gateway';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Participant, buildApp, launchChromium, startClassroomGateway, wave } from './support.js';

const CLASSROOM = 'forces-8c';

let gateway: Gateway;
let browser: Browser;
let teacher: Participant;
let ada: Participant;
let bo: Participant;
const everyone: Participant[] = [];

beforeAll(async () => {
  const [app, chromium] = await Promise.all([buildApp(), launchChromium()]);
  browser = chromium;
  gateway = await startClassroomGateway(app);
  teacher = await Participant.join(browser, gateway.url, 'Ms Rivera', 'teacher', CLASSROOM);
  ada = await Participant.join(browser, gateway.url, 'Ada Lovelace', 'student', CLASSROOM);
  bo = await Participant.join(browser, gateway.url, 'Bo Chen', 'student', CLASSROOM);
  everyone.push(teacher, ada, bo);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await gateway?.drain();
});

const QUESTION = 'Which force keeps the Moon in orbit?';

function poll(person: Participant) {
  return person.page.getByRole('article', { name: `Poll: ${QUESTION}` });
}

describe('a poll in three browsers', { timeout: 60_000 }, () => {
  it('lets the teacher write a quiz that students see only once it is open', async () => {
    const { page } = teacher;
    await page.getByRole('button', { name: 'New poll' }).click();
    const form = page.getByRole('form', { name: 'New poll' });
    await form.getByLabel('Question').fill(QUESTION);
    await form.getByLabel('Options, one per line').fill('Friction\nGravity\nMagnetism');
    await form.getByLabel('Quiz').check();
    await form.getByLabel('Correct option numbers').fill('2');
    await form.getByLabel('Points').fill('5');
    await form.getByRole('button', { name: 'Create poll' }).click();
    await poll(teacher).waitFor();
    await expect(poll(teacher).getByRole('status').first().textContent()).resolves.toContain('Draft');
    expect(await poll(ada).count()).toBe(0);
    await poll(teacher).getByLabel(`Time limit for ${QUESTION}`).selectOption({ label: '2 min' });
    await poll(teacher).getByRole('button', { name: 'Open' }).click();
    for (const student of [ada, bo]) {
      await poll(student).getByRole('radio', { name: 'Gravity' }).waitFor();
      await expect(poll(student).getByRole('status').first().textContent()).resolves.toMatch(/Open · [12]:\d\d left/);
    }
  });

  it('counts each student once, live for the teacher only, also when one changes their answer', async () => {
    // Keyboard only for Ada: tab to the option, choose it, send.
    await poll(ada).getByRole('radio', { name: 'Gravity' }).focus();
    await ada.page.keyboard.press('Space');
    await poll(ada).getByRole('button', { name: 'Send answer' }).focus();
    await ada.page.keyboard.press('Enter');
    await poll(ada).getByText('Answer sent').waitFor();
    await poll(bo).getByRole('radio', { name: 'Magnetism' }).check();
    await poll(bo).getByRole('button', { name: 'Send answer' }).click();
    await poll(bo).getByText('Answer sent').waitFor();
    await poll(bo).getByRole('radio', { name: 'Gravity' }).check();
    await poll(bo).getByRole('button', { name: 'Change answer' }).click();
    await poll(bo).getByText('Answer sent').waitFor();
    const results = poll(teacher).getByRole('list', { name: `Results of ${QUESTION}` });
    await results.locator('[data-respondents="2"]').waitFor();
    await expect(results.locator('[data-option="1"] .bar-count').textContent()).resolves.toBe('2');
    await expect(results.locator('[data-option="2"] .bar-count').textContent()).resolves.toBe('0');
    await expect(results.locator('[data-option="1"] .voters').textContent()).resolves.toBe('Ada Lovelace, Bo Chen');
    // Students see no tally while the poll runs, and not the quiz's answer.
    expect(await poll(ada).getByRole('list').count()).toBe(0);
    expect(await poll(ada).locator('.correct').count()).toBe(0);
    await teacher.screenshot('poll-teacher-live-tally');
    await ada.screenshot('poll-student-answering');
  });

  it('closes the poll and shares the results with everyone, late joiners included', async () => {
    await poll(teacher).getByRole('button', { name: 'Close' }).click();
    await poll(ada).getByText('You answered: Gravity').waitFor();
    await poll(teacher).getByRole('button', { name: 'Share results' }).click();
    for (const person of everyone) {
      const results = poll(person).getByRole('list', { name: `Results of ${QUESTION}` });
      await results.locator('[data-respondents="2"]').waitFor();
      await expect(results.locator('[data-option="1"] .correct').count()).resolves.toBe(1);
    }
    const cleo = await Participant.join(browser, gateway.url, 'Cleo Park', 'student', CLASSROOM);
    everyone.push(cleo);
    await poll(cleo).getByRole('list', { name: `Results of ${QUESTION}` }).locator('[data-respondents="2"]').waitFor();
    await ada.screenshot('poll-student-results');
  });

  it('runs the class timer: the same countdown on every screen, a wrong device clock included', async () => {
    const SKEW = 7 * 60_000;
    await teacher.page.getByLabel('Timer minutes').fill('2');
    await teacher.page.getByRole('button', { name: 'Start timer' }).click();
    // Dan's device clock is 7 minutes fast, and he joins after the timer started: only the snapshot tells him the server's time.
    const dan = await Participant.join(browser, gateway.url, 'Dan Wu', 'student', CLASSROOM, SKEW);
    everyone.push(dan);
    const left = async (person: Participant): Promise<number> => Number(await person.page.getByRole('timer', { name: 'Time left' }).getAttribute('data-remaining'));
    for (const person of [ada, dan]) await person.page.getByRole('timer', { name: 'Time left' }).waitFor();
    const [a, d] = [await left(ada), await left(dan)];
    expect(a).toBeGreaterThan(100);
    expect(a).toBeLessThanOrEqual(120);
    // Without the server's clock Dan would read 0:00 (his clock says the two minutes passed long ago).
    expect(Math.abs(a - d)).toBeLessThanOrEqual(2);
    await teacher.page.getByRole('button', { name: 'Pause timer' }).click();
    for (const person of [ada, dan]) await person.page.locator('#timer-title + .badge', { hasText: 'Paused' }).waitFor();
    const paused = await left(ada);
    expect(await left(dan)).toBe(paused);
    await ada.screenshot('timer-student-paused');
    await teacher.screenshot('timer-teacher-paused');
    await teacher.page.getByRole('button', { name: 'Resume timer' }).click();
    await ada.page.locator('#timer-title + .badge').waitFor({ state: 'detached' });
    await teacher.page.getByRole('button', { name: 'Clear timer' }).click();
    for (const person of [ada, dan]) await person.page.getByRole('timer').waitFor({ state: 'detached' });
  });

  it('pins an announcement: every student\'s app acknowledges it and the teacher sees who has seen it', async () => {
    await teacher.page.getByRole('button', { name: 'Pin an announcement' }).click();
    await teacher.page.getByLabel('Announcement text').fill('Lab reports are due on Friday');
    await teacher.page.getByRole('button', { name: 'Pin', exact: true }).click();
    const students = everyone.filter((p) => p !== teacher);
    for (const person of students) await person.page.getByRole('region', { name: 'Announcement' }).getByText('Lab reports are due on Friday').waitFor();
    const seen = teacher.page.locator(`summary[data-seen="${students.length}"][data-of="${students.length}"]`);
    await seen.waitFor();
    await seen.click();
    await teacher.page.getByText('Everyone here has seen it.').waitFor();
    // Students see the announcement, not the receipts.
    expect(await ada.page.getByText(/Seen by/).count()).toBe(0);
    await teacher.screenshot('announcement-teacher-receipts');
    await ada.screenshot('announcement-student');
  });

  it('sends live reactions: the teacher sees them counted, once per student, and no student sees them', async () => {
    const bar = (person: Participant) => person.page.getByRole('group', { name: 'Send a reaction to your teachers' });
    // Keyboard only for Ada.
    await bar(ada).getByRole('button', { name: 'Question' }).focus();
    await ada.page.keyboard.press('Enter');
    await bar(ada).getByRole('button', { name: 'Question', pressed: true }).waitFor();
    await bar(bo).getByRole('button', { name: 'Question' }).click();
    await bar(bo).getByRole('button', { name: 'Question' }).click();
    await bar(bo).getByRole('button', { name: 'Slower' }).click();
    await teacher.page.locator('li[data-kind="question"][data-count="2"]').waitFor();
    await teacher.page.locator('li[data-kind="slower"][data-count="1"]').waitFor();
    expect(await bar(teacher).count()).toBe(0);
    expect(await ada.page.getByRole('list', { name: "Students' reactions in the last seconds" }).count()).toBe(0);
    await teacher.screenshot('reactions-teacher-live');
    await ada.screenshot('reactions-student-bar');
  });

  it('reacts to a chat message: another member sees the chip, adds to it, and it toggles off', async () => {
    await ada.page.getByLabel('Message the class').fill('Is gravity a force or a field?');
    await ada.page.getByLabel('Message the class').press('Enter');
    const message = (person: Participant) => person.page.locator('li.message', { hasText: 'Is gravity a force or a field?' });
    await message(teacher).waitFor();
    // Keyboard only for the teacher: the message's React button, then the first emoji of the picker.
    await message(teacher).getByRole('button', { name: /^React to Ada Lovelace/ }).focus();
    await teacher.page.keyboard.press('Enter');
    await message(teacher).getByRole('group', { name: "React to Ada Lovelace's message" }).waitFor();
    await teacher.page.keyboard.press('Enter');
    const chip = (person: Participant, count: number) => message(person).locator(`.chip[data-emoji="👍"][data-count="${count}"]`);
    await chip(bo, 1).waitFor();
    expect(await chip(bo, 1).getAttribute('title')).toBe('Ms Rivera');
    await chip(bo, 1).click();
    await chip(ada, 2).waitFor();
    expect(await chip(ada, 2).getAttribute('title')).toBe('Bo Chen and Ms Rivera');
    await chip(bo, 2).click();
    await chip(ada, 1).waitFor();
    await message(bo).getByRole('button', { name: /^React to Ada Lovelace/ }).click();
    await message(bo).getByRole('group', { name: "React to Ada Lovelace's message" }).waitFor();
    await bo.screenshot('reactions-picker');
    await message(bo).locator('[data-pick="🎉"]').click();
    await message(ada).locator('.chip[data-emoji="🎉"][data-count="1"]').waitFor();
    await teacher.screenshot('reactions-teacher-chat');
    await ada.screenshot('reactions-student-chat');
    await chip(teacher, 1).click();
    await message(ada).locator('.chip[data-emoji="👍"]').waitFor({ state: 'detached' });
    await message(bo).locator('.chip[data-emoji="🎉"]').click();
    await message(ada).locator('.chip').first().waitFor({ state: 'detached' });
    for (const person of everyone) expect(person.errors).toEqual([]);
  });

  it('writes text, and undoes and redoes per author on the server, by keyboard and by button', async () => {
    await ada.draw(wave(0.1, 0.6, 0.55, 0.06));
    await ada.drawingSettled();
    const adaUser = await ada.userId();
    const mine = (state: { board: { userId: string; item: { id: string } }[] }) => state.board.filter((e) => e.userId === adaUser).map((e) => e.item.id);
    const drawn = mine(await ada.state());
    expect(drawn.length).toBeGreaterThan(0);
    // The teacher writes by keyboard only: the Text tool, then type and Enter.
    await teacher.page.locator('label.tool[title="Text"]').click();
    await teacher.page.locator('#board-text').fill("Newton's second law: F = ma");
    await teacher.page.locator('#board-text').press('Enter');
    for (const person of [ada, bo]) await person.waitForState('the teacher\'s text', (s) => s.board.some((e) => e.item.type === 'text'));
    // Ctrl+Z takes back Ada's whole stroke for everyone, and nothing of the teacher's.
    // Ctrl+Z belongs to a text field that has the focus (Ada last typed in the chat): the board's undo is for the page.
    await ada.page.evaluate('document.activeElement?.blur()');
    await ada.page.keyboard.press('Control+z');
    await bo.waitForState('Ada\'s stroke undone', (s) => mine(s).length === 0 && s.board.some((e) => e.item.type === 'text'));
    await ada.screenshot('board-undo-student');
    await ada.page.getByRole('button', { name: 'Redo' }).click();
    // Back with the same ids.
    await bo.waitForState('Ada\'s stroke redone', (s, ids) => mine(s).join(' ') === ids, drawn.join(' '));
    expect(await ada.page.getByRole('button', { name: 'Redo' }).isDisabled()).toBe(true);
  });

  it('turns the board\'s pages for everyone, and lets students browse when the teacher allows', async () => {
    await teacher.page.getByRole('button', { name: 'Add page' }).click();
    for (const person of [ada, bo]) {
      await person.page.locator('canvas[data-page="1"][data-items="0"]').waitFor();
      await person.page.getByRole('status').filter({ hasText: 'Page 2 of 2 · following the teacher' }).waitFor();
      expect(await person.page.getByRole('button', { name: /^Page 1/ }).isDisabled()).toBe(true);
    }
    await teacher.page.locator('label.tool[title="Pen"]').click();
    await teacher.draw(wave(0.2, 0.8, 0.4, 0.1));
    await teacher.drawingSettled();
    await ada.page.locator('canvas[data-page="1"]:not([data-items="0"])').waitFor();
    await teacher.screenshot('board-pages-teacher');
    await teacher.page.getByLabel('Students may browse').check();
    await ada.page.getByRole('status').filter({ hasText: 'browsing freely' }).waitFor();
    await ada.page.getByRole('button', { name: /^Page 1/ }).click();
    await ada.page.locator('canvas[data-page="0"]').waitFor();
    await ada.screenshot('board-pages-student-browsing');
    // Bo did not browse: he still sees the page the teacher shows.
    expect(await bo.page.locator('canvas').getAttribute('data-page')).toBe('1');
    // A late joiner gets every page in the snapshot and starts on the shown one.
    const eve = await Participant.join(browser, gateway.url, 'Eve Ito', 'student', CLASSROOM);
    everyone.push(eve);
    const state = await eve.waitForState('every page', (s) => s.pages.pages.length === 2 && s.board.some((e) => e.page === 1) && s.board.some((e) => e.page === undefined));
    expect(state.pages).toEqual({ pages: [0, 1], shown: 1, free: true });
    await eve.page.locator('canvas[data-page="1"]').waitFor();
  });

  it('fits a phone: at 390 px the header keeps Leave on screen and the poll stays usable', async () => {
    for (const [person, name] of [
      [teacher, 'poll-teacher-390'],
      [bo, 'poll-student-390'],
    ] as const) {
      await person.page.setViewportSize({ width: 390, height: 844 });
      const leave = person.page.getByRole('button', { name: 'Leave' });
      const box = await leave.boundingBox();
      expect(box).not.toBeNull();
      expect(box!.x + box!.width).toBeLessThanOrEqual(390);
      const scrollWidth = await person.page.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth);
      expect(scrollWidth).toBeLessThanOrEqual(390);
      await person.screenshot(`${name}-header`);
      await poll(person).scrollIntoViewIfNeeded();
      await person.screenshot(name);
    }
    // The reaction bar (students) and the live counts (staff) fit too.
    const bar = bo.page.getByRole('group', { name: 'Send a reaction to your teachers' });
    await bar.scrollIntoViewIfNeeded();
    for (const button of await bar.getByRole('button').all()) {
      const box = await button.boundingBox();
      expect(box!.x + box!.width).toBeLessThanOrEqual(390);
    }
    await bo.screenshot('reactions-student-390');
    await teacher.page.getByRole('heading', { name: 'Live reactions' }).scrollIntoViewIfNeeded();
    await teacher.screenshot('reactions-teacher-390');
    await teacher.page.getByRole('navigation', { name: 'Board pages' }).scrollIntoViewIfNeeded();
    await teacher.screenshot('board-pages-teacher-390');
    for (const person of everyone) expect(person.errors).toEqual([]);
  });
});
