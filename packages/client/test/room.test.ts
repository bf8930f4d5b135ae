import type { JoinedFrame, MessageFrame } from '@classwire/protocol/wire';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Room, type ResetInfo, type RoomHost, type RoomMessage } from '../src/room.js';

/** A host that records resume requests; the Room under test is the real one. */
function host(): RoomHost & { resumes: number; errors: unknown[] } {
  return {
    resumes: 0,
    errors: [],
    gapTimeoutMs: 100,
    publish: () => Promise.resolve(undefined),
    ask: () => Promise.reject(new Error('not asked in these tests')),
    leave: () => Promise.resolve(),
    resume() {
      this.resumes += 1;
    },
    moved() {},
    reportError(error: unknown) {
      this.errors.push(error);
    },
  };
}

function message(seq: number | undefined, data: unknown = seq): MessageFrame {
  return {
    type: 'message',
    room: 'r',
    ...(seq === undefined ? { ephemeral: true as const } : { seq }),
    ts: 1,
    event: 'chat.message',
    data,
    from: { userId: 'u', role: 'student', name: 'U' },
  };
}

function joined(seq: number, recovered: boolean, epoch = 'e1'): JoinedFrame {
  return { type: 'joined', room: 'r', connectionId: 'c', seq, epoch, recovered, presence: [] };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('Room ordering', () => {
  it('delivers in seq order exactly once, whatever order and duplication the frames arrive in', () => {
    const room = new Room('r', host());
    const seen: number[] = [];
    room.on('*', (m) => seen.push(m.seq!));
    room.handleJoined(joined(0, false));
    for (const seq of [1, 3, 2, 2, 5, 4, 1, 6, 6]) room.handleMessage(message(seq));
    expect(seen).toEqual([1, 2, 3, 4, 5, 6]);
    expect(room.lastSeq).toBe(6);
  });

  it('holds messages that arrive before the first joined and delivers those after its seq', () => {
    const room = new Room('r', host());
    const seen: number[] = [];
    room.on('*', (m) => seen.push(m.seq!));
    room.handleMessage(message(11));
    room.handleMessage(message(10));
    room.handleJoined(joined(10, false));
    expect(seen).toEqual([11]);
  });

  it('asks for a resume when a gap outlasts the grace period, and not before', () => {
    vi.useFakeTimers();
    const h = host();
    const room = new Room('r', h);
    room.handleJoined(joined(0, false));
    room.handleMessage(message(1));
    room.handleMessage(message(3));
    vi.advanceTimersByTime(99);
    expect(h.resumes).toBe(0);
    vi.advanceTimersByTime(1);
    expect(h.resumes).toBe(1);
  });

  it('does not resume when the missing message arrives within the grace period', () => {
    vi.useFakeTimers();
    const h = host();
    const room = new Room('r', h);
    const seen: number[] = [];
    room.on('*', (m) => seen.push(m.seq!));
    room.handleJoined(joined(0, false));
    room.handleMessage(message(2));
    room.handleMessage(message(1));
    vi.advanceTimersByTime(500);
    expect(h.resumes).toBe(0);
    expect(seen).toEqual([1, 2]);
  });

  it('emits reset (once) after a join that could not recover, then continues from the new seq', () => {
    const room = new Room('r', host());
    const seen: number[] = [];
    const resets: ResetInfo[] = [];
    room.on('*', (m) => seen.push(m.seq!));
    room.onReset((info) => resets.push(info));
    room.handleJoined(joined(0, false));
    room.handleMessage(message(1));
    room.handleJoined(joined(40, false));
    room.handleMessage(message(40));
    room.handleMessage(message(41));
    expect(resets).toEqual([{ room: 'r', seq: 40, epoch: 'e1' }]);
    expect(seen).toEqual([1, 41]);
  });

  it('delivers a publish stored again under a new epoch (its retry after a failover) only once', () => {
    const room = new Room('r', host());
    const seen: unknown[] = [];
    room.on('*', (m) => seen.push(m.data));
    const published = (seq: number, data: string, id: string, userId = 'u'): MessageFrame => ({ ...message(seq, data), id, from: { userId, role: 'student', name: userId } });
    room.handleJoined(joined(0, false, 'before'));
    room.handleMessage(published(1, 'first', 'm-1'));
    room.handleMessage(published(2, 'second', 'm-2'));
    // The promoted replica lacked seq 2; the publisher's retry of m-2 was stored again as seq 1 of the new epoch.
    room.handleJoined(joined(0, false, 'after'));
    room.handleMessage(published(1, 'second again', 'm-2'));
    room.handleMessage(published(2, 'third', 'm-3'));
    // The same id from another user is another message.
    room.handleMessage(published(3, 'other user', 'm-2', 'v'));
    expect(seen).toEqual(['first', 'second', 'third', 'other user']);
    expect(room.lastSeq).toBe(3);
  });

  it('drops frames held from an older epoch when the epoch changes', () => {
    const room = new Room('r', host());
    const seen: RoomMessage[] = [];
    room.on('*', (m) => seen.push(m));
    room.handleJoined(joined(5, false, 'old'));
    room.handleMessage(message(7, 'stale'));
    room.handleJoined(joined(1, false, 'new'));
    room.handleMessage(message(2, 'fresh'));
    expect(seen.map((m) => m.data)).toEqual(['fresh']);
    expect(room.bufferedCount).toBe(0);
  });

  it('delivers ephemeral events at once, outside the sequence', () => {
    const room = new Room('r', host());
    const seen: RoomMessage[] = [];
    room.on('*', (m) => seen.push(m));
    room.handleJoined(joined(3, false));
    room.handleMessage(message(undefined, 'cursor'));
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ ephemeral: true, data: 'cursor' });
    expect(seen[0]!.seq).toBeUndefined();
    expect(room.lastSeq).toBe(3);
  });

  it('reports a throwing handler and still runs the others', () => {
    const h = host();
    const room = new Room('r', h);
    const seen: number[] = [];
    room.on('chat.message', () => {
      throw new Error('boom');
    });
    room.on('chat.message', (m) => seen.push(m.seq!));
    room.handleJoined(joined(0, false));
    room.handleMessage(message(1));
    expect(seen).toEqual([1]);
    expect(h.errors).toHaveLength(1);
  });
});
