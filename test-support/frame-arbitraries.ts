import fc from 'fast-check';
import { LIVE_REACTION_KINDS, MESSAGE_REACTIONS, type ClassroomEvent } from '@classwire/protocol';
import { RESERVED_KEYS, hostileJson, hostileNumber, hostileString, withRawKey } from './adversarial.js';

/**
 * Arbitraries for inbound frames: every action the parser accepts (and some it does not), every
 * classroom event with data that is valid, nearly valid or anything at all. `FrameScene` names the room
 * the fuzzing connection should mostly aim at and the users in it, so that a good share of frames reach
 * the handlers instead of stopping at the parser.
 */

export interface FrameScene {
  room: string;
  /** Users present in the room (targets of moderation, private messages, hand.lower). */
  users: readonly string[];
  /** Most frames stay under this size; an oversized frame closes its sender and is a separate case. */
  maxFrameBytes: number;
}

export const CLASSROOM_EVENTS: readonly ClassroomEvent[] = [
  'chat.message',
  'chat.edit',
  'chat.delete',
  'chat.private',
  'chat.typing',
  'hand.raise',
  'hand.lower',
  'hand.clear',
  'wb.stroke',
  'wb.shape',
  'wb.erase',
  'wb.clear',
  'wb.cursor',
  'class.settings',
  'class.start',
  'class.end',
  'moderation.mute',
  'moderation.grant',
  'moderation.remove',
  'poll.create',
  'poll.open',
  'poll.close',
  'poll.share',
  'poll.answer',
  'timer.set',
  'timer.pause',
  'timer.resume',
  'timer.clear',
  'announce.pin',
  'announce.unpin',
  'announce.seen',
  'chat.react',
  'chat.unreact',
  'reaction.send',
  'wb.text',
  'wb.undo',
  'wb.redo',
  'wb.page.add',
  'wb.page.remove',
  'wb.page.show',
  'wb.page.browse',
  'breakout.open',
  'breakout.assign',
  'breakout.choose',
  'breakout.show',
  'breakout.broadcast',
  'breakout.close',
  'breakout.overview',
];

const text = fc.oneof(
  { weight: 3, arbitrary: fc.string({ minLength: 1, maxLength: 40 }) },
  { weight: 2, arbitrary: hostileString },
  { weight: 1, arbitrary: fc.constant('y'.repeat(1001)) },
);
const seq = fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 1, max: 60 }) }, hostileNumber, hostileString);
export const itemIds = ['s1', 's2', 's3'] as const;
const itemId = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...itemIds) }, fc.constantFrom(...RESERVED_KEYS), hostileString);
const color = fc.oneof({ weight: 3, arbitrary: fc.constantFrom('#112233', '#abcdef') }, hostileString);
const width = fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 1, max: 40 }) }, hostileNumber);
const coordinate = fc.oneof({ weight: 3, arbitrary: fc.double({ min: 0, max: 1, noNaN: true }) }, hostileNumber);
const points = fc.oneof(
  { weight: 4, arbitrary: fc.array(coordinate, { minLength: 1, maxLength: 20 }) },
  { weight: 1, arbitrary: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 996, maxLength: 1004 }) },
);
const flag = fc.oneof({ weight: 3, arbitrary: fc.boolean() }, hostileJson(1));

/** Data that is valid most of the time, else missing a field, carrying an extra or reserved one, or anything. */
function nearlyValid(fields: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<unknown> {
  const complete = fc.record(fields);
  const extraKey = fc.oneof(fc.constantFrom(...RESERVED_KEYS), hostileString);
  return fc.oneof(
    { weight: 5, arbitrary: complete },
    { weight: 1, arbitrary: fc.record(fields, { requiredKeys: [] }) },
    // A computed key defines an own property, `__proto__` included.
    { weight: 1, arbitrary: fc.tuple(complete, extraKey, hostileJson(2)).map(([data, key, value]) => ({ ...data, [key]: value })) },
    { weight: 1, arbitrary: hostileJson(3) },
  );
}

const page = fc.oneof({ weight: 3, arbitrary: fc.integer({ min: -1, max: 3 }) }, fc.constant(10_000), hostileNumber, hostileJson(1));

const pollId = fc.oneof({ weight: 3, arbitrary: fc.constantFrom('q1', 'q2') }, hostileString);
/** Breakout group numbers: mostly valid (1 … 50), sometimes just outside, sometimes anything. */
const group = fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 0, max: 51 }) }, hostileNumber, hostileString);
const optionIndexes = fc.oneof({ weight: 3, arbitrary: fc.array(fc.integer({ min: -1, max: 11 }), { maxLength: 12 }) }, hostileJson(2));

function eventData(event: ClassroomEvent, scene: FrameScene): fc.Arbitrary<unknown> {
  const userId = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...scene.users, 'nobody') }, hostileString);
  switch (event) {
    case 'chat.message':
      return nearlyValid({ text });
    case 'chat.edit':
      return nearlyValid({ seq, text });
    case 'chat.delete':
      return nearlyValid({ seq });
    case 'chat.private':
      return nearlyValid({ to: userId, text });
    case 'hand.lower':
      return nearlyValid({ userId });
    case 'wb.stroke':
      return nearlyValid({ id: itemId, page, color, width, points });
    case 'wb.text':
      return nearlyValid({ id: itemId, page, x: coordinate, y: coordinate, text, size: fc.oneof(fc.integer({ min: 0, max: 130 }), hostileNumber), color });
    case 'wb.undo':
    case 'wb.redo':
    case 'wb.clear':
      return nearlyValid({ page });
    case 'wb.page.remove':
    case 'wb.page.show':
      return nearlyValid({ page });
    case 'wb.page.browse':
      return nearlyValid({ free: flag });
    case 'wb.shape':
      return nearlyValid({
        id: itemId,
        page,
        kind: fc.oneof(fc.constantFrom('line', 'rect', 'ellipse'), hostileString),
        color,
        width,
        x1: coordinate,
        y1: coordinate,
        x2: coordinate,
        y2: coordinate,
      });
    case 'wb.erase':
      return nearlyValid({ id: itemId, page });
    case 'wb.cursor':
      return nearlyValid({ x: coordinate, y: coordinate, page });
    case 'class.settings':
      return nearlyValid({ chatLocked: flag, whiteboardLocked: flag });
    case 'moderation.mute':
      return nearlyValid({ userId, muted: flag });
    case 'moderation.grant':
      return nearlyValid({ userId, granted: flag });
    case 'moderation.remove':
      return nearlyValid({ userId });
    case 'poll.create':
      return nearlyValid({
        id: pollId,
        question: text,
        options: fc.array(text, { maxLength: 12 }),
        multiple: flag,
        anonymous: flag,
        correct: optionIndexes,
        points: fc.oneof(fc.integer({ min: -1, max: 101 }), hostileJson(1)),
      });
    case 'poll.open':
      return nearlyValid({ id: pollId, seconds: fc.oneof(fc.integer({ min: -1, max: 4000 }), hostileJson(1)) });
    case 'poll.close':
    case 'poll.share':
      return nearlyValid({ id: pollId });
    case 'poll.answer':
      return nearlyValid({ id: pollId, choices: optionIndexes });
    case 'timer.set':
      return nearlyValid({ seconds: fc.oneof(fc.integer({ min: -1, max: 20_000 }), hostileJson(1)) });
    case 'timer.pause':
    case 'timer.resume':
    case 'timer.clear':
    case 'announce.unpin':
      return nearlyValid({});
    case 'announce.pin':
      return nearlyValid({ id: pollId, text });
    case 'announce.seen':
      return nearlyValid({ id: pollId });
    case 'chat.react':
    case 'chat.unreact':
      return nearlyValid({ seq, emoji: fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...MESSAGE_REACTIONS) }, hostileString) });
    case 'reaction.send':
      return nearlyValid({ kind: fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...LIVE_REACTION_KINDS) }, fc.constantFrom(...RESERVED_KEYS), hostileString) });
    case 'breakout.open':
      return nearlyValid({ groups: group, mode: fc.oneof({ weight: 3, arbitrary: fc.constantFrom('random', 'manual', 'choose') }, hostileString) });
    case 'breakout.assign':
      return nearlyValid({
        assignments: fc.oneof(
          { weight: 3, arbitrary: fc.array(nearlyValid({ userId, group: fc.oneof(group, fc.constant(null)) }), { maxLength: 6 }) },
          { weight: 1, arbitrary: fc.array(fc.record({ userId, group }), { minLength: 199, maxLength: 202 }) },
        ),
      });
    case 'breakout.choose':
      return nearlyValid({ group });
    case 'breakout.show':
      return nearlyValid({ group: fc.oneof(group, fc.constant(null)) });
    case 'breakout.broadcast':
      return nearlyValid({ text });
    case 'breakout.close':
    case 'breakout.overview':
      return nearlyValid({});
    case 'chat.typing':
    case 'hand.raise':
    case 'hand.clear':
    case 'wb.page.add':
    case 'class.start':
    case 'class.end':
      return nearlyValid({});
  }
}

const clientId = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constantFrom(...RESERVED_KEYS) },
  { weight: 1, arbitrary: hostileString },
  { weight: 1, arbitrary: hostileNumber },
);

/** Mostly fresh publish ids; sometimes reserved names, and sometimes a reused one (a retry or a conflict). */
const publishId = fc.oneof({ weight: 8, arbitrary: fc.nat(100_000).map((n) => `p${n}`) }, { weight: 1, arbitrary: fc.constantFrom(...RESERVED_KEYS, 'p1') });

/** One classroom event with data for it, or an event name in or out of the classroom's namespaces. */
function publishBody(scene: FrameScene): fc.Arbitrary<{ event: unknown; data?: unknown }> {
  const known = fc.constantFrom(...CLASSROOM_EVENTS).chain((event) => fc.record({ event: fc.constant(event), data: eventData(event, scene) }, { requiredKeys: ['event'] }));
  const other = fc.record(
    { event: fc.oneof(fc.constantFrom('chat.nope', 'wb', 'class', 'custom.note', 'moderation.ban'), hostileString, hostileNumber), data: hostileJson(3) },
    { requiredKeys: ['event'] },
  );
  return fc.oneof({ weight: 5, arbitrary: known }, { weight: 1, arbitrary: other });
}

/** Every client frame as JSON text, plus text that is not a frame at all. */
export function clientFrameText(scene: FrameScene): fc.Arbitrary<string> {
  const room = fc.oneof({ weight: 8, arbitrary: fc.constant(scene.room) }, fc.constant('elsewhere'), hostileString, hostileNumber);
  const join = fc.record(
    {
      action: fc.constant('join'),
      room,
      since: fc.oneof(fc.nat(200), hostileNumber, hostileJson(1)),
      epoch: fc.oneof(hostileString, hostileJson(1)),
      id: clientId,
    },
    { requiredKeys: ['action', 'room'] },
  );
  // Only the data is hostile: the envelope passes the parser, so the classroom handlers see the frame.
  const classroomPublish = fc.constantFrom(...CLASSROOM_EVENTS).chain((event) =>
    fc.record({ data: eventData(event, scene), id: publishId }).map(({ data, id }) => ({
      action: 'publish',
      room: scene.room,
      event,
      data,
      id,
      ...(event === 'chat.typing' || event === 'wb.cursor' ? { ephemeral: true } : {}),
    })),
  );
  const leave = fc.record({ action: fc.constant('leave'), room, id: clientId }, { requiredKeys: ['action', 'room'] });
  const publish = fc
    .tuple(
      publishBody(scene),
      fc.record({ room, id: clientId, ephemeral: fc.oneof({ weight: 3, arbitrary: fc.boolean() }, hostileJson(1)) }, { requiredKeys: ['room'] }),
    )
    .map(([body, rest]) => ({ action: 'publish', ...rest, ...body }));
  const direct = fc.record(
    {
      action: fc.constant('direct'),
      to: fc.oneof(fc.constantFrom(...scene.users, 'nobody'), hostileString),
      event: fc.oneof(fc.constantFrom('note', 'chat.message'), hostileString),
      data: hostileJson(3),
      id: clientId,
    },
    { requiredKeys: ['action', 'to', 'event'] },
  );
  const ping = fc.record({ action: fc.constant('ping'), id: clientId, extra: hostileJson(2) }, { requiredKeys: ['action'] });
  const odd = fc.record({ action: fc.oneof(fc.constantFrom('explode', 'PING', ' join', ...RESERVED_KEYS), hostileString, hostileNumber, hostileJson(1)), id: clientId }, { requiredKeys: [] });
  const frame = fc.oneof(
    { weight: 2, arbitrary: join },
    { weight: 1, arbitrary: leave },
    { weight: 12, arbitrary: classroomPublish },
    { weight: 3, arbitrary: publish },
    { weight: 1, arbitrary: direct },
    { weight: 1, arbitrary: ping },
    { weight: 1, arbitrary: odd },
  );
  const asText = fc.oneof(
    { weight: 6, arbitrary: frame.map((f) => JSON.stringify(f)) },
    // A reserved or duplicated key written literally into the frame's own object.
    {
      weight: 1,
      arbitrary: fc
        .tuple(frame, fc.constantFrom(...RESERVED_KEYS, 'action', 'room'), hostileJson(1))
        .map(([f, key, value]) => withRawKey(JSON.stringify(f), key, value)),
    },
    { weight: 1, arbitrary: hostileJson(3).map((v) => JSON.stringify(v) ?? 'null') },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 60 }) },
    { weight: 1, arbitrary: fc.constantFrom('{"action":', '{"action":"ping"', '{}', '[]', 'null', '""', '1e999', '{"action":"ping","id":"\\ud800"}') },
  );
  return asText.filter((raw) => Buffer.byteLength(raw) <= scene.maxFrameBytes);
}
