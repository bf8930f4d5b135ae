/**
 * The classroom in real browsers: a teacher and two students (then a late joiner) in separate Chromium
 * contexts, against a real gateway serving the built app. One student's traffic goes through a TCP
 * fault proxy so the test can cut and restore its network.
 *
 * The tests run in order and share the class, as a lesson would: each states one behaviour.
 */
import type { Gateway } from '@classwire/gateway';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultProxy } from '../../../../test-support/fault-proxy.js';
import { Participant, buildApp, launchChromium, startClassroomGateway, wave, type AppState } from './support.js';

const CLASSROOM = 'physics-7b';

let gateway: Gateway;
let proxy: FaultProxy;
let browser: Browser;
let teacher: Participant;
let ada: Participant;
/** Bo's browser reaches the gateway only through the fault proxy. */
let bo: Participant;
const everyone: Participant[] = [];

/** The parts of two states that must agree once both have seen the same events. */
function shared(state: AppState) {
  return {
    chat: state.chat.map((m) => `${m.seq}:${m.from.name}:${m.text}`),
    board: state.board.map((e) => `${e.seq}:${e.item.id}`),
    settings: state.settings,
    status: state.status,
    hands: state.hands.map((h) => h.userId),
  };
}

beforeAll(async () => {
  const [app, chromium] = await Promise.all([buildApp(), launchChromium()]);
  browser = chromium;
  gateway = await startClassroomGateway(app);
  proxy = new FaultProxy(gateway.port, { raw: true });
  await proxy.start();
  teacher = await Participant.join(browser, gateway.url, 'Ms Rivera', 'teacher', CLASSROOM);
  ada = await Participant.join(browser, gateway.url, 'Ada Lovelace', 'student', CLASSROOM);
  bo = await Participant.join(browser, `http://127.0.0.1:${proxy.port}`, 'Bo Chen', 'student', CLASSROOM);
  everyone.push(teacher, ada, bo);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await proxy?.stop();
  await gateway?.drain();
});

describe('the classroom app in three browsers', { timeout: 60_000 }, () => {
  it('shows everyone in the roster, and the teacher starts the class for all', async () => {
    for (const person of everyone) {
      await person.page.locator('.member').nth(2).waitFor();
      expect(await person.page.locator('.member').count()).toBe(3);
    }
    await teacher.page.getByRole('button', { name: 'Start class' }).click();
    for (const person of everyone) await person.page.locator('[data-class-status="live"]').waitFor();
  });

  it('delivers chat to everyone, in one order', async () => {
    await ada.sendChat('Is it page 12 today?');
    await teacher.chatLog().getByText('Is it page 12 today?').waitFor();
    await teacher.sendChat('Yes: the pendulum on page 12.');
    // Bo answers what he has read: his message is sequenced after the teacher's.
    await bo.chatLog().getByText('the pendulum on page 12').waitFor();
    await bo.sendChat('Thanks!');
    for (const person of everyone) {
      await person.waitForState('three chat messages', (s) => s.chat.length === 3);
      await person.chatLog().getByText('the pendulum on page 12').waitFor();
    }
    const orders = await Promise.all(everyone.map(async (p) => shared(await p.state()).chat));
    expect(orders[1]).toEqual(orders[0]);
    expect(orders[2]).toEqual(orders[0]);
    expect(orders[0]!.map((line) => line.split(':').slice(1).join(':'))).toEqual([
      'Ada Lovelace:Is it page 12 today?',
      'Ms Rivera:Yes: the pendulum on page 12.',
      'Bo Chen:Thanks!',
    ]);
  });

  it('shows who is typing, lets authors edit their messages and teachers delete any', async () => {
    await ada.page.getByLabel('Message the class').pressSequentially('I think');
    await teacher.page.locator('.typing').getByText('Ada Lovelace is typing…').waitFor();
    await ada.page.getByLabel('Message the class').fill('');

    const question = ada.chatLog().locator('.message', { hasText: 'Is it page 12 today?' });
    await question.hover();
    await question.getByRole('button', { name: /^Edit message/ }).click();
    await ada.page.getByLabel('Edit your message').fill('Is it page 12 or 13 today?');
    await ada.page.getByLabel('Edit your message').press('Enter');
    const thanks = teacher.chatLog().locator('.message', { hasText: 'Thanks!' });
    await thanks.hover();
    await thanks.getByRole('button', { name: /^Delete message/ }).click();
    for (const person of everyone) {
      const state = await person.waitForState('the edit and the delete', (s) => s.chat.length === 2 && s.chat[0]!.edited);
      expect(state.chat.map((m) => m.text)).toEqual(['Is it page 12 or 13 today?', 'Yes: the pendulum on page 12.']);
      await person.chatLog().getByText('(edited)').waitFor();
    }
    // Only the author may edit: the app offers nothing, and the server refuses a forced edit.
    expect(await teacher.chatLog().locator('.message', { hasText: 'page 12 or 13' }).getByRole('button', { name: /^Edit/ }).count()).toBe(0);
    const seq = (await bo.state()).chat[0]!.seq;
    expect(await bo.publish('chat.edit', { seq, text: 'hijacked' })).toEqual({ ok: false, code: 'forbidden' });
  });

  it('sends a private question to the teachers only, and the teacher answers it', async () => {
    await ada.page.getByRole('tab', { name: 'Private' }).click();
    await ada.page.getByLabel('Private message to the teachers').fill('Can I hand in the lab report tomorrow?');
    await ada.page.getByLabel('Private message to the teachers').press('Enter');
    await teacher.page.getByRole('tab', { name: /Private/ }).locator('.unread').waitFor();
    await teacher.page.getByRole('tab', { name: /Private/ }).click();
    await teacher.page.getByRole('log', { name: 'Private messages' }).getByText('lab report tomorrow').waitFor();
    // The answer goes to the last student who wrote, chosen for the teacher.
    expect(await teacher.page.getByRole('combobox', { name: 'To' }).inputValue()).toBe(await ada.userId());
    await teacher.page.getByLabel('Private message', { exact: true }).fill('Yes, by noon.');
    await teacher.page.getByLabel('Private message', { exact: true }).press('Enter');
    await ada.page.getByRole('log', { name: 'Private messages' }).getByText('Yes, by noon.').waitFor();
    for (const page of [ada.page, teacher.page]) await page.getByRole('tab', { name: 'Class chat' }).click();
    // Bo sees neither: the server sent the private messages before acknowledging them, so once a later
    // public message reaches Bo, anything private meant for Bo would have arrived before it.
    await teacher.sendChat('Back to the pendulum.');
    await bo.chatLog().getByText('Back to the pendulum.').waitFor();
    expect((await bo.state()).private).toEqual([]);
  });

  it("shows a student's stroke on the teacher's board while it is being drawn", async () => {
    await ada.draw(wave(0.08, 0.3, 0.3, 0.08), async () => {
      // The pen is still down: the first segments have reached the teacher already.
      await teacher.waitForState('part of the stroke', (s) => s.board.length > 0);
    });
    const adaId = await ada.userId();
    // Once drawn, the stroke's segments were replaced by the whole stroke: one item on the board.
    const drawn = await ada.drawingSettled();
    expect(drawn.board.map((e) => e.item.id)).toEqual([expect.stringMatching(/~w0$/)]);
    const seen = await teacher.waitForBoard(drawn);
    expect(seen.board).toEqual(drawn.board);
    expect(seen.board[0]).toMatchObject({ userId: adaId, item: { type: 'stroke' } });
    expect(await teacher.canvas().getAttribute('data-items')).toBe('1');
  });

  it('locks the whiteboard: the student cannot draw, and the server refuses a stroke sent anyway', async () => {
    await teacher.page.getByRole('button', { name: 'Lock whiteboard' }).click();
    await ada.page.locator('canvas[data-can-draw="false"]').waitFor();
    expect(await ada.page.getByRole('radio', { name: 'Pen' }).isDisabled()).toBe(true);
    const before = (await ada.state()).board.length;
    await ada.draw(wave(0.5, 0.7, 0.5, 0.05));
    const forced = await ada.publish('wb.stroke', { id: 'forced-1', color: '#e03131', width: 4, points: [0.5, 0.5, 0.6, 0.6] });
    expect(forced).toEqual({ ok: false, code: 'forbidden' });
    // The refused publish was answered after anything the gesture could have sent: nothing was drawn.
    expect((await ada.state()).board.length).toBe(before);
    expect((await teacher.state()).board.length).toBe(before);
    await ada.screenshot('student-board-locked');
  });

  it('lets the teacher grant the board to one student while it stays locked for the others', async () => {
    await teacher.page.getByRole('button', { name: 'Actions for Bo Chen' }).click();
    await teacher.page.getByRole('button', { name: 'Let draw' }).click();
    await bo.page.locator('canvas[data-can-draw="true"]').waitFor();
    expect(await ada.canvas().getAttribute('data-can-draw')).toBe('false');
    await bo.page.getByTitle('Blue').click();
    await bo.draw(wave(0.35, 0.6, 0.62, 0.06));
    const boId = await bo.userId();
    const drawn = await bo.drawingSettled();
    expect(drawn.board.filter((e) => e.userId === boId)).toHaveLength(1);
    for (const person of [teacher, ada]) expect((await person.waitForBoard(drawn)).board).toEqual(drawn.board);
    // Whoever may draw shows their cursor to the others, live.
    await bo.hover(0.8, 0.7);
    await teacher.waitForCursor('Bo Chen', 0.8, 0.7);
    await teacher.page.locator('.cursor', { hasText: 'Bo Chen' }).waitFor();
  });

  it("cuts a student's network and restores it: the SDK reconnects and nothing is missing", async () => {
    proxy.refuse(true);
    proxy.cutAll();
    await bo.page.locator('[data-status="reconnecting"]').waitFor();
    // While Bo is away the class goes on, and Bo writes a message that waits in the SDK's queue.
    await teacher.sendChat('Everyone: sketch the forces on the bob.');
    // A pendulum: the ceiling, the string, and a red bob.
    await teacher.page.getByTitle('Line').click();
    await teacher.draw([
      [0.66, 0.14],
      [0.9, 0.14],
    ]);
    await teacher.draw([
      [0.78, 0.14],
      [0.7, 0.5],
    ]);
    await teacher.page.getByTitle('Ellipse').click();
    await teacher.page.getByTitle('Red').click();
    await teacher.draw([
      [0.665, 0.475],
      [0.735, 0.585],
    ]);
    await ada.page.getByRole('button', { name: 'Raise hand' }).click();
    await bo.sendChat('Sorry, my Wi-Fi dropped');
    await teacher.waitForState('the hand and the pendulum', (s) => s.hands.length === 1 && s.board.filter((e) => e.item.type === 'shape').length === 3);
    proxy.refuse(false);
    await bo.page.locator('[data-status="caught-up"]').waitFor({ timeout: 30_000 });
    const expected = await teacher.waitForState("Bo's queued message", (s) => s.chat.some((m) => m.text === 'Sorry, my Wi-Fi dropped'));
    const after = await bo.waitForState('everything missed', (s, last) => s.seq >= last, expected.seq);
    expect(shared(after)).toEqual(shared(expected));
    expect(shared(await ada.waitForState('the same events', (s, last) => s.seq >= last, expected.seq))).toEqual(shared(expected));
  });

  it('gives a late joiner the whole board, the chat, the settings and the raised hands', async () => {
    const cleo = await Participant.join(browser, gateway.url, 'Cleo Diaz', 'student', CLASSROOM);
    everyone.push(cleo);
    const expected = shared(await teacher.state());
    expect(shared(await cleo.state())).toEqual(expected);
    expect(await cleo.canvas().getAttribute('data-can-draw')).toBe('false');
    await cleo.chatLog().getByText('Sorry, my Wi-Fi dropped').waitFor();
    await teacher.page.locator('.member').nth(3).waitFor();
    await bo.hover(0.5, 0.75);
    await teacher.waitForCursor('Bo Chen', 0.5, 0.75);
    await teacher.screenshot('teacher');
    await cleo.screenshot('late-joiner');
  });

  it('removes a student: their app says so, does not reconnect, and they cannot rejoin', async () => {
    await teacher.page.getByRole('button', { name: 'Actions for Ada Lovelace' }).click();
    await teacher.page.getByRole('button', { name: 'Remove', exact: true }).click();
    await teacher.page.getByRole('group', { name: 'Remove Ada Lovelace?' }).getByRole('button', { name: 'Yes' }).click();
    await ada.page.getByRole('heading', { name: 'You were removed from this class' }).waitFor();
    expect(await ada.clientState()).toBe('closed');
    await teacher.page.locator('.member[data-user="Ada Lovelace"]').waitFor({ state: 'detached' });
    await ada.screenshot('student-removed');
    // Back at the start, the same person (the tab keeps their user id) is refused.
    await ada.page.getByRole('button', { name: 'Back to the start' }).click();
    await ada.joinClass('student', CLASSROOM);
    await ada.page.getByRole('alert').getByText('you were removed').waitFor();
  });

  it('ends the class for everyone', async () => {
    await teacher.page.getByRole('button', { name: 'End class' }).click();
    await teacher.page.getByRole('group', { name: 'End the class for everyone?' }).getByRole('button', { name: 'Yes' }).click();
    for (const person of [teacher, bo, everyone[3]!]) {
      await person.page.getByRole('heading', { name: 'The class has ended' }).waitFor();
      expect(await person.clientState()).toBe('closed');
    }
    for (const person of everyone) expect(person.errors).toEqual([]);
  });
});
