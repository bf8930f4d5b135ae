import { inject, provide, type InjectionKey } from 'vue';
import type { Classroom } from './classroom.js';

const KEY: InjectionKey<Classroom> = Symbol('classroom');

export function provideClassroom(classroom: Classroom): void {
  provide(KEY, classroom);
}

/** The session provided by the app root; components destructure its refs at the top of their setup. */
export function useClassroomContext(): Classroom {
  const classroom = inject(KEY);
  if (classroom === undefined) throw new Error('useClassroomContext() without a provideClassroom() above');
  return classroom;
}
