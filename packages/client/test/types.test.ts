/**
 * Type tests: `npm run typecheck` compiles this file, and every `@ts-expect-error` line must still be an
 * error (an unused one fails the compile), so a typo or a wrong payload that starts to compile fails the
 * suite. The runtime part only checks that the calls are real.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  ClasswireClient,
  connect,
  type AnyEventMessage,
  type ChatMessageData,
  type ClassroomEvent,
  type ClassroomServerEventMap,
  type OpenEventMap,
  type Room,
  type RoomMessage,
  type StrokeData,
} from '../src/index.js';

/** Never opened: the type checks only need the objects. */
class InertSocket {
  readonly readyState = 0;
  onopen = null;
  onclose = null;
  onmessage = null;
  onerror = null;
  send(): void {}
  close(): void {}
}

const inert = { url: 'ws://127.0.0.1:9/ws', token: 't', WebSocket: InertSocket };

interface QuizEvents {
  'quiz.answer': { question: number; choice: 'a' | 'b' | 'c' };
  'quiz.reveal': { question: number };
}

describe('typed events', () => {
  it('classroom rooms by default: known events with their payloads, typos and wrong payloads refused', () => {
    const client = new ClasswireClient(inert);
    const room = client.join('class-1');
    expectTypeOf(room).toEqualTypeOf<Room>();
    room.on('chat.message', (message) => {
      expectTypeOf(message.data).toEqualTypeOf<ChatMessageData>();
      expectTypeOf(message.event).toEqualTypeOf<'chat.message'>();
    });
    room.on('wb.stroke', (message) => expectTypeOf(message.data).toEqualTypeOf<StrokeData>());
    // What only the server sends (to staff) is received, typed, but never offered to publish.
    room.on('poll.tally', (message) => expectTypeOf(message.data).toEqualTypeOf<ClassroomServerEventMap['poll.tally']>());
    room.on('reaction.counts', (message) => expectTypeOf(message.data.windowMs).toEqualTypeOf<number>());
    // @ts-expect-error the server's event is not the client's to publish
    void room.publish('announce.receipts', { id: 'a', seen: 1 }).catch(() => undefined);
    room.on('*', (message) => {
      expectTypeOf(message.event).toEqualTypeOf<ClassroomEvent | keyof ClassroomServerEventMap>();
      // The event narrows the payload.
      if (message.event === 'chat.message') expectTypeOf(message.data).toEqualTypeOf<ChatMessageData>();
    });
    void room.publish('chat.message', { text: 'hello' }).catch(() => undefined);
    // @ts-expect-error a typo in the event name
    room.on('chat.mesage', () => {});
    // @ts-expect-error a wrong payload
    void room.publish('chat.message', { txt: 1 }).catch(() => undefined);
    // @ts-expect-error a payload of the wrong type
    void room.publish('chat.message', { text: 1 }).catch(() => undefined);
    // @ts-expect-error an event that is not the classroom's
    void room.publish('lesson.note', 'x').catch(() => undefined);
    client.close();
  });

  it('an event map of the app\'s own, for the client or for one join', () => {
    const client = connect<QuizEvents>(inert);
    const room = client.join('quiz');
    expectTypeOf(room).toEqualTypeOf<Room<QuizEvents>>();
    room.on('quiz.answer', (message) => expectTypeOf(message.data.choice).toEqualTypeOf<'a' | 'b' | 'c'>());
    room.on('*', (message) => expectTypeOf(message).toEqualTypeOf<AnyEventMessage<QuizEvents>>());
    void room.publish('quiz.reveal', { question: 1 }).catch(() => undefined);
    // @ts-expect-error not a value of the choice union
    void room.publish('quiz.answer', { question: 1, choice: 'd' }).catch(() => undefined);
    // @ts-expect-error a classroom event is not in this map
    room.on('chat.message', () => {});
    const classroomClient = new ClasswireClient(inert);
    expectTypeOf(classroomClient.join<QuizEvents>('quiz-2')).toEqualTypeOf<Room<QuizEvents>>();
    expectTypeOf(classroomClient.room<QuizEvents>('quiz-2')).toEqualTypeOf<Room<QuizEvents> | undefined>();
    client.close();
    classroomClient.close();
  });

  it('generic rooms keep an open map: any event name, unknown payloads', () => {
    const client = connect<OpenEventMap>(inert);
    const room = client.join('anything');
    room.on('lesson.note', (message) => {
      expectTypeOf(message.data).toEqualTypeOf<unknown>();
      expectTypeOf(message).toMatchTypeOf<RoomMessage>();
    });
    void room.publish('lesson.note', { any: ['thing'] }).catch(() => undefined);
    client.close();
    expect(room.state).toBe('failed');
  });
});
