import '../../../test-support/dom.js';
import { ClasswireClient, type ClientOptions, type RoomMessage, type WebSocketConstructor } from '@classwire/client';
import { flushPromises, mount } from '@vue/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineComponent, h, ref, watch } from 'vue';
import WebSocket from 'ws';
import type { Gateway } from '../../gateway/src/index.js';
import { eventually, makeToken, startTestGateway } from '../../../test-support/harness.js';
import { useBreakout, useClassroom, useClient, usePresence, useRoom, type Breakout, type Classroom, type JoinRequest, type UseClient, type UseRoom } from '../src/index.js';

/** happy-dom's window has no usable WebSocket for a Node server: the tests use `ws`, as Node 20 apps do. */
const NodeWebSocket = WebSocket as unknown as WebSocketConstructor;

let gateway: Gateway;
let url: string;

beforeAll(async () => {
  // Expired tokens are noticed at each heartbeat: a short one lets the token-expiry test finish soon.
  gateway = await startTestGateway({ CLASSWIRE_CLASSROOM: '1', CLASSWIRE_RATE_PER_SECOND: '1000', CLASSWIRE_RATE_BURST: '1000', CLASSWIRE_PING_INTERVAL_MS: '100' });
  url = `${gateway.url.replace('http', 'ws')}/ws`;
});
afterAll(async () => {
  await gateway.drain();
});

async function clientOptions(sub: string, role = 'student'): Promise<ClientOptions> {
  return { url, token: await makeToken({ sub, name: sub, role, rooms: ['*'] }), WebSocket: NodeWebSocket, reconnect: { baseDelayMs: 20, maxDelayMs: 100 } };
}

describe('useClient, useRoom, usePresence', () => {
  it('connects, joins, follows presence and messages, switches rooms and cleans up on unmount', async () => {
    const roomId = ref<string | undefined>('v-1');
    const options = await clientOptions('ada', 'teacher');
    let bound!: { session: UseClient; room: UseRoom; received: RoomMessage<{ text: string }>[] };
    const Widget = defineComponent({
      setup() {
        const session = useClient(options);
        const room = useRoom(session.client, roomId);
        const members = usePresence(room.room);
        const received: RoomMessage<{ text: string }>[] = [];
        room.on('chat.message', (message) => received.push(message));
        bound = { session, room, received };
        return () => h('ul', members.value.map((member) => h('li', { key: member.userId }, member.name)));
      },
    });
    const wrapper = mount(Widget);
    await eventually(() => bound.session.state.value === 'open' && bound.room.state.value === 'joined');
    expect(bound.room.joined.value?.room).toBe('v-1');
    expect(wrapper.findAll('li').map((li) => li.text())).toEqual(['ada']);

    const bo = new ClasswireClient(await clientOptions('bo', 'teacher'));
    const boRoom = bo.join('v-1');
    await boRoom.ready;
    await eventually(() => wrapper.findAll('li').length === 2);
    expect(wrapper.findAll('li').map((li) => li.text()).sort()).toEqual(['ada', 'bo']);

    await boRoom.publish('chat.message', { text: 'hello' });
    await eventually(() => bound.received.length === 1);
    expect(bound.received[0]!.data.text).toBe('hello');
    expect(bound.received[0]!.from.userId).toBe('bo');
    // The component's own publishes go through the joined room (and come back to it, like everyone's).
    expect(await bound.room.publish('chat.message', { text: 'hi bo' })).toBe(2);
    await eventually(() => bound.received.length === 2);

    // A new room id leaves the old room (bo sees ada go) and joins the new one; handlers follow.
    roomId.value = 'v-2';
    await flushPromises();
    await eventually(() => bound.room.state.value === 'joined' && bound.room.room.value?.id === 'v-2');
    await eventually(() => boRoom.presence.length === 1);
    expect(wrapper.findAll('li').map((li) => li.text())).toEqual(['ada']);
    const boRoom2 = bo.join('v-2');
    await boRoom2.ready;
    await boRoom2.publish('chat.message', { text: 'over here' });
    await eventually(() => bound.received.length === 3);
    expect(bound.received.map((message) => [message.room, message.data.text])).toEqual([
      ['v-1', 'hello'],
      ['v-1', 'hi bo'],
      ['v-2', 'over here'],
    ]);

    wrapper.unmount();
    expect(bound.session.client.state).toBe('closed');
    bo.close();
  });

  it('reports a refused join as the room state and error, and leaves a client it was given open', async () => {
    const client = new ClasswireClient({ ...(await clientOptions('cy')), token: await makeToken({ sub: 'cy', rooms: ['allowed'] }) });
    let bound!: { session: UseClient; room: UseRoom };
    const wrapper = mount(
      defineComponent({
        setup() {
          const session = useClient(client);
          bound = { session, room: useRoom(client, 'not-allowed') };
          return () => h('div');
        },
      }),
    );
    await eventually(() => bound.room.state.value === 'failed');
    expect(bound.room.error.value?.code).toBe('forbidden');
    expect(bound.session.state.value).toBe('open');
    wrapper.unmount();
    expect(client.state).toBe('open');
    client.close();
  });
});

describe('useClassroom', () => {
  function mountClassroom(tokenCalls: [JoinRequest, string | undefined][], firstExpiresIn = '1h'): { classroom: Classroom; breakout: Breakout; unmount(): void } {
    let classroom!: Classroom;
    let breakout!: Breakout;
    const wrapper = mount(
      defineComponent({
        setup() {
          classroom = useClassroom({
            url,
            getToken: async (request, userId) => {
              tokenCalls.push([request, userId]);
              const sub = userId ?? `${request.name.toLowerCase()}-id`;
              const expiresIn = tokenCalls.length === 1 ? firstExpiresIn : '1h';
              return { userId: sub, token: await makeToken({ sub, name: request.name, role: request.role, rooms: [request.classroom], expiresIn }) };
            },
            client: { WebSocket: NodeWebSocket, reconnect: { baseDelayMs: 20, maxDelayMs: 100 } },
          });
          breakout = useBreakout(classroom);
          return () => h('div');
        },
      }),
    );
    return { classroom, breakout, unmount: () => wrapper.unmount() };
  }

  it('follows breakout rooms on the class token: a student moves with their placement and back on close, staff visit and see who is where', async () => {
    const calls: [JoinRequest, string | undefined][] = [];
    const teacher = mountClassroom(calls);
    const student = mountClassroom(calls);
    await teacher.classroom.join({ name: 'Rivera', role: 'teacher', classroom: 'vue-br' });
    await student.classroom.join({ name: 'Ada', role: 'student', classroom: 'vue-br' });
    expect(await teacher.breakout.open(2, 'manual')).toBe(true);
    expect(await teacher.breakout.assign([{ userId: 'ada-id', group: 1 }])).toBe(true);
    await eventually(() => student.breakout.current.value === 1 && student.breakout.group.value !== undefined);
    const inGroup = student.breakout.group.value!;
    await eventually(() => inGroup.roster.value.length === 1);
    expect(await inGroup.sendChat('group one')).toBe(true);
    // Staff visit: the group's chat is there; the overview knows who is in which room.
    teacher.breakout.visit(1);
    await eventually(() => teacher.breakout.group.value?.state.value.chat.length === 1);
    expect(teacher.breakout.group.value!.state.value.chat[0]).toMatchObject({ text: 'group one' });
    expect(await teacher.breakout.refreshOverview()).toBe(true);
    await eventually(() => teacher.breakout.summaries.value[0]?.present.length === 2);
    expect(teacher.breakout.summaries.value.map((g) => [g.group, g.placed, g.present])).toEqual([
      [1, ['ada-id'], ['ada-id', 'rivera-id']],
      [2, [], []],
    ]);
    // Moved: the student leaves group 1 (the visiting teacher sees her go) and is in group 2.
    expect(await teacher.breakout.assign([{ userId: 'ada-id', group: 2 }])).toBe(true);
    await eventually(() => student.breakout.current.value === 2 && teacher.breakout.group.value?.roster.value.length === 1);
    await eventually(() => student.breakout.group.value?.roster.value.length === 1);
    expect(student.breakout.group.value!.state.value.chat).toEqual([]);
    // Shown to the class: the student reads group 1's board without taking part there.
    expect(await teacher.breakout.group.value!.drawStroke({ id: 's1', color: '#112233', width: 3, points: [0.1, 0.1, 0.2, 0.2] })).toBe(true);
    expect(await teacher.breakout.show(1)).toBe(true);
    await eventually(() => student.breakout.shownBoard.value?.length === 1);
    expect(await teacher.breakout.close()).toBe(true);
    await eventually(() => student.breakout.group.value === undefined && student.breakout.shownBoard.value === undefined && teacher.breakout.group.value === undefined);
    expect(student.classroom.phase.value).toBe('in-class');
    // No token beyond the two sign-ins: the groups ride on the class token.
    expect(calls.map(([, userId]) => userId)).toEqual([undefined, undefined]);
    teacher.unmount();
    student.unmount();
  });

  it('joins with the tokens the app issues, builds the classroom state and roster, and follows moderation', async () => {
    const calls: [JoinRequest, string | undefined][] = [];
    const teacher = mountClassroom(calls);
    const student = mountClassroom(calls);
    await teacher.classroom.join({ name: 'Rivera', role: 'teacher', classroom: 'vue-class' });
    expect(teacher.classroom.phase.value).toBe('in-class');
    expect(calls).toEqual([[{ name: 'Rivera', role: 'teacher', classroom: 'vue-class' }, undefined]]);
    expect(teacher.classroom.me.value).toEqual({ userId: 'rivera-id', name: 'Rivera', role: 'teacher' });
    expect(teacher.classroom.permissions.value.runClass).toBe(true);

    expect(await teacher.classroom.startClass()).toBe(true);
    await student.classroom.join({ name: 'Ada', role: 'student', classroom: 'vue-class' });
    expect(student.classroom.state.value.status).toBe('live');
    expect(student.classroom.permissions.value.runClass).toBe(false);
    await eventually(() => teacher.classroom.roster.value.length === 2);

    expect(await student.classroom.sendChat('  page 12?  ')).toBe(true);
    await eventually(() => teacher.classroom.state.value.chat.length === 1);
    expect(teacher.classroom.state.value.chat[0]).toMatchObject({ text: 'page 12?', from: { userId: 'ada-id' } });

    // A refusal becomes the notice, in words for people.
    expect(await student.classroom.endClass()).toBe(false);
    expect(student.classroom.notice.value).toBe('That is not allowed right now.');

    expect(await teacher.classroom.remove('ada-id')).toBe(true);
    await eventually(() => student.classroom.phase.value === 'removed');
    await eventually(() => teacher.classroom.roster.value.length === 1);
    teacher.unmount();
    student.unmount();
  });

  it('draws on the page in view: students follow the shown page, or browse when allowed; undo and redo are the server\'s', async () => {
    const calls: [JoinRequest, string | undefined][] = [];
    const teacher = mountClassroom(calls);
    const student = mountClassroom(calls);
    await teacher.classroom.join({ name: 'Rivera', role: 'teacher', classroom: 'vue-board' });
    await student.classroom.join({ name: 'Ada', role: 'student', classroom: 'vue-board' });
    expect(await teacher.classroom.addPage()).toBe(true);
    await eventually(() => student.classroom.page.value === 1);
    // Following: a student cannot pick a page until the teacher allows browsing.
    expect(await student.classroom.viewPage(0)).toBe(false);
    expect(student.classroom.page.value).toBe(1);
    expect(await student.classroom.drawText({ id: 't1', x: 0.1, y: 0.1, text: 'on page 2', size: 30, color: '#000000' })).toBe(true);
    expect(await teacher.classroom.setFreeBrowsing(true)).toBe(true);
    await eventually(() => student.classroom.state.value.pages.free);
    await student.classroom.viewPage(0);
    expect(student.classroom.page.value).toBe(0);
    expect(await student.classroom.drawStroke({ id: 's1', color: '#000000', width: 2, points: [0, 0, 1, 1] })).toBe(true);
    await eventually(() => teacher.classroom.state.value.board.length === 2);
    expect(teacher.classroom.state.value.board.map((e) => [e.page ?? 0, e.item.id])).toEqual([
      [1, 't1'],
      [0, 's1'],
    ]);
    // The teacher's undo is per author: nothing of theirs on the page.
    expect(await teacher.classroom.undo()).toBe(false);
    expect(await student.classroom.undo()).toBe(true);
    await eventually(() => teacher.classroom.state.value.board.length === 1);
    expect(await student.classroom.redo()).toBe(true);
    await eventually(() => teacher.classroom.state.value.board.length === 2);
    // Following again: back on the shown page, and browsing later starts there.
    expect(await teacher.classroom.setFreeBrowsing(false)).toBe(true);
    await eventually(() => student.classroom.page.value === 1);
    // The teacher shows page 0; page 1 is removed with its text.
    expect(await teacher.classroom.viewPage(0)).toBe(true);
    expect(await teacher.classroom.removePage(1)).toBe(true);
    await eventually(() => student.classroom.state.value.board.length === 1 && student.classroom.state.value.pages.pages.length === 1);
    teacher.unmount();
    student.unmount();
  });

  it('asks the app for a fresh token for the same user before the first one expires, and stays in class without a reconnect', async () => {
    const calls: [JoinRequest, string | undefined][] = [];
    const request: JoinRequest = { name: 'Bo', role: 'student', classroom: 'vue-expiry' };
    // The SDK refreshes the 5-second token in-band (a `refresh` frame) before its exp: no 4004, no reconnect.
    // (Halfway through what is left of it: a 2 s token left ~0.5 s for the refresh's round trip, which a
    // loaded CI machine missed once.)
    const { classroom, unmount } = mountClassroom(calls, '5s');
    const statuses: string[] = [];
    watch(classroom.connection, (status) => statuses.push(status), { flush: 'sync' });
    await classroom.join(request);
    expect(classroom.phase.value).toBe('in-class');
    await eventually(() => calls.length === 2, 15_000);
    expect(calls).toEqual([
      [request, undefined],
      [request, 'bo-id'],
    ]);
    // Past the first token's exp (5 s, whole seconds) the class goes on on the same connection.
    const firstExpiry = Date.now() + 5_500;
    await eventually(() => Date.now() > firstExpiry, 15_000);
    expect(await classroom.sendChat('still here')).toBe(true);
    expect(classroom.phase.value).toBe('in-class');
    expect(statuses).not.toContain('reconnecting');
    unmount();
  });

  it('shows why a sign-in failed and stays idle', async () => {
    let bound!: Classroom;
    const wrapper = mount(
      defineComponent({
        setup() {
          bound = useClassroom({
            url,
            getToken: () => Promise.reject(new Error('no such class')),
            client: { WebSocket: NodeWebSocket },
          });
          return () => h('div');
        },
      }),
    );
    await bound.join({ name: 'Ada', role: 'student', classroom: 'x' });
    expect(bound.phase.value).toBe('idle');
    expect(bound.error.value).toBe('Could not sign in: no such class');
    wrapper.unmount();
  });
});
