import { describe, expect, it } from 'vitest';
import { BOARD_LIMITS, type BoardEntry, type ClassroomSnapshot, type Role } from '@classwire/protocol';
import { Classroom, Engine, MemoryBroker, MemoryPresence, MemoryRegistry, type ClassroomOptions } from '@classwire/core';
import { RecordingFanOut, type Frame } from './recording-fanout.js';

/** The board's pages, the text tool and per-author undo/redo through the engine (docs/classroom.md). */

const START = 1_700_000_000_000;
const ROOM = 'art';

function setup(limits: { maxBoardItems?: number; maxBoardBytes?: number; maxBoardRoomBytes?: number; boardRate?: ClassroomOptions['boardRate'] } = {}) {
  const now = (): number => START;
  const registry = new MemoryRegistry();
  const presence = new MemoryPresence();
  const fanout = new RecordingFanOut();
  const broker = new MemoryBroker({ now, delivery: fanout });
  // Rates are lifted: these tests publish many events at one instant of a fake clock.
  const boardRate = { bytesPerSecond: 1e9, bytesBurst: 1e9, itemsPerSecond: 1e6, itemsBurst: 1e6 };
  const classroom = new Classroom({ registry, broker, presence, fanout, now, eventRate: { perSecond: 1000, burst: 1000 }, boardRate, ...limits });
  const engine = new Engine({ registry, broker, presence, fanout, now, classroom });
  let ids = 0;

  async function enter(connectionId: string, role: Role, userId = connectionId): Promise<void> {
    await engine.connect({ connectionId, userId, name: `Name ${userId}`, role, rooms: ['*'], expiresAt: START + 3_600_000, connectedAt: now(), node: 'test' });
    await engine.handleFrame(connectionId, JSON.stringify({ action: 'join', room: ROOM }));
  }

  async function publish(connectionId: string, event: string, data: unknown): Promise<Frame> {
    const id = `p${++ids}`;
    await engine.handleFrame(connectionId, JSON.stringify({ action: 'publish', room: ROOM, event, data, id }));
    const reply = fanout.frames(connectionId).find((f) => f.id === id && (f.type === 'ack' || f.type === 'error'));
    expect(reply, `a reply to ${event}`).toBeDefined();
    return reply!;
  }

  async function ok(connectionId: string, event: string, data: unknown): Promise<Frame> {
    const reply = await publish(connectionId, event, data);
    expect(reply, `${event} from ${connectionId}`).toMatchObject({ type: 'ack' });
    return reply;
  }

  async function refused(connectionId: string, event: string, data: unknown, code: string, message?: RegExp): Promise<void> {
    const reply = await publish(connectionId, event, data);
    expect(reply, `${event} from ${connectionId}`).toMatchObject({ type: 'error', code });
    if (message !== undefined) expect(reply.message).toMatch(message);
  }

  function messages(connectionId: string, event: string): Frame[] {
    return fanout.frames(connectionId).filter((f) => f.type === 'message' && f.event === event);
  }

  /** A fresh full snapshot, as a late joiner gets it. */
  let joiners = 0;
  async function snapshot(): Promise<ClassroomSnapshot> {
    const id = `late-${++joiners}`;
    await enter(id, 'observer');
    const frames = fanout.ofType(id, 'snapshot');
    return JSON.parse(frames.map((p) => p.data as string).join('')) as ClassroomSnapshot;
  }

  async function sizes(): Promise<Record<string, string>> {
    return (await broker.readState(ROOM, { boardSize: 'all' })).collections.boardSize ?? {};
  }

  return { engine, broker, enter, publish, ok, refused, messages, snapshot, sizes };
}

const stroke = (id: string, page?: number) => ({ id, color: '#112233', width: 3, points: [0.1, 0.1, 0.2, 0.2], ...(page === undefined ? {} : { page }) });
const text = (id: string, page?: number) => ({ id, x: 0.1, y: 0.2, text: 'Photosynthesis', size: 30, color: '#aa0000', ...(page === undefined ? {} : { page }) });
const ids = (entries: readonly BoardEntry[] | undefined, page = 0) => (entries ?? []).filter((e) => (e.page ?? 0) === page).map((e) => e.item.id);

async function classOf(limits?: Parameters<typeof setup>[0]) {
  const t = setup(limits);
  await t.enter('teacher', 'teacher');
  await t.enter('ta', 'assistant');
  await t.enter('ann', 'student');
  await t.enter('bob', 'student');
  await t.enter('obs', 'observer');
  return t;
}

describe('board pages', () => {
  it('staff add, show, remove pages and let students browse; everyone receives the pages each change leaves', async () => {
    const t = await classOf();
    expect((await t.snapshot()).boardPages).toEqual({ pages: [0], shown: 0, free: false });
    await t.ok('teacher', 'wb.page.add', {});
    expect(t.messages('ann', 'wb.page.add').at(-1)!.data).toEqual({ page: 1, pages: { pages: [0, 1], shown: 1, free: false } });
    await t.ok('ta', 'wb.page.show', { page: 0 });
    // A new page comes right after the shown one.
    await t.ok('teacher', 'wb.page.add', {});
    expect(t.messages('obs', 'wb.page.add').at(-1)!.data).toMatchObject({ page: 2, pages: { pages: [0, 2, 1], shown: 2 } });
    await t.ok('teacher', 'wb.page.browse', { free: true });
    for (const event of ['wb.page.add', 'wb.page.show', 'wb.page.remove', 'wb.page.browse']) {
      const data = event === 'wb.page.add' ? {} : event === 'wb.page.browse' ? { free: false } : { page: 1 };
      await t.refused('ann', event, data, 'forbidden', /only teachers/);
      await t.refused('obs', event, data, 'forbidden');
    }
    await t.ok('ann', 'wb.stroke', stroke('on-two', 2));
    await t.ok('ann', 'wb.text', text('on-one', 1));
    await t.ok('bob', 'wb.stroke', stroke('on-zero'));
    const before = await t.snapshot();
    expect(before.boardPages).toEqual({ pages: [0, 2, 1], shown: 2, free: true });
    expect([ids(before.whiteboard, 0), ids(before.whiteboard, 1), ids(before.whiteboard, 2)]).toEqual([['on-zero'], ['on-one'], ['on-two']]);
    // Removing the shown page shows the one before it, and takes its items along.
    await t.ok('teacher', 'wb.page.remove', { page: 2 });
    expect(t.messages('bob', 'wb.page.remove').at(-1)!.data).toEqual({ page: 2, pages: { pages: [0, 1], shown: 0, free: true } });
    const after = await t.snapshot();
    expect(after.whiteboard!.map((e) => e.item.id)).toEqual(['on-one', 'on-zero']);
    await t.refused('ann', 'wb.stroke', stroke('late', 2), 'not_found', /no page 2/);
    await t.refused('teacher', 'wb.page.show', { page: 2 }, 'not_found');
    await t.refused('teacher', 'wb.page.remove', { page: 0 }, 'bad_request', /first page/);
    await t.refused('teacher', 'wb.page.add', { page: 3 }, 'bad_request');
  });

  it('holds at most the page limit; page ids stay unique after removals', async () => {
    const t = await classOf();
    for (let i = 1; i < BOARD_LIMITS.maxPages; i++) await t.ok('teacher', 'wb.page.add', {});
    await t.refused('teacher', 'wb.page.add', {}, 'payload_too_large', new RegExp(`${BOARD_LIMITS.maxPages} pages`));
    await t.ok('teacher', 'wb.page.remove', { page: 5 });
    await t.ok('teacher', 'wb.page.add', {});
    expect((await t.snapshot()).boardPages!.pages).toHaveLength(BOARD_LIMITS.maxPages);
    expect(new Set((await t.snapshot()).boardPages!.pages).size).toBe(BOARD_LIMITS.maxPages);
  });

  it('applies the item and byte budgets per page, and the room-wide byte cap across pages', async () => {
    const one = JSON.stringify(stroke('xx', 1)).length;
    const t = await classOf({ maxBoardItems: 2, maxBoardBytes: 10 * one, maxBoardRoomBytes: 5 * one });
    await t.ok('teacher', 'wb.page.add', {});
    await t.ok('ann', 'wb.stroke', stroke('a1'));
    await t.ok('ann', 'wb.stroke', stroke('a2'));
    await t.refused('ann', 'wb.stroke', stroke('a3'), 'payload_too_large', /page holds 2 items/);
    // Page 1 has its own item budget...
    await t.ok('ann', 'wb.stroke', stroke('b1', 1));
    await t.ok('bob', 'wb.stroke', stroke('b2', 1));
    await t.ok('teacher', 'wb.page.add', {});
    await t.ok('bob', 'wb.stroke', stroke('c1', 2));
    // ...but all pages together stay under the room's bytes.
    await t.refused('bob', 'wb.stroke', stroke('c2', 2), 'payload_too_large', /pages hold .* together/);
    await t.ok('teacher', 'wb.clear', { page: 1 });
    await t.ok('bob', 'wb.stroke', stroke('c2', 2));
    const sizes = await t.sizes();
    const whiteboard = (await t.snapshot()).whiteboard!;
    const bytes = (page: number) => whiteboard.filter((e) => (e.page ?? 0) === page).reduce((sum, e) => sum + JSON.stringify({ ...e.item, type: undefined, ...(page === 0 ? {} : { page }) }).length, 0);
    expect(Number(sizes.total)).toBe(bytes(0) + bytes(2));
    expect(sizes['bytes:1']).toBeUndefined();
  });

  it('keeps the first page for clients that never name one, and refuses a malformed page', async () => {
    const t = await classOf();
    await t.ok('ann', 'wb.stroke', stroke('plain'));
    await t.ok('ann', 'wb.erase', { id: 'plain' });
    await t.refused('ann', 'wb.stroke', { ...stroke('neg'), page: -1 }, 'bad_request');
    await t.refused('ann', 'wb.stroke', { ...stroke('frac'), page: 1.5 }, 'bad_request');
    await t.refused('ann', 'wb.stroke', { ...stroke('huge'), page: BOARD_LIMITS.maxPageId + 1 }, 'bad_request');
    await t.refused('ann', 'wb.erase', { id: 'plain', page: 3 }, 'not_found');
  });
});

describe('the text tool', () => {
  it('adds validated text items that follow the strokes\' rules', async () => {
    const t = await classOf();
    await t.ok('ann', 'wb.text', text('t1'));
    expect(t.messages('bob', 'wb.text').at(-1)!.data).toEqual(text('t1'));
    await t.refused('ann', 'wb.text', text('t1'), 'conflict');
    await t.refused('ann', 'wb.text', { ...text('t2'), text: 'x'.repeat(BOARD_LIMITS.maxText + 1) }, 'bad_request');
    await t.refused('ann', 'wb.text', { ...text('t2'), text: '   ' }, 'bad_request');
    await t.refused('ann', 'wb.text', { ...text('t2'), size: BOARD_LIMITS.maxTextSize + 1 }, 'bad_request');
    await t.refused('ann', 'wb.text', { ...text('t2'), color: 'red' }, 'bad_request');
    await t.refused('ann', 'wb.text', { ...text('t2'), x: 1.5 }, 'bad_request');
    await t.refused('obs', 'wb.text', text('t3'), 'forbidden');
    await t.refused('bob', 'wb.erase', { id: 't1' }, 'forbidden', /own drawings/);
    expect((await t.snapshot()).whiteboard).toEqual([{ seq: expect.any(Number), userId: 'ann', item: { type: 'text', ...text('t1') } }]);
    await t.ok('ann', 'wb.erase', { id: 't1' });
    await t.ok('teacher', 'class.settings', { whiteboardLocked: true });
    await t.refused('ann', 'wb.text', text('t4'), 'forbidden', /locked/);
  });
});

describe('undo and redo per author', () => {
  it("takes back the author's newest items and brings them back with their ids and places", async () => {
    const t = await classOf();
    await t.ok('ann', 'wb.stroke', stroke('a1'));
    await t.ok('bob', 'wb.stroke', stroke('b1'));
    await t.ok('ann', 'wb.text', text('a2'));
    await t.ok('ann', 'wb.undo', {});
    expect(t.messages('bob', 'wb.undo').at(-1)!.data).toEqual({ page: 0, id: 'a2' });
    await t.ok('ann', 'wb.undo', {});
    expect(ids((await t.snapshot()).whiteboard)).toEqual(['b1']);
    await t.refused('ann', 'wb.undo', {}, 'not_found', /nothing of yours to undo/);
    await t.ok('ann', 'wb.redo', {});
    const redone = t.messages('obs', 'wb.redo').at(-1)!.data as { page: number; entry: BoardEntry };
    expect(redone).toMatchObject({ page: 0, entry: { userId: 'ann', item: { type: 'stroke', id: 'a1' } } });
    // Back in its place: drawn before b1, it stays before b1.
    const drawnSeq = (t.messages('bob', 'wb.stroke')[0]!.seq as number);
    expect(redone.entry.seq).toBe(drawnSeq);
    expect(ids((await t.snapshot()).whiteboard)).toEqual(['a1', 'b1']);
    await t.ok('ann', 'wb.redo', {});
    expect(ids((await t.snapshot()).whiteboard)).toEqual(['a1', 'b1', 'a2']);
    await t.refused('ann', 'wb.redo', {}, 'not_found', /nothing of yours to redo/);
  });

  it("never touches someone else's items; a new item ends the author's redo; staff clear ends everyone's", async () => {
    const t = await classOf();
    await t.ok('teacher', 'wb.stroke', stroke('t1'));
    await t.refused('ann', 'wb.undo', {}, 'not_found');
    await t.refused('obs', 'wb.undo', {}, 'forbidden');
    await t.ok('ann', 'wb.stroke', stroke('a1'));
    await t.ok('ann', 'wb.stroke', stroke('a2'));
    await t.ok('ann', 'wb.undo', {});
    await t.ok('ann', 'wb.stroke', stroke('a3'));
    await t.refused('ann', 'wb.redo', {}, 'not_found');
    await t.ok('ann', 'wb.undo', {});
    await t.ok('bob', 'wb.stroke', stroke('b1'));
    // Bob's item does not end Ann's redo.
    await t.ok('ann', 'wb.redo', {});
    await t.ok('ann', 'wb.undo', {});
    await t.ok('teacher', 'wb.clear', {});
    await t.refused('ann', 'wb.redo', {}, 'not_found');
    await t.refused('ann', 'wb.undo', {}, 'not_found');
    expect((await t.snapshot()).whiteboard).toEqual([]);
    expect(Number((await t.sizes()).total ?? '0')).toBe(0);
    // A teacher's undo is per author too: their own item only.
    await t.ok('ann', 'wb.stroke', stroke('a4'));
    await t.refused('teacher', 'wb.undo', {}, 'not_found');
    // Undo skips what was erased meanwhile, and a locked board stops undo as it stops drawing.
    await t.ok('ann', 'wb.stroke', stroke('a5'));
    await t.ok('teacher', 'wb.erase', { id: 'a5' });
    await t.ok('teacher', 'class.settings', { whiteboardLocked: true });
    await t.refused('ann', 'wb.undo', {}, 'forbidden', /locked/);
    await t.ok('teacher', 'moderation.grant', { userId: 'ann', granted: true });
    await t.ok('ann', 'wb.undo', {});
    expect(t.messages('bob', 'wb.undo').at(-1)!.data).toEqual({ page: 0, id: 'a4' });
  });

  it('keeps undo and redo per page, bounded, with the bytes charged until they are gone', async () => {
    const t = await classOf();
    await t.ok('teacher', 'wb.page.add', {});
    await t.ok('ann', 'wb.stroke', stroke('zero'));
    const depth = BOARD_LIMITS.redoDepth;
    for (let i = 0; i <= depth; i++) await t.ok('ann', 'wb.stroke', stroke(`p${i}`, 1));
    for (let i = 0; i <= depth; i++) await t.ok('ann', 'wb.undo', { page: 1 });
    await t.refused('ann', 'wb.undo', { page: 1 }, 'not_found');
    // Page 0 was not touched; the undone items' bytes stay charged to page 1, the oldest one's is gone.
    expect(ids((await t.snapshot()).whiteboard)).toEqual(['zero']);
    const size = (id: string) => JSON.stringify(stroke(id, 1)).length;
    // The first item undone (the newest, p${depth}) is the one that fell off the stack.
    const kept = Array.from({ length: depth }, (_, i) => `p${i}`);
    expect(Number((await t.sizes())['bytes:1'])).toBe(kept.reduce((sum, id) => sum + size(id), 0));
    for (let i = 0; i < depth; i++) await t.ok('ann', 'wb.redo', { page: 1 });
    await t.refused('ann', 'wb.redo', { page: 1 }, 'not_found');
    expect(ids((await t.snapshot()).whiteboard, 1)).toEqual(kept);
    // Drawing again ends the redo stack and frees what it held.
    await t.ok('ann', 'wb.undo', { page: 1 });
    await t.ok('ann', 'wb.stroke', stroke('fresh', 1));
    const present = [...kept.slice(0, -1), 'fresh'];
    expect(Number((await t.sizes())['bytes:1'])).toBe(present.reduce((sum, id) => sum + size(id), 0));
    expect(Number((await t.sizes()).total)).toBe(present.reduce((sum, id) => sum + size(id), 0) + JSON.stringify(stroke('zero')).length);
  });

  it("costs the drawer's rate like drawing: a burst of undos and redos is refused with rate_limited", async () => {
    const t = await classOf({ boardRate: { bytesPerSecond: 1e6, bytesBurst: 1e6, itemsPerSecond: 0.001, itemsBurst: 4 } });
    await t.ok('ann', 'wb.stroke', stroke('a1'));
    await t.ok('ann', 'wb.stroke', stroke('a2'));
    await t.ok('ann', 'wb.undo', {});
    await t.ok('ann', 'wb.redo', {});
    await t.refused('ann', 'wb.undo', {}, 'rate_limited');
    // Nothing was read or changed for the refused one.
    expect(ids((await t.snapshot()).whiteboard)).toEqual(['a1', 'a2']);
  });

  it('two undos at once take back two items; a redo whose id was taken meanwhile is refused', async () => {
    const t = await classOf();
    for (const id of ['a1', 'a2', 'a3']) await t.ok('ann', 'wb.stroke', stroke(id));
    await t.enter('ann-tab', 'student', 'ann');
    const [first, second] = await Promise.all([t.publish('ann', 'wb.undo', {}), t.publish('ann-tab', 'wb.undo', {})]);
    expect([first.type, second.type]).toEqual(['ack', 'ack']);
    expect(ids((await t.snapshot()).whiteboard)).toEqual(['a1']);
    await t.ok('bob', 'wb.stroke', stroke('a2'));
    await t.refused('ann', 'wb.redo', {}, 'conflict', /another item "a2"/);
  });
});
