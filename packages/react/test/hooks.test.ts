import '../../../test-support/dom.js';
import { ClasswireClient, type ClientOptions, type RoomMessage, type WebSocketConstructor } from '@classwire/client';
import { act, cleanup, render, waitFor } from '@testing-library/react';
import { createElement, StrictMode, useState } from 'react';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Gateway } from '../../gateway/src/index.js';
import { makeToken, startTestGateway } from '../../../test-support/harness.js';
import { useClassroom, useClient, usePresence, useRoom, useRoomEvent, type UseClassroom, type UseClient, type UseRoom } from '../src/index.js';

// Updates come from a real server at any time, not from test actions: React is told not to expect act().
(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = false;

/** The DOM here is happy-dom's, without a WebSocket for a Node server: the tests use `ws`, as Node 20 apps do. */
const NodeWebSocket = WebSocket as unknown as WebSocketConstructor;

let gateway: Gateway;
let url: string;

beforeAll(async () => {
  gateway = await startTestGateway({ CLASSWIRE_CLASSROOM: '1', CLASSWIRE_RATE_PER_SECOND: '1000', CLASSWIRE_RATE_BURST: '1000' });
  url = `${gateway.url.replace('http', 'ws')}/ws`;
});
afterAll(async () => {
  await gateway.drain();
});
afterEach(cleanup);

/** The little of the DOM these tests read (the root tsconfig has no DOM lib: it also checks Node code). */
interface Rendered {
  textContent: string | null;
  querySelectorAll(selector: string): ArrayLike<{ textContent: string | null }>;
}

function rendered(container: unknown): Rendered {
  return container as Rendered;
}

async function clientOptions(sub: string, role = 'teacher', rooms: string[] = ['*']): Promise<ClientOptions> {
  return { url, token: await makeToken({ sub, name: sub, role, rooms }), WebSocket: NodeWebSocket, reconnect: { baseDelayMs: 20, maxDelayMs: 100 } };
}

describe('useClient, useRoom, useRoomEvent, usePresence', () => {
  it('connects, joins, follows presence and messages, switches rooms and closes on unmount (in StrictMode)', async () => {
    const options = await clientOptions('ada');
    const received: RoomMessage<{ text: string }>[] = [];
    let bound!: { session: UseClient; room: UseRoom; setRoomId(id: string): void };
    function Widget() {
      const [roomId, setRoomId] = useState('r-1');
      const session = useClient(options);
      const room = useRoom(session.client, roomId);
      const members = usePresence(room.room);
      useRoomEvent<{ text: string }>(room.room, 'chat.message', (message) => received.push(message));
      bound = { session, room, setRoomId };
      return createElement(
        'ul',
        null,
        members.map((member) => createElement('li', { key: member.userId }, member.name)),
      );
    }
    const view = render(createElement(StrictMode, null, createElement(Widget)));
    const names = () => Array.from(rendered(view.container).querySelectorAll('li')).map((li) => li.textContent).sort();
    await waitFor(() => expect([bound.session.state, bound.room.state]).toEqual(['open', 'joined']));
    expect(bound.room.joined?.room).toBe('r-1');
    expect(names()).toEqual(['ada']);

    const bo = new ClasswireClient(await clientOptions('bo'));
    const boRoom = bo.join('r-1');
    await boRoom.ready;
    await waitFor(() => expect(names()).toEqual(['ada', 'bo']));

    await boRoom.publish('chat.message', { text: 'hello' });
    await waitFor(() => expect(received).toHaveLength(1));
    expect(received[0]!.from.userId).toBe('bo');
    expect(await bound.room.publish('chat.message', { text: 'hi bo' })).toBe(2);
    await waitFor(() => expect(received).toHaveLength(2));

    act(() => bound.setRoomId('r-2'));
    await waitFor(() => expect([bound.room.room?.id, bound.room.state]).toEqual(['r-2', 'joined']));
    await waitFor(() => expect(boRoom.presence.map((member) => member.userId)).toEqual(['bo']));
    expect(names()).toEqual(['ada']);
    const boRoom2 = bo.join('r-2');
    await boRoom2.ready;
    await boRoom2.publish('chat.message', { text: 'over here' });
    await waitFor(() => expect(received).toHaveLength(3));
    expect(received.map((message) => [message.room, message.data.text])).toEqual([
      ['r-1', 'hello'],
      ['r-1', 'hi bo'],
      ['r-2', 'over here'],
    ]);

    const client = bound.session.client!;
    view.unmount();
    expect(client.state).toBe('closed');
    bo.close();
  });

  it('reports a refused join, and leaves a client it was given open', async () => {
    const client = new ClasswireClient(await clientOptions('cy', 'student', ['allowed']));
    let bound!: { session: UseClient; room: UseRoom };
    function Widget() {
      const session = useClient(client);
      bound = { session, room: useRoom(session.client, 'not-allowed') };
      return null;
    }
    const view = render(createElement(Widget));
    await waitFor(() => expect(bound.room.state).toBe('failed'));
    expect(bound.room.error?.code).toBe('forbidden');
    await waitFor(() => expect(bound.session.state).toBe('open'));
    view.unmount();
    expect(client.state).toBe('open');
    client.close();
  });
});

describe('useClassroom', () => {
  it('builds the classroom state, roster and permissions from the snapshot and events', async () => {
    const teacher = new ClasswireClient({ ...(await clientOptions('rivera', 'teacher', ['react-class'])) });
    const teacherRoom = teacher.join('react-class');
    await teacherRoom.ready;
    await teacherRoom.publish('class.start', {});
    await teacherRoom.publish('chat.message', { text: 'welcome' });

    const student = new ClasswireClient(await clientOptions('ada', 'student', ['react-class']));
    let bound!: UseClassroom;
    function Classroom() {
      bound = useClassroom(student, 'react-class', { userId: 'ada', role: 'student' });
      return createElement(
        'ol',
        null,
        bound.state.chat.map((entry) => createElement('li', { key: entry.seq }, `${entry.from.name}: ${entry.text}`)),
      );
    }
    const view = render(createElement(Classroom));
    await waitFor(() => expect(bound.joined).toBeDefined());
    // The snapshot brought what happened before the join.
    expect(bound.state.status).toBe('live');
    expect(rendered(view.container).textContent).toBe('rivera: welcome');
    expect(bound.permissions).toMatchObject({ chat: true, runClass: false });
    expect(bound.roster.map((member) => member.userId).sort()).toEqual(['ada', 'rivera']);

    await bound.publish('chat.message', { text: 'page 12?' });
    await waitFor(() => expect(rendered(view.container).querySelectorAll('li')).toHaveLength(2));
    await expect(bound.publish('class.end', {})).rejects.toMatchObject({ code: 'forbidden' });

    await teacherRoom.publish('class.settings', { chatLocked: true });
    await waitFor(() => expect(bound.state.settings.chatLocked).toBe(true));
    expect(bound.permissions.chat).toBe(false);
    view.unmount();
    student.close();
    teacher.close();
  });
});
