export { RedisRoomLog, renewEpochs, type RedisRoomLogOptions } from './room-log.js';
export { RedisBroker, type RedisBrokerOptions, type RedisBrokerEvents } from './broker.js';
export { RedisRegistry, type RedisRegistryOptions } from './registry.js';
export { RedisPresence, type RedisPresenceOptions } from './presence.js';
export { redisKeys, type RedisKeys } from './keys.js';
export { RedisRecordingLease, type RedisRecordingLeaseOptions } from './recording-lease.js';
