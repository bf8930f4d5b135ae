/**
 * The classroom's wire types (docs/classroom.md). Local until the protocol package exports them; the
 * names and shapes follow the spec so the switch is a re-export.
 */
import type { Member, Role, Sender } from '@classwire/protocol/wire';

export type { Member, Role, Sender };

export const CLASSROOM_LIMITS = {
  maxChatText: 1000,
  chatTail: 100,
  privateTail: 100,
  maxBoardItems: 2000,
  maxStrokePoints: 2000,
  maxItemId: 64,
  cursorsPerSecond: 25,
} as const;

export type ClassStatus = 'waiting' | 'live' | 'ended';

export interface ClassSettings {
  chatLocked: boolean;
  whiteboardLocked: boolean;
}

export interface StrokeData {
  id: string;
  color: string;
  width: number;
  points: number[];
}
export type ShapeKind = 'line' | 'rect' | 'ellipse';
export interface ShapeData {
  id: string;
  kind: ShapeKind;
  color: string;
  width: number;
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

export interface ChatEntry {
  seq: number;
  ts: number;
  id?: string | undefined;
  from: Sender;
  text: string;
  edited: boolean;
}

export interface PrivateEntry {
  id: string;
  ts: number;
  from: Sender;
  to: string | null;
  text: string;
}

export type BoardItem = ({ type: 'stroke' } & StrokeData) | ({ type: 'shape' } & ShapeData);

export interface BoardEntry {
  seq: number;
  userId: string;
  item: BoardItem;
}

export interface RaisedHand {
  userId: string;
  name: string;
  raisedAt: number;
}

export interface ClassroomSnapshot {
  full: boolean;
  seq: number;
  status: ClassStatus;
  settings: ClassSettings;
  muted: string[];
  granted: string[];
  removed: string[];
  hands: RaisedHand[];
  chat?: ChatEntry[];
  whiteboard?: BoardEntry[];
  private: PrivateEntry[];
}
