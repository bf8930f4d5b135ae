/**
 * Vue 3 composables on the Classwire client.
 * @module @classwire/vue
 */
export { useClient, type UseClient } from './client.js';
export { useRoom, usePresence, type UseRoom } from './room.js';
export {
  useClassroom,
  describeError,
  type Classroom,
  type ClassroomCredentials,
  type ConnectionStatus,
  type JoinRequest,
  type Phase,
  type RemoteCursor,
  type UseClassroomOptions,
} from './classroom.js';
export { provideClassroom, useClassroomContext } from './context.js';
export { useBreakout, roomSession, type Breakout } from './breakout.js';
export { throttle, type Throttle } from './throttle.js';
