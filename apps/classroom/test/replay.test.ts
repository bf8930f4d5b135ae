import { describe, expect, it } from 'vitest';
import type { TranscriptEvent } from '../src/report/records-api.js';
import { describeEvent, transcriptLines } from '../src/report/describe.js';
import { ReplayCursor, buildTimeline, clock } from '../src/report/replay.js';

const START = 1_700_000_000_000;
const teacher = { userId: 'u-t', name: 'Ms Okafor', role: 'teacher' };
const student = { userId: 'u-a', name: 'Ada', role: 'student' };

let nextId = 1;
function recorded(offset: number, event: string, data: unknown, author: TranscriptEvent['author'] = teacher): TranscriptEvent {
  const id = nextId++;
  return { id, seq: id, epoch: 'e1', ts: START + offset, event, data, author, erased: author === null };
}

function stroke(id: string): object {
  return { id, color: '#1f2937', width: 4, points: [0.1, 0.1, 0.5, 0.5] };
}

const lesson = [
  recorded(0, 'class.start', {}),
  recorded(1_000, 'chat.message', { text: 'Good morning' }),
  recorded(2_000, 'wb.stroke', stroke('a')),
  recorded(3_000, 'chat.message', { text: 'Hello' }, student),
  recorded(4_000, 'wb.stroke', stroke('b'), student),
  recorded(5_000, 'wb.erase', { id: 'a' }),
  recorded(6_000, 'chat.edit', { seq: 4, text: 'Hello!' }, student),
  recorded(7_000, 'chat.message', { text: 'gone' }, null),
  recorded(8_000, 'class.end', {}),
];

describe('ReplayCursor', () => {
  const timeline = buildTimeline(START, START + 9_000, lesson);
  const boardAt = (cursor: ReplayCursor, offset: number) => cursor.seek(START + offset).board.map((entry) => entry.item.id);

  it('spans the class, from its start to its end', () => {
    expect([timeline.start, timeline.end]).toEqual([START, START + 9_000]);
    // A live class (no end yet) spans to its last event.
    expect(buildTimeline(START, null, lesson).end).toBe(START + 8_000);
  });

  it('plays forward: the board and chat as they were at each moment', () => {
    const cursor = new ReplayCursor(timeline);
    expect(boardAt(cursor, 1_500)).toEqual([]);
    expect(cursor.state.chat.map((m) => m.text)).toEqual(['Good morning']);
    expect(boardAt(cursor, 4_500)).toEqual(['a', 'b']);
    expect(boardAt(cursor, 5_000)).toEqual(['b']);
    expect(cursor.position).toBe(6);
    cursor.seek(START + 9_000);
    expect(cursor.state.chat.map((m) => `${m.from.name}: ${m.text}${m.edited ? ' (edited)' : ''}`)).toEqual([
      'Ms Okafor: Good morning',
      'Ada: Hello! (edited)',
      'Removed user: gone',
    ]);
    expect(cursor.state.status).toBe('ended');
  });

  it('seeks back by rebuilding from the start: an erased item is on the board again', () => {
    const cursor = new ReplayCursor(timeline);
    expect(boardAt(cursor, 9_000)).toEqual(['b']);
    expect(boardAt(cursor, 4_000)).toEqual(['a', 'b']);
    expect(cursor.state.chat.map((m) => m.text)).toEqual(['Good morning', 'Hello']);
    expect(cursor.state.status).toBe('live');
  });

  it('ignores hostile or erased data rather than failing', () => {
    const odd = buildTimeline(START, null, [
      recorded(1, 'wb.stroke', null),
      recorded(2, 'wb.stroke', { id: 'x', color: 1, width: 'w', points: 'no' }),
      recorded(3, 'chat.message', { text: 42 }),
      recorded(4, 'no.such.event', { anything: true }),
      recorded(5, 'chat.message', { text: 'ok' }, { userId: 'u', name: null, role: 'administrator' }),
    ]);
    const state = new ReplayCursor(odd).seek(START + 10);
    expect(state.board).toEqual([]);
    expect(state.chat.map((m) => [m.text, m.from.name, m.from.role])).toEqual([['ok', 'Removed user', 'server']]);
  });
});

describe('the report’s words and times', () => {
  it('describes events, and erased content as removed', () => {
    expect(describeEvent(lesson[1]!)).toBe('Good morning');
    expect(describeEvent(lesson[6]!)).toBe('edited message #4 to: Hello!');
    expect(describeEvent(recorded(0, 'chat.message', null, null))).toBe('(message removed)');
    expect(describeEvent(recorded(0, 'wb.shape', { kind: 'rect' }))).toBe('drew a rect');
    expect(describeEvent(recorded(0, 'chat.react', { seq: 4, emoji: '👍' }))).toBe('reacted 👍 to message #4');
    expect(describeEvent(recorded(0, 'chat.unreact', { seq: 4, emoji: '👍' }))).toBe('took back 👍 on message #4');
    expect(describeEvent(recorded(0, 'wb.text', { text: 'F = ma' }))).toBe('wrote on the board: F = ma');
    expect(describeEvent(recorded(0, 'wb.page.browse', { free: true }))).toBe('let students browse the board pages');
  });

  it('formats lesson times as m:ss or h:mm:ss', () => {
    expect(clock(0)).toBe('0:00');
    expect(clock(65_400)).toBe('1:05');
    expect(clock(3_725_000)).toBe('1:02:05');
    expect(clock(-5)).toBe('0:00');
  });
});

describe('transcriptLines', () => {
  it("folds one person's run of board changes into one line, and keeps everything else", () => {
    const events = [
      recorded(0, 'chat.message', { text: 'Look' }),
      recorded(1, 'wb.stroke', stroke('s1')),
      recorded(2, 'wb.stroke', stroke('s2')),
      recorded(3, 'wb.erase', { id: 's1' }),
      recorded(4, 'wb.stroke', stroke('s3'), student),
      recorded(5, 'wb.clear', {}),
    ];
    expect(transcriptLines(events).map((line) => `${line.author}: ${line.text}`)).toEqual([
      'Ms Okafor: Look',
      'Ms Okafor: drew on the board (3 changes)',
      'Ada: drew on the board',
      'Ms Okafor: cleared the board',
    ]);
  });
});
