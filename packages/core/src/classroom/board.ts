import {
  BOARD_LIMITS,
  INITIAL_BOARD_PAGES,
  ProtocolError,
  pageOf,
  utf8Length,
  type Actor,
  type BoardEntry,
  type BoardItem,
  type BoardPages,
  type MessageFrame,
} from '@classwire/protocol';
import { STATE_FRAME, STATE_SEQ, stateField, stateSeqField, type StateGuard, type StateOp, type StateQuery, type StateRead } from '../ports.js';
import { authorize } from './authorize.js';
import type { EventInput, HandlerServices, Plan, SomeEventHandlers } from './handlers.js';
import { BOARD_BYTES_FIELD, COLLECTIONS } from './room-state.js';

/**
 * The whiteboard (docs/classroom.md, "Board pages, text and undo"): pages, items (strokes, shapes, text)
 * and each author's undo and redo, per page. Page 0 keeps the collections the board always had, so a
 * client that never names a page draws on it. Per page:
 *
 * - `board[:p]`: item id → the stored frame of the message that drew it (its seq orders the page);
 * - `boardIndex[:p]`: item seq (padded) → `[author, id]`, one per item present: what `wb.undo` looks
 *   through without reading the items, and what counts them;
 * - `boardRedo[:p]`: author → the frames they undid, newest last, at most `BOARD_LIMITS.redoDepth`;
 * - `boardSize` fields `bytes[:p]` (items and redo stacks of the page) and `total` (every page).
 *
 * Undone items stay charged to their page until their author draws again there (which empties their
 * redo stack) or they fall off the stack, so items plus what may come back never exceed the budgets.
 */

const PAGES_FIELD = 'p';
const TOTAL_FIELD = 'total';

function pageCollection(base: string, page: number): string {
  return page === 0 ? base : `${base}:${page}`;
}
const itemsOf = (page: number): string => pageCollection(COLLECTIONS.board, page);
const indexOf = (page: number): string => pageCollection('boardIndex', page);
const redoOf = (page: number): string => pageCollection('boardRedo', page);
const bytesOf = (page: number): string => (page === 0 ? BOARD_BYTES_FIELD : `${BOARD_BYTES_FIELD}:${page}`);

/** What an item costs the board's byte budget: its data as the snapshot serializes it. */
function itemBytes(data: unknown): number {
  return utf8Length(JSON.stringify(data));
}

/** One undone item its author may bring back: the stored frame and what it was charged. */
interface RedoEntry {
  frame: string;
  bytes: number;
}

function readPages(state: StateRead): { stored: string | null; pages: BoardPages } {
  const stored = stateField(state.collections[COLLECTIONS.boardPages], PAGES_FIELD) ?? null;
  return { stored, pages: stored === null ? INITIAL_BOARD_PAGES : (JSON.parse(stored) as BoardPages) };
}

function pagesGuard(stored: string | null): StateGuard {
  return { collection: COLLECTIONS.boardPages, field: PAGES_FIELD, value: stored };
}

function requirePage(pages: BoardPages, page: number): void {
  if (!pages.pages.includes(page)) throw new ProtocolError('not_found', `the board has no page ${page}`);
}

function sizeField(state: StateRead, field: string): number {
  return Number(stateField(state.collections[COLLECTIONS.boardSize], field) ?? '0');
}

function redoStack(state: StateRead, page: number, userId: string): { stored: string | null; entries: RedoEntry[] } {
  const stored = stateField(state.collections[redoOf(page)], userId) ?? null;
  return { stored, entries: stored === null ? [] : (JSON.parse(stored) as RedoEntry[]) };
}

/** Moves both byte counters of `page` by `by`. */
function charge(page: number, by: number): StateOp[] {
  if (by === 0) return [];
  return [
    { op: 'add', collection: COLLECTIONS.boardSize, field: bytesOf(page), by },
    { op: 'add', collection: COLLECTIONS.boardSize, field: TOTAL_FIELD, by },
  ];
}

function indexValue(userId: string, id: string): string {
  return JSON.stringify([userId, id]);
}

/** What reading the pages takes (and all a page change needs besides the control state). */
export const boardPagesQuery = (): StateQuery => ({ [COLLECTIONS.boardPages]: [PAGES_FIELD] });

/** What adding an item to a page reads: the pages, whether the id is free, the page's counts, the author's redo stack. */
function drawingReads(data: { id: string; page?: number | undefined }, actor: Actor): StateQuery {
  const page = pageOf(data);
  return {
    ...boardPagesQuery(),
    [itemsOf(page)]: [data.id],
    [indexOf(page)]: 'count',
    [COLLECTIONS.boardSize]: [bytesOf(page), TOTAL_FIELD],
    [redoOf(page)]: [actor.userId],
  };
}

/** Checks a page's item and byte budgets (and the room's) for `bytes` more. */
function checkBudget(state: StateRead, page: number, bytes: number, services: HandlerServices): void {
  if ((state.counts[indexOf(page)] ?? 0) >= services.maxBoardItems) {
    throw new ProtocolError('payload_too_large', `the whiteboard page holds ${services.maxBoardItems} items; erase some or clear it`);
  }
  // Decided on a read: drawers racing each other may overshoot by the items in flight, never more.
  if (sizeField(state, bytesOf(page)) + bytes > services.maxBoardBytes) {
    throw new ProtocolError('payload_too_large', `the whiteboard page holds ${services.maxBoardBytes} bytes of drawings; erase some or clear it`);
  }
  if (sizeField(state, TOTAL_FIELD) + bytes > services.maxBoardRoomBytes) {
    throw new ProtocolError('payload_too_large', `the whiteboard's pages hold ${services.maxBoardRoomBytes} bytes of drawings together; erase some or clear a page`);
  }
}

function drawing({ actor, data, state, services }: EventInput<'wb.stroke' | 'wb.shape' | 'wb.text'>): Plan {
  const page = pageOf(data);
  const { stored, pages } = readPages(state);
  requirePage(pages, page);
  if (stateField(state.collections[itemsOf(page)], data.id) !== undefined) {
    throw new ProtocolError('conflict', `the whiteboard page already has an item "${data.id}"`);
  }
  const bytes = itemBytes(data);
  // A new item by its author ends what they could redo on this page, and frees what that held.
  const redo = redoStack(state, page, actor.userId);
  const freed = redo.entries.reduce((sum, entry) => sum + entry.bytes, 0);
  checkBudget(state, page, bytes - freed, services);
  return {
    guards: [pagesGuard(stored), { collection: itemsOf(page), field: data.id, value: null }, { collection: redoOf(page), field: actor.userId, value: redo.stored }],
    ops: [
      { op: 'set', collection: itemsOf(page), field: data.id, value: STATE_FRAME },
      { op: 'set', collection: indexOf(page), field: STATE_SEQ, value: indexValue(actor.userId, data.id) },
      ...(redo.stored === null ? [] : [{ op: 'delete', collection: redoOf(page), field: actor.userId } as const]),
      ...charge(page, bytes - freed),
    ],
    // A page change, the same id drawn meanwhile or the author's own undo in between: decided again.
    retryOnStale: true,
  };
}

/** A stored item frame as a board entry (the snapshot's and a redo message's form). */
export function boardEntryOf(stored: string): BoardEntry {
  const frame = JSON.parse(stored) as MessageFrame;
  const type = frame.event === 'wb.stroke' ? 'stroke' : frame.event === 'wb.text' ? 'text' : 'shape';
  const { page, ...fields } = frame.data as { page?: number };
  return { seq: frame.seq!, userId: frame.from.userId, ...(page === undefined || page === 0 ? {} : { page }), item: { type, ...fields } as BoardItem };
}

/** The author's newest item present on the page, from the index: its index field and id. */
function newestOwn(state: StateRead, page: number, userId: string): { field: string; id: string } | undefined {
  const index = state.collections[indexOf(page)];
  if (index === undefined) return undefined;
  const fields = Object.keys(index).sort();
  for (let i = fields.length - 1; i >= 0; i--) {
    const [author, id] = JSON.parse(index[fields[i]!]!) as [string, string];
    if (author === userId) return { field: fields[i]!, id };
  }
  return undefined;
}

/** A page change: stores the pages left and sends them with the message, guarded on the pages read. */
function pagesChange(stored: string | null, next: BoardPages, message: object, ops: StateOp[] = [], guards: StateGuard[] = []): Plan {
  return {
    guards: [pagesGuard(stored), ...guards],
    ops: [{ op: 'set', collection: COLLECTIONS.boardPages, field: PAGES_FIELD, value: JSON.stringify(next) }, ...ops],
    message: { ...message, pages: next },
    retryOnStale: true,
  };
}

type BoardEvent = 'wb.stroke' | 'wb.shape' | 'wb.text' | 'wb.erase' | 'wb.clear' | 'wb.undo' | 'wb.redo' | 'wb.page.add' | 'wb.page.remove' | 'wb.page.show' | 'wb.page.browse';

export const BOARD_HANDLERS: SomeEventHandlers<BoardEvent> = {
  'wb.stroke': {
    reads: drawingReads,
    plan: (input) => {
      authorize('wb.stroke', input.actor, input.control);
      return drawing(input);
    },
  },
  'wb.shape': {
    reads: drawingReads,
    plan: (input) => {
      authorize('wb.shape', input.actor, input.control);
      return drawing(input);
    },
  },
  'wb.text': {
    reads: drawingReads,
    plan: (input) => {
      authorize('wb.text', input.actor, input.control);
      return drawing(input);
    },
  },
  'wb.erase': {
    reads: (data) => ({ [itemsOf(pageOf(data))]: [data.id] }),
    plan: ({ actor, control, data, state }) => {
      const page = pageOf(data);
      const stored = stateField(state.collections[itemsOf(page)], data.id);
      if (stored === undefined) throw new ProtocolError('not_found', `no whiteboard item "${data.id}"`);
      const frame = JSON.parse(stored) as MessageFrame;
      authorize('wb.erase', actor, control, { authorId: frame.from.userId });
      return {
        // Guarded on the item read, so a concurrent erase of it cannot subtract its size twice.
        guards: [{ collection: itemsOf(page), field: data.id, value: stored }],
        ops: [
          { op: 'delete', collection: itemsOf(page), field: data.id },
          { op: 'delete', collection: indexOf(page), field: stateSeqField(frame.seq!) },
          ...charge(page, -itemBytes(frame.data)),
        ],
        retryOnStale: true,
      };
    },
  },
  'wb.clear': {
    reads: (data) => ({ ...boardPagesQuery(), [COLLECTIONS.boardSize]: [bytesOf(pageOf(data))] }),
    plan: ({ actor, control, data, state }) => {
      authorize('wb.clear', actor, control);
      const page = pageOf(data);
      requirePage(readPages(state).pages, page);
      const stored = stateField(state.collections[COLLECTIONS.boardSize], bytesOf(page)) ?? null;
      return {
        // Guarded on the page's size read, so the room total loses exactly what the page held.
        guards: [{ collection: COLLECTIONS.boardSize, field: bytesOf(page), value: stored }],
        ops: clearPage(page, Number(stored ?? '0')),
        message: { page },
        retryOnStale: true,
      };
    },
  },
  'wb.undo': {
    reads: (data, actor) => ({ ...boardPagesQuery(), [indexOf(pageOf(data))]: 'all', [redoOf(pageOf(data))]: [actor.userId] }),
    plan: async ({ actor, control, data, state, room, services }) => {
      authorize('wb.undo', actor, control);
      const page = pageOf(data);
      requirePage(readPages(state).pages, page);
      const newest = newestOwn(state, page, actor.userId);
      if (newest === undefined) throw new ProtocolError('not_found', 'nothing of yours to undo on this page');
      const item = stateField((await services.readState(room, { [itemsOf(page)]: [newest.id] })).collections[itemsOf(page)], newest.id);
      if (item === undefined) throw new ProtocolError('conflict', 'the whiteboard changed meanwhile; try again');
      const entry = boardEntryOf(item);
      authorize('wb.undo', actor, control, { authorId: entry.userId });
      const redo = redoStack(state, page, actor.userId);
      const entries = [...redo.entries, { frame: item, bytes: itemBytes(JSON.parse(item).data) }];
      // The oldest undone items fall off the stack, and their bytes off the page.
      const dropped = entries.splice(0, Math.max(0, entries.length - BOARD_LIMITS.redoDepth));
      return {
        guards: [
          { collection: itemsOf(page), field: newest.id, value: item },
          { collection: redoOf(page), field: actor.userId, value: redo.stored },
        ],
        ops: [
          { op: 'delete', collection: itemsOf(page), field: newest.id },
          { op: 'delete', collection: indexOf(page), field: newest.field },
          { op: 'set', collection: redoOf(page), field: actor.userId, value: JSON.stringify(entries) },
          ...charge(page, -dropped.reduce((sum, d) => sum + d.bytes, 0)),
        ],
        message: { page, id: newest.id },
        retryOnStale: true,
      };
    },
  },
  'wb.redo': {
    reads: (data, actor) => ({ ...boardPagesQuery(), [indexOf(pageOf(data))]: 'count', [redoOf(pageOf(data))]: [actor.userId] }),
    plan: async ({ actor, control, data, state, room, services }) => {
      authorize('wb.redo', actor, control);
      const page = pageOf(data);
      const { stored: pagesStored, pages } = readPages(state);
      requirePage(pages, page);
      const redo = redoStack(state, page, actor.userId);
      const last = redo.entries.at(-1);
      if (last === undefined) throw new ProtocolError('not_found', 'nothing of yours to redo on this page');
      const entry = boardEntryOf(last.frame);
      authorize('wb.redo', actor, control, { authorId: entry.userId });
      if ((state.counts[indexOf(page)] ?? 0) >= services.maxBoardItems) {
        throw new ProtocolError('payload_too_large', `the whiteboard page holds ${services.maxBoardItems} items; erase some or clear it`);
      }
      // The id must still be free: ids stay unique on a page (its bytes are still charged to it).
      const taken = stateField((await services.readState(room, { [itemsOf(page)]: [entry.item.id] })).collections[itemsOf(page)], entry.item.id);
      if (taken !== undefined) throw new ProtocolError('conflict', `the whiteboard page has another item "${entry.item.id}" now`);
      const rest = redo.entries.slice(0, -1);
      return {
        guards: [
          pagesGuard(pagesStored),
          { collection: itemsOf(page), field: entry.item.id, value: null },
          { collection: redoOf(page), field: actor.userId, value: redo.stored },
        ],
        ops: [
          // Restored as it was stored: same id, same seq, so the same place among the others.
          { op: 'set', collection: itemsOf(page), field: entry.item.id, value: last.frame },
          { op: 'set', collection: indexOf(page), field: stateSeqField(entry.seq), value: indexValue(actor.userId, entry.item.id) },
          rest.length === 0
            ? { op: 'delete', collection: redoOf(page), field: actor.userId }
            : { op: 'set', collection: redoOf(page), field: actor.userId, value: JSON.stringify(rest) },
        ],
        message: { page, entry },
        retryOnStale: true,
      };
    },
  },
  'wb.page.add': {
    reads: boardPagesQuery,
    plan: ({ actor, control, state }) => {
      authorize('wb.page.add', actor, control);
      const { stored, pages } = readPages(state);
      if (pages.pages.length >= BOARD_LIMITS.maxPages) throw new ProtocolError('payload_too_large', `the board holds at most ${BOARD_LIMITS.maxPages} pages`);
      const page = Math.max(...pages.pages) + 1;
      if (page > BOARD_LIMITS.maxPageId) throw new ProtocolError('payload_too_large', 'the board has used up its page numbers; remove the last page first');
      // The new page comes right after the shown one, and is shown.
      const list = [...pages.pages];
      list.splice(list.indexOf(pages.shown) + 1, 0, page);
      return pagesChange(stored, { ...pages, pages: list, shown: page }, { page });
    },
  },
  'wb.page.remove': {
    reads: (data) => ({ ...boardPagesQuery(), [COLLECTIONS.boardSize]: [bytesOf(data.page)] }),
    plan: ({ actor, control, data, state }) => {
      authorize('wb.page.remove', actor, control);
      if (data.page === 0) throw new ProtocolError('bad_request', 'page 0 is the first page and stays; clear it instead');
      const { stored, pages } = readPages(state);
      requirePage(pages, data.page);
      const at = pages.pages.indexOf(data.page);
      const list = pages.pages.filter((p) => p !== data.page);
      const shown = pages.shown === data.page ? list[Math.max(0, at - 1)]! : pages.shown;
      const size = stateField(state.collections[COLLECTIONS.boardSize], bytesOf(data.page)) ?? null;
      return pagesChange(stored, { ...pages, pages: list, shown }, { page: data.page }, clearPage(data.page, Number(size ?? '0')), [
        { collection: COLLECTIONS.boardSize, field: bytesOf(data.page), value: size },
      ]);
    },
  },
  'wb.page.show': {
    reads: boardPagesQuery,
    plan: ({ actor, control, data, state }) => {
      authorize('wb.page.show', actor, control);
      const { stored, pages } = readPages(state);
      requirePage(pages, data.page);
      return pagesChange(stored, { ...pages, shown: data.page }, data);
    },
  },
  'wb.page.browse': {
    reads: boardPagesQuery,
    plan: ({ actor, control, data, state }) => {
      authorize('wb.page.browse', actor, control);
      const { stored, pages } = readPages(state);
      return pagesChange(stored, { ...pages, free: data.free }, data);
    },
  },
};

/** Empties a page: its items, index and redo stacks, and what they were charged. */
function clearPage(page: number, bytes: number): StateOp[] {
  return [
    { op: 'clear', collection: itemsOf(page) },
    { op: 'clear', collection: indexOf(page) },
    { op: 'clear', collection: redoOf(page) },
    { op: 'delete', collection: COLLECTIONS.boardSize, field: bytesOf(page) },
    ...(bytes === 0 ? [] : [{ op: 'add', collection: COLLECTIONS.boardSize, field: TOTAL_FIELD, by: -bytes } as const]),
  ];
}

/** The pages part of a snapshot. */
export function boardPagesOf(state: StateRead): BoardPages {
  return readPages(state).pages;
}

/** What a full snapshot reads of the board: the pages and every listed page's items. */
export function boardQuery(pages: BoardPages): StateQuery {
  const query: StateQuery = boardPagesQuery();
  for (const page of pages.pages) query[itemsOf(page)] = 'all';
  return query;
}

/** Every page's items in seq order (the snapshot's `whiteboard`). */
export function boardEntries(state: StateRead, pages: BoardPages): BoardEntry[] {
  const entries: BoardEntry[] = [];
  for (const page of pages.pages) for (const stored of Object.values(state.collections[itemsOf(page)] ?? {})) entries.push(boardEntryOf(stored));
  return entries.sort((a, b) => a.seq - b.seq);
}

