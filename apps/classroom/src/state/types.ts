/** The classroom's wire types and limits, as the protocol defines them (docs/classroom.md). */
export {
  CLASSROOM_LIMITS,
  type BoardEntry,
  type BoardItem,
  type BoardPages,
  type TextData,
  type ChatEntry,
  type ClassSettings,
  type ClassroomSnapshot,
  type Member,
  type PrivateEntry,
  type RaisedHand,
  type Role,
  type Sender,
  type ShapeData,
  type ShapeKind,
  type StrokeData,
} from '@classwire/protocol/wire';
