// A typed program that uses the packed packages as a new user would, outside the workspace: the
// published-packages test installs the tarballs beside it, type-checks it with tsc, and runs it against a
// gateway. It prints one JSON line with what it saw.
import { CLOSE_CODES, ClasswireError, type RoomMessage } from '@classwire/client';
import { connect } from '@classwire/client/node';
import { applyEvent, initialState, permissionsOf, type ClassroomState } from '@classwire/protocol/classroom';
import { useClassroom as useReactClassroom } from '@classwire/react';
import { useClient, usePresence, useRoom } from '@classwire/vue';
import { createElement } from 'react';
import ReactDOMServer from 'react-dom/server';
import { effectScope } from 'vue';

const url = process.env.CLASSWIRE_URL!;
const teacher = connect({ url, token: process.env.TEACHER_TOKEN! });
const teacherRoom = teacher.join('packed');
await teacherRoom.ready;
await teacherRoom.publish('class.start', {});

// Vue's composables run in any effect scope: no DOM needed to use them from Node.
const student = connect({ url, token: process.env.STUDENT_TOKEN! });
const scope = effectScope();
const vue = scope.run(() => {
  const session = useClient(student);
  const room = useRoom(session.client, 'packed');
  const members = usePresence(room.room);
  const chat = new Promise<RoomMessage<{ text: string }>>((resolve) => room.on<{ text: string }>('chat.message', resolve));
  return { session, room, members, chat };
})!;
await vue.room.room.value!.ready;
await teacherRoom.publish('chat.message', { text: 'from the packed SDK' });
const message = await vue.chat;
const state: ClassroomState = applyEvent(initialState(), message);
const refused = await vue.room.publish('class.end', {}).catch((error: unknown) => (error instanceof ClasswireError ? error.code : 'unexpected'));

// React's hooks render on the server too (effects do not run there): the initial classroom view.
function Widget() {
  const classroom = useReactClassroom(undefined, undefined, { userId: 'ada', role: 'student' });
  return createElement('p', null, `${classroom.state.status}, may chat: ${String(classroom.permissions.chat)}`);
}
const html = ReactDOMServer.renderToString(createElement(Widget));

const result = {
  text: state.chat[0]?.text,
  members: vue.members.value.map((member) => member.userId).sort(),
  studentMayEnd: permissionsOf(state, { userId: 'ada', role: 'student' }).runClass,
  refused,
  html,
  normalClose: CLOSE_CODES.normal,
};
scope.stop();
student.close();
teacher.close();
process.stdout.write(`${JSON.stringify(result)}\n`);
