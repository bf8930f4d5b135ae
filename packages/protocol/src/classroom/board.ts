/**
 * The board's pages, text items and per-author undo/redo (docs/classroom.md, "Board pages, text and
 * undo"). Types, limits and pure helpers shared by the server and the app; browser safe.
 */

export const BOARD_LIMITS = {
  /** Pages a board holds at most; `wb.page.add` beyond is refused (`payload_too_large`). */
  maxPages: 20,
  /** Largest page id: ids are handed out by the server as the greatest so far + 1. */
  maxPageId: 9_999,
  /** Longest text item, characters after trimming. */
  maxText: 500,
  /** Text size in thousandths of the board's width. */
  minTextSize: 10,
  maxTextSize: 120,
  /** Undone items each author may redo, per page; older ones are forgotten. */
  redoDepth: 20,
} as const;

/** The board's pages in their order, the page staff show, and whether students may look at others. */
export interface BoardPages {
  /** Page ids in slide order; 0 is the first page and always present. */
  pages: number[];
  /** The page the teacher shows: everyone follows it unless `free`. */
  shown: number;
  /** Students may browse the pages freely. */
  free: boolean;
}

export const INITIAL_BOARD_PAGES: BoardPages = { pages: [0], shown: 0, free: false };

/** The page an item or board event refers to: absent means the first page, 0. */
export function pageOf(data: { page?: number | undefined }): number {
  return data.page ?? 0;
}

export interface TextData {
  id: string;
  page?: number | undefined;
  /** Top-left corner, normalised to the board like every coordinate. */
  x: number;
  y: number;
  text: string;
  /** Font size in thousandths of the board's width. */
  size: number;
  color: string;
}

export interface PageData {
  page?: number | undefined;
}
export interface PageIdData {
  page: number;
}
export interface PageBrowseData {
  free: boolean;
}

/** Whether a value is a `BoardPages`: every `wb.page.*` message carries the pages it leaves as `pages`. */
export function isBoardPages(value: unknown): value is BoardPages {
  if (typeof value !== 'object' || value === null) return false;
  const pages = value as Record<string, unknown>;
  return Array.isArray(pages.pages) && pages.pages.every((p) => typeof p === 'number') && typeof pages.shown === 'number' && typeof pages.free === 'boolean';
}

/** The page a viewer looks at: the shown one when following, else the one they chose (if it still exists). */
export function viewedPage(pages: BoardPages, chosen: number | undefined, follows: boolean): number {
  if (follows || chosen === undefined || !pages.pages.includes(chosen)) return pages.shown;
  return chosen;
}
