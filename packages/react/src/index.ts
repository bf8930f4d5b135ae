/**
 * React hooks on the Classwire client.
 * @module @classwire/react
 */
export { useClient, type UseClient } from './client.js';
export { useRoom, useRoomEvent, usePresence, type UseRoom } from './room.js';
export { useClassroom, type UseClassroom } from './classroom.js';
