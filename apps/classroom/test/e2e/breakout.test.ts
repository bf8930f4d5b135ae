/**
 * Breakout rooms in real browsers, through the app's controls: the teacher opens two groups and places
 * two students by hand; each student's app moves to their group's board and chat on the class token; a
 * stroke in group 1 never shows in group 2; the teacher sees who is where, visits a group, shows its
 * board to the class, and closes the breakout, which brings everyone back to the main room. The chat
 * panel is named for the chat it shows: "Group <n> chat" in a group, "Class chat" in the main room; a
 * student muted in the class finds their group's chat box closed too.
 * Screenshots at desktop width and at 390 px, and of a group's chat panel.
 */
import type { Gateway } from '@classwire/gateway';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Participant, buildApp, launchChromium, startClassroomGateway, wave } from './support.js';

const CLASSROOM = 'optics-9a';

let gateway: Gateway;
let browser: Browser;
let teacher: Participant;
let ada: Participant;
let bo: Participant;

beforeAll(async () => {
  const [app, chromium] = await Promise.all([buildApp(), launchChromium()]);
  browser = chromium;
  gateway = await startClassroomGateway(app);
  teacher = await Participant.join(browser, gateway.url, 'Ms Rivera', 'teacher', CLASSROOM);
  ada = await Participant.join(browser, gateway.url, 'Ada Lovelace', 'student', CLASSROOM);
  bo = await Participant.join(browser, gateway.url, 'Bo Chen', 'student', CLASSROOM);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await gateway?.drain();
});

interface BreakoutHook {
  current(): number | null;
}

function currentGroup(person: Participant): Promise<number | null> {
  return person.page.evaluate(() => (globalThis as unknown as { __breakout: BreakoutHook }).__breakout.current());
}

function panel(person: Participant) {
  return person.page.getByRole('region', { name: 'Breakout rooms' });
}

/** Waits until the person's chat panel is named `chat` (its tab and its log), and checks it is the only chat shown. */
async function expectChatNamed(person: Participant, chat: string): Promise<void> {
  const { page } = person;
  await page.getByRole('tab', { name: chat, exact: true }).waitFor();
  await person.chatLog(chat).waitFor();
  expect((await page.getByRole('tab', { name: /chat$/ }).allTextContents()).map((text) => text.trim())).toEqual([chat]);
  const logs = await page.getByRole('log', { name: /chat messages$/ }).all();
  expect(await Promise.all(logs.map((log) => log.getAttribute('aria-label')))).toEqual([`${chat} messages`]);
}

describe('breakout rooms in three browsers', { timeout: 60_000 }, () => {
  it('opens two groups and places the students by hand; each student lands in their group', async () => {
    const { page } = teacher;
    const form = page.getByRole('form', { name: 'Open breakout rooms' });
    await form.getByLabel('Groups').fill('2');
    await form.getByLabel('By hand').check();
    await form.getByRole('button', { name: 'Open breakout rooms' }).click();
    await panel(teacher).locator('[data-breakout-open]').waitFor();
    await page.getByText('Place students').click();
    await page.getByLabel('Group for Ada Lovelace').selectOption({ label: 'Group 1' });
    await page.getByLabel('Group for Bo Chen').selectOption({ label: 'Group 2' });
    await ada.page.locator('[data-in-group="1"]').waitFor();
    await bo.page.locator('[data-in-group="2"]').waitFor();
    await ada.page.getByText('You are in group 1.').waitFor();
    expect(await currentGroup(teacher)).toBeNull();
    await expectChatNamed(ada, 'Group 1 chat');
    await expectChatNamed(bo, 'Group 2 chat');
    await expectChatNamed(teacher, 'Class chat');
  });

  it("keeps each group's board to itself: Ada's stroke in group 1 is not in group 2 nor in the class", async () => {
    await ada.draw(wave(0.15, 0.6, 0.4, 0.08));
    await ada.page.locator('canvas[data-pending="0"][data-items="1"]').waitFor();
    // Bo (keyboard only) writes in group 2's chat meanwhile.
    await bo.page.getByLabel('Message group 2').focus();
    await bo.page.keyboard.type('Group two is ready');
    await bo.page.keyboard.press('Enter');
    await bo.chatLog('Group 2 chat').getByText('Group two is ready').waitFor();
    expect(await bo.canvas().getAttribute('data-items')).toBe('0');
    expect(await ada.chatLog('Group 1 chat').getByText('Group two is ready').count()).toBe(0);
    expect(await teacher.chatLog().getByText('Group two is ready').count()).toBe(0);
    await bo.screenshotRegion('Chat', 'breakout-group-chat');
    expect(await teacher.canvas().getAttribute('data-items')).toBe('0');
    expect((await teacher.state()).board).toEqual([]);
    await ada.screenshot('breakout-student-group1');
    await bo.screenshot('breakout-student-group2');
  });

  it('keeps a student muted in the class muted in their group: the group chat box says so, and opens again on unmute', async () => {
    const { page } = teacher;
    const box = bo.page.getByLabel('Message group 2');
    expect(await box.isDisabled()).toBe(false);
    await page.getByRole('button', { name: 'Actions for Bo Chen' }).click();
    await page.getByRole('group', { name: 'Actions for Bo Chen' }).getByRole('button', { name: 'Mute' }).click();
    await bo.page.locator('textarea#chat-input[disabled][placeholder="A teacher muted you in the class chat."]').waitFor();
    await page.getByRole('button', { name: 'Actions for Bo Chen' }).click();
    await page.getByRole('group', { name: 'Actions for Bo Chen' }).getByRole('button', { name: 'Unmute' }).click();
    await bo.page.locator('textarea#chat-input:not([disabled])[placeholder="Message group 2"]').waitFor();
  });

  it('shows the teacher who is where, lets them visit a group and show its board to the class', async () => {
    const { page } = teacher;
    await page.getByRole('button', { name: 'Refresh' }).click();
    await panel(teacher).locator('[data-group="1"][data-present="1"]').waitFor();
    await panel(teacher).locator('[data-group="2"][data-present="1"]').waitFor();
    await page.getByRole('button', { name: 'Visit group 1' }).click();
    await page.locator('[data-in-group="1"]').waitFor();
    await expectChatNamed(teacher, 'Group 1 chat');
    await page.locator('canvas[data-items="1"]').waitFor();
    await page.getByRole('button', { name: 'Refresh' }).click();
    await panel(teacher).locator('[data-group="1"][data-present="2"]').waitFor();
    await teacher.screenshot('breakout-teacher-visiting');
    await page.getByRole('button', { name: 'Show board of group 1' }).click();
    await bo.page.locator('[data-shown-group="1"]').waitFor();
    await bo.page.locator('canvas[data-items="1"][data-can-draw="false"]').waitFor();
    await bo.screenshot('breakout-shown-board');
    await page.getByRole('button', { name: 'Stop showing group 1' }).click();
    await bo.page.locator('[data-shown-group]').waitFor({ state: 'detached' });
    await page.locator('[data-in-group="1"]').getByRole('button', { name: 'Back to class' }).click();
    await page.locator('[data-in-group]').waitFor({ state: 'detached' });
    await expectChatNamed(teacher, 'Class chat');
  });

  it('fits a phone: the breakout panel and the group view work at 390 px', async () => {
    for (const [person, name] of [
      [teacher, 'breakout-teacher-390'],
      [ada, 'breakout-student-390'],
    ] as const) {
      await person.page.setViewportSize({ width: 390, height: 844 });
      const scrollWidth = await person.page.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth);
      expect(scrollWidth).toBeLessThanOrEqual(390);
      await panel(person).scrollIntoViewIfNeeded();
      await person.screenshot(name);
      await person.page.setViewportSize({ width: 1366, height: 800 });
    }
  });

  it('closes the breakout: everyone is back in the main room with the class board and chat', async () => {
    // By keyboard: focus the close button, confirm with Enter.
    await teacher.page.getByRole('button', { name: 'Close breakout rooms' }).focus();
    await teacher.page.keyboard.press('Enter');
    await teacher.page.getByRole('group', { name: 'Bring everyone back?' }).getByRole('button', { name: 'Yes' }).waitFor();
    await teacher.page.keyboard.press('Enter');
    for (const person of [ada, bo]) {
      await person.page.locator('[data-in-group]').waitFor({ state: 'detached' });
      await person.page.locator('canvas[data-items="0"]').waitFor();
      expect(await currentGroup(person)).toBeNull();
      await expectChatNamed(person, 'Class chat');
    }
    await panel(teacher).getByRole('form', { name: 'Open breakout rooms' }).waitFor();
    await ada.sendChat('Back with the class');
    await bo.chatLog().getByText('Back with the class').waitFor();
    await bo.screenshot('breakout-closed-student');
    for (const person of [teacher, ada, bo]) expect(person.errors).toEqual([]);
  });
});
