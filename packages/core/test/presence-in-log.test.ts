import { describe, expect, it } from 'vitest';
import { PRESENCE_EVENTS, type Role } from '@classwire/protocol';
import { applyEvent, initialState } from '@classwire/protocol/classroom';
import { Engine, MemoryBroker, MemoryPresence, MemoryRegistry, type ConnectionRecord, type EngineOptions } from '@classwire/core';
import { RecordingFanOut } from './recording-fanout.js';

const START = 1_700_000_000_000;

/** An engine on memory ports with presence appended to the log, as the gateway runs it when records are on. */
function setup(options: Partial<EngineOptions> = {}) {
  const registry = new MemoryRegistry();
  const fanout = new RecordingFanOut();
  const broker = new MemoryBroker({ now: () => START, delivery: fanout });
  const engine = new Engine({ registry, broker, presence: new MemoryPresence(), fanout, now: () => START, presenceInLog: true, ...options });

  async function connect(connectionId: string, userId: string, role: Role = 'student'): Promise<void> {
    const record: ConnectionRecord = { connectionId, userId, name: `Name ${userId}`, role, rooms: ['*'], expiresAt: START + 3_600_000, connectedAt: START, node: 'n1' };
    await engine.connect(record);
  }
  const send = (connectionId: string, frame: Record<string, unknown>) => engine.handleFrame(connectionId, JSON.stringify(frame));
  /** The room's log as (event, data) pairs. */
  async function log(room: string): Promise<{ seq: number; event: string; data: unknown }[]> {
    const read = await broker.read(room, 0);
    return read.messages.map((m) => {
      const frame = JSON.parse(m.frame) as { event: string; data: unknown };
      return { seq: m.seq, event: frame.event, data: frame.data };
    });
  }
  return { engine, fanout, connect, send, log };
}

describe('presence in the room log (records)', () => {
  it('appends a user first join and last leave once, merged across tabs, with the reason it ended', async () => {
    const t = setup();
    await t.connect('ada-tab-1', 'ada');
    await t.connect('ada-tab-2', 'ada');
    await t.connect('bob', 'bob');
    await t.send('ada-tab-1', { action: 'join', room: 'r' });
    await t.send('ada-tab-2', { action: 'join', room: 'r' });
    await t.send('bob', { action: 'join', room: 'r' });
    await t.send('ada-tab-1', { action: 'leave', room: 'r' });
    await t.send('ada-tab-2', { action: 'leave', room: 'r' });
    await t.engine.disconnect('bob');
    await t.connect('cy', 'cy');
    await t.send('cy', { action: 'join', room: 'r' });
    await t.engine.disconnect('cy', 'reaped');
    expect(await t.log('r')).toEqual([
      { seq: 1, event: PRESENCE_EVENTS.join, data: { userId: 'ada', name: 'Name ada', role: 'student' } },
      { seq: 2, event: PRESENCE_EVENTS.join, data: { userId: 'bob', name: 'Name bob', role: 'student' } },
      { seq: 3, event: PRESENCE_EVENTS.leave, data: { userId: 'ada', name: 'Name ada', role: 'student', reason: 'left' } },
      { seq: 4, event: PRESENCE_EVENTS.leave, data: { userId: 'bob', name: 'Name bob', role: 'student', reason: 'disconnected' } },
      { seq: 5, event: PRESENCE_EVENTS.join, data: { userId: 'cy', name: 'Name cy', role: 'student' } },
      { seq: 6, event: PRESENCE_EVENTS.leave, data: { userId: 'cy', name: 'Name cy', role: 'student', reason: 'reaped' } },
    ]);
    // Members receive them as ordinary sequenced messages: no gap after the joined frame's position.
    const bobSeqs = t.fanout.ofType('bob', 'message').map((frame) => frame.seq);
    expect(bobSeqs).toEqual([2, 3]);
  });

  it('refuses presence events from clients and backends: attendance cannot be forged', async () => {
    const t = setup();
    await t.connect('mallory', 'mallory', 'teacher');
    await t.send('mallory', { action: 'join', room: 'r' });
    await t.send('mallory', { action: 'publish', room: 'r', event: 'presence.leave', data: { userId: 'ada', name: 'Ada', role: 'student', reason: 'left' }, id: 'p1' });
    expect(t.fanout.last('mallory')).toMatchObject({ type: 'error', code: 'forbidden', id: 'p1' });
    await expect(t.engine.publishAsServer('r', { event: 'presence.join', data: {} })).rejects.toMatchObject({ code: 'forbidden' });
    expect((await t.log('r')).map((entry) => entry.event)).toEqual([PRESENCE_EVENTS.join]);
  });

  it('a rejoin loop appends no more than the join throttle admits', async () => {
    const t = setup({ joinRate: { perSecond: 1, burst: 3 } });
    await t.connect('loop', 'loop');
    for (let i = 0; i < 50; i++) {
      await t.send('loop', { action: 'join', room: 'r' });
      await t.send('loop', { action: 'leave', room: 'r' });
    }
    expect(await t.log('r')).toHaveLength(6);
  });

  it('appends nothing when records are off', async () => {
    const t = setup({ presenceInLog: false });
    await t.connect('ada', 'ada');
    await t.send('ada', { action: 'join', room: 'r' });
    await t.engine.disconnect('ada');
    expect(await t.log('r')).toEqual([]);
  });

  it('the classroom client state treats them as positions only: no chat entry, and its seq moves on', () => {
    const member = { userId: 'ada', name: 'Ada', role: 'student' as const };
    const joined = applyEvent(initialState(), { event: PRESENCE_EVENTS.join, data: member, from: member, ts: START, seq: 7 });
    const left = applyEvent(joined, { event: PRESENCE_EVENTS.leave, data: { ...member, reason: 'left' }, from: member, ts: START, seq: 8 });
    expect(left.chat).toEqual([]);
    expect(left.seq).toBe(8);
  });
});
