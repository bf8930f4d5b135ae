/**
 * Whiteboard geometry in normalised board coordinates: x and y in [0, 1] with at most 4 decimals
 * (docs/classroom.md), so boards of any pixel size agree. Widths are thousandths of the board's width.
 */
import { CLASSROOM_LIMITS, type BoardEntry, type BoardItem, type StrokeData } from '../state/types.js';

/** Width over height of the board everywhere, so a circle drawn on one screen is a circle on all. */
export const BOARD_ASPECT = 16 / 10;

export interface Point {
  x: number;
  y: number;
}

export function quantise(value: number): number {
  const clamped = Math.min(1, Math.max(0, value));
  return Math.round(clamped * 10_000) / 10_000;
}

/** A pointer position relative to the board's box, normalised. */
export function toBoardPoint(clientX: number, clientY: number, box: { left: number; top: number; width: number; height: number }): Point {
  return { x: quantise((clientX - box.left) / box.width), y: quantise((clientY - box.top) / box.height) };
}

/** Segment ids are `<stroke id>~<n>`: erasing "the last stroke" erases every segment of it. */
export function strokeGroupOf(itemId: string): string {
  const cut = itemId.lastIndexOf('~');
  return cut === -1 ? itemId : itemId.slice(0, cut);
}

/** Points closer than this to the previous one add nothing visible and are skipped. */
const MIN_STEP = 0.0015;
/** Numbers per segment: well inside the protocol's limit so a segment never approaches the frame limit. */
const MAX_SEGMENT_NUMBERS = Math.min(CLASSROOM_LIMITS.maxStrokePoints, 600);

/**
 * Collects the points of one pen stroke and hands them out as consecutive segments, so others see the
 * stroke grow while it is drawn. Each segment starts at the previous segment's last point, so the
 * pieces join without a gap.
 */
export class StrokeRecorder {
  private points: number[] = [];
  private readonly all: number[] = [];
  private last: Point | undefined;
  private segments = 0;
  /** Points added since the last segment was taken. */
  private fresh = 0;

  constructor(
    readonly id: string,
    readonly color: string,
    readonly width: number,
  ) {}

  add(point: Point): void {
    if (this.last !== undefined && Math.hypot(point.x - this.last.x, point.y - this.last.y) < MIN_STEP) return;
    this.points.push(point.x, point.y);
    this.all.push(point.x, point.y);
    this.last = point;
    this.fresh += 1;
  }

  /** True when enough points wait that a segment should go out now, whatever the timer says. */
  get full(): boolean {
    return this.points.length >= MAX_SEGMENT_NUMBERS;
  }

  get segmentCount(): number {
    return this.segments;
  }

  /** Every point of the stroke so far. */
  get allPoints(): readonly number[] {
    return this.all;
  }

  /** The part drawn since the last segment, for the drawer's own screen until it is sent. */
  get unsentPoints(): readonly number[] {
    return this.fresh === 0 ? [] : this.points;
  }

  /**
   * The points added since the last call, as a stroke item, or undefined when nothing new was drawn.
   * A single tap becomes a dot (one point, twice).
   */
  takeSegment(): StrokeData | undefined {
    if (this.fresh === 0 || this.last === undefined) return undefined;
    const points = this.points.length === 2 ? [...this.points, ...this.points] : this.points;
    const segment: StrokeData = { id: `${this.id}~${this.segments}`, color: this.color, width: this.width, points };
    this.segments += 1;
    this.fresh = 0;
    this.points = [this.last.x, this.last.y];
    return segment;
  }
}

/**
 * A finished stroke as few items as the point limit allows, to replace the segments it was sent in: the
 * board holds a bounded number of items, so a stroke should cost one, not one per 150 ms of drawing.
 * Consecutive pieces share their joining point. Ids are `<stroke id>~w<n>`, in the stroke's group.
 */
export function wholeStroke(id: string, color: string, width: number, points: readonly number[], maxNumbers: number = CLASSROOM_LIMITS.maxStrokePoints): StrokeData[] {
  const pieces: StrokeData[] = [];
  const step = Math.max(4, maxNumbers - (maxNumbers % 2)) - 2;
  for (let start = 0; start === 0 || start + 2 < points.length; start += step) {
    const slice = points.slice(start, start + step + 2);
    pieces.push({ id: `${id}~w${pieces.length}`, color, width, points: slice.length === 2 ? [...slice, ...slice] : slice });
  }
  return pieces;
}

/** Distance from p to the segment a–b, in board units with x scaled by the aspect ratio. */
function distanceToSegment(p: Point, a: Point, b: Point): number {
  const ax = a.x * BOARD_ASPECT;
  const bx = b.x * BOARD_ASPECT;
  const px = p.x * BOARD_ASPECT;
  const dx = bx - ax;
  const dy = b.y - a.y;
  const lengthSquared = dx * dx + dy * dy;
  const t = lengthSquared === 0 ? 0 : Math.max(0, Math.min(1, ((px - ax) * dx + (p.y - a.y) * dy) / lengthSquared));
  return Math.hypot(px - (ax + t * dx), p.y - (a.y + t * dy));
}

/** Roughly where a text item lies (board units): glyphs average ~0.55 em wide. */
export function textBox(item: Extract<BoardItem, { type: 'text' }>): { x1: number; y1: number; x2: number; y2: number } {
  const em = item.size / 1000;
  return { x1: item.x, y1: item.y, x2: item.x + item.text.length * em * 0.55, y2: item.y + em * BOARD_ASPECT * 1.2 };
}

function outlineOf(item: BoardItem): Point[] {
  if (item.type === 'text') {
    const { x1, y1, x2, y2 } = textBox(item);
    return [{ x: x1, y: y1 }, { x: x2, y: y1 }, { x: x2, y: y2 }, { x: x1, y: y2 }, { x: x1, y: y1 }];
  }
  if (item.type === 'stroke') {
    const points: Point[] = [];
    for (let i = 0; i + 1 < item.points.length; i += 2) points.push({ x: item.points[i]!, y: item.points[i + 1]! });
    return points;
  }
  const { x1, y1, x2, y2 } = item;
  if (item.kind === 'line') return [{ x: x1, y: y1 }, { x: x2, y: y2 }];
  if (item.kind === 'rect') return [{ x: x1, y: y1 }, { x: x2, y: y1 }, { x: x2, y: y2 }, { x: x1, y: y2 }, { x: x1, y: y1 }];
  const cx = (x1 + x2) / 2;
  const cy = (y1 + y2) / 2;
  const rx = Math.abs(x2 - x1) / 2;
  const ry = Math.abs(y2 - y1) / 2;
  const steps = 32;
  return Array.from({ length: steps + 1 }, (_, i) => {
    const angle = (i / steps) * Math.PI * 2;
    return { x: cx + rx * Math.cos(angle), y: cy + ry * Math.sin(angle) };
  });
}

/** The topmost item whose outline passes within `tolerance` (board heights) of p, among those allowed. */
export function hitTest(board: readonly BoardEntry[], p: Point, tolerance: number, allowed: (entry: BoardEntry) => boolean): BoardEntry | undefined {
  for (let i = board.length - 1; i >= 0; i -= 1) {
    const entry = board[i]!;
    if (!allowed(entry)) continue;
    if (entry.item.type === 'text') {
      // Text is hit anywhere inside its box.
      const box = textBox(entry.item);
      if (p.x >= box.x1 - tolerance && p.x <= box.x2 + tolerance && p.y >= box.y1 - tolerance && p.y <= box.y2 + tolerance) return entry;
      continue;
    }
    const outline = outlineOf(entry.item);
    const reach = tolerance + (entry.item.width / 1000) * BOARD_ASPECT * 0.5;
    for (let k = 0; k < outline.length; k += 1) {
      const a = outline[k]!;
      const b = outline[Math.min(k + 1, outline.length - 1)]!;
      if (distanceToSegment(p, a, b) <= reach) return entry;
    }
  }
  return undefined;
}
