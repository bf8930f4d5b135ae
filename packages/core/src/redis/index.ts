export {
  RedisRoomLog,
  roomChannel,
  parseRoomPublication,
  parseRoomPublicationBytes,
  MAX_REPLAY,
  type RedisRoomLogOptions,
  type RoomPublication,
  type RoomPublicationBytes,
} from './room-log.js';
export { RedisRegistry, type RedisRegistryOptions } from './registry.js';
export { RedisPresence, type RedisPresenceOptions } from './presence.js';
export { isUnavailable } from './scripts.js';
