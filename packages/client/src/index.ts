/**
 * The Classwire client for browsers (and Node 22+, whose WebSocket is global).
 * @module @classwire/client
 */
export { ClasswireClient, connect, type ClientOptions } from './client.js';
export { type CloseInfo, type ConnectionState, type NetworkStatus, type WebSocketConstructor, type WebSocketLike } from './connection.js';
export { type DirectMessage } from './dispatch.js';
export { Room, type AnyEventMessage, type HistoryPage, type EventMessage, type OpenEventMap, type ReceivedEventMap, type JoinInfo, type PresenceChange, type PublishOptions, type ResetInfo, type RoomMessage, type RoomSnapshot, type RoomState } from './room.js';
export { ClasswireError, type ClientErrorCode } from './errors.js';
export { type OperationOptions } from './deadline.js';
export { type PositionStorage } from './positions.js';
export { fullJitterDelay, type BackoffOptions } from './backoff.js';
export { shouldReconnect, CLOSE_CODES, ERROR_CODES, type ErrorCode, type Member, type Role, type Sender } from '@classwire/protocol/wire';
export {
  CLASSROOM_LIMITS,
  type BoardEntry,
  type BoardItem,
  type ChatEntry,
  type ChatMessageData,
  type ClassroomEvent,
  type ClassroomEventMap,
  type ClassroomServerEventMap,
  type ClassroomSnapshot,
  type ClassSettings,
  type ClassStatus,
  type CursorData,
  type PrivateEntry,
  type RaisedHand,
  type ShapeData,
  type StrokeData,
} from '@classwire/protocol/wire';
