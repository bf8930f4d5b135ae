import { z } from 'zod';
import { CLASSROOM_LIMITS, CLASSROOM_NAMESPACES, itemIdRefusal, type ClassroomEvent, type ClassroomEventMap } from './types.js';
import { DEFAULT_LIMITS } from '../limits.js';
import { POLL_ID_PATTERN, POLL_LIMITS } from './polls.js';
import { TIMER_LIMITS } from './timer.js';
import { ANNOUNCEMENT_LIMITS } from './announcements.js';
import { LIVE_REACTION_KINDS, MESSAGE_REACTIONS, type LiveReactionKind } from './reactions.js';
import { BOARD_LIMITS } from './board.js';
import { BREAKOUT_LIMITS, BREAKOUT_MODES, type BreakoutMode } from './breakout.js';

/** Validators for the classroom events' `data` (docs/classroom.md). Unknown keys are refused. */

const text = z.string().trim().min(1).max(CLASSROOM_LIMITS.maxChatText);
const userId = z.string().min(1).max(DEFAULT_LIMITS.maxUserIdLength);
const seq = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const itemId = z
  .string()
  .min(1)
  .max(CLASSROOM_LIMITS.maxItemId)
  .superRefine((id, context) => {
    const refusal = itemIdRefusal(id);
    if (refusal !== undefined) context.addIssue({ code: 'custom', message: refusal });
  });
/** Normalised board coordinate: [0, 1], rounded to 4 decimals so every client stores the same value. */
const coordinate = z
  .number()
  .min(0)
  .max(1)
  .transform((v) => Math.round(v * 10_000) / 10_000);
const color = z.string().regex(/^#[0-9a-fA-F]{6}$/, 'color must be #rrggbb');
const width = z.number().min(1).max(40);
const empty = z.strictObject({});
const page = z.number().int().min(0).max(BOARD_LIMITS.maxPageId);
const pollId = z.string().min(1).max(POLL_LIMITS.maxPollId).regex(POLL_ID_PATTERN, 'a poll id is letters, digits, - and _');
const optionIndex = z.number().int().min(0).max(POLL_LIMITS.maxOptions - 1);
const optionIndexes = z
  .array(optionIndex)
  .min(1)
  .max(POLL_LIMITS.maxOptions)
  .refine((list) => new Set(list).size === list.length, 'an option may be listed once');
const groupNumber = z.number().int().min(1).max(BREAKOUT_LIMITS.maxGroups);

const CLASSROOM_SCHEMAS = {
  'chat.message': z.strictObject({ text }),
  'chat.edit': z.strictObject({ seq, text }),
  'chat.delete': z.strictObject({ seq }),
  'chat.private': z.strictObject({ to: userId.optional(), text }),
  'chat.typing': empty,
  'hand.raise': empty,
  'hand.lower': z.strictObject({ userId: userId.optional() }),
  'hand.clear': empty,
  'wb.stroke': z.strictObject({
    id: itemId,
    page: page.optional(),
    color,
    width,
    points: z
      .array(coordinate)
      .min(2)
      .max(CLASSROOM_LIMITS.maxStrokePoints)
      .refine((p) => p.length % 2 === 0, 'points must be x, y pairs'),
  }),
  'wb.shape': z.strictObject({
    id: itemId,
    page: page.optional(),
    kind: z.enum(['line', 'rect', 'ellipse']),
    color,
    width,
    x1: coordinate,
    y1: coordinate,
    x2: coordinate,
    y2: coordinate,
  }),
  'wb.erase': z.strictObject({ id: itemId, page: page.optional() }),
  'wb.clear': z.strictObject({ page: page.optional() }),
  'wb.cursor': z.strictObject({ x: coordinate, y: coordinate, page: page.optional() }),
  'wb.text': z.strictObject({
    id: itemId,
    page: page.optional(),
    x: coordinate,
    y: coordinate,
    text: z.string().trim().min(1).max(BOARD_LIMITS.maxText),
    size: z.number().min(BOARD_LIMITS.minTextSize).max(BOARD_LIMITS.maxTextSize),
    color,
  }),
  'wb.undo': z.strictObject({ page: page.optional() }),
  'wb.redo': z.strictObject({ page: page.optional() }),
  'wb.page.add': empty,
  'wb.page.remove': z.strictObject({ page }),
  'wb.page.show': z.strictObject({ page }),
  'wb.page.browse': z.strictObject({ free: z.boolean() }),
  'class.settings': z
    .strictObject({ chatLocked: z.boolean().optional(), whiteboardLocked: z.boolean().optional() })
    .refine((s) => s.chatLocked !== undefined || s.whiteboardLocked !== undefined, 'change at least one setting'),
  'class.start': empty,
  'class.end': empty,
  'moderation.mute': z.strictObject({ userId, muted: z.boolean() }),
  'moderation.grant': z.strictObject({ userId, granted: z.boolean() }),
  'moderation.remove': z.strictObject({ userId }),
  'poll.create': z
    .strictObject({
      id: pollId,
      question: z.string().trim().min(1).max(POLL_LIMITS.maxQuestion),
      options: z.array(z.string().trim().min(1).max(POLL_LIMITS.maxOptionText)).min(POLL_LIMITS.minOptions).max(POLL_LIMITS.maxOptions),
      multiple: z.boolean(),
      anonymous: z.boolean(),
      correct: optionIndexes.optional(),
      points: z.number().int().min(1).max(POLL_LIMITS.maxPoints).optional(),
    })
    .refine((p) => p.correct === undefined || p.correct.every((c) => c < p.options.length), { message: 'a correct answer must be one of the options', path: ['correct'] })
    .refine((p) => p.correct === undefined || p.multiple || p.correct.length === 1, { message: 'a single-choice quiz has one correct answer', path: ['correct'] })
    .refine((p) => p.points === undefined || p.correct !== undefined, { message: 'points need correct answers (a quiz)', path: ['points'] }),
  'poll.open': z.strictObject({ id: pollId, seconds: z.number().int().min(1).max(POLL_LIMITS.maxSeconds).optional() }),
  'poll.close': z.strictObject({ id: pollId }),
  'poll.share': z.strictObject({ id: pollId }),
  'poll.answer': z.strictObject({ id: pollId, choices: optionIndexes }),
  'timer.set': z.strictObject({ seconds: z.number().int().min(1).max(TIMER_LIMITS.maxSeconds) }),
  'timer.pause': empty,
  'timer.resume': empty,
  'timer.clear': empty,
  'announce.pin': z.strictObject({
    id: z.string().min(1).max(ANNOUNCEMENT_LIMITS.maxId).regex(POLL_ID_PATTERN, 'an announcement id is letters, digits, - and _'),
    text: z.string().trim().min(1).max(ANNOUNCEMENT_LIMITS.maxText),
  }),
  'announce.unpin': empty,
  'announce.seen': z.strictObject({ id: z.string().min(1).max(ANNOUNCEMENT_LIMITS.maxId) }),
  'chat.react': z.strictObject({ seq, emoji: z.enum(MESSAGE_REACTIONS) }),
  'chat.unreact': z.strictObject({ seq, emoji: z.enum(MESSAGE_REACTIONS) }),
  'reaction.send': z.strictObject({ kind: z.enum(LIVE_REACTION_KINDS as [LiveReactionKind, ...LiveReactionKind[]]) }),
  'breakout.open': z.strictObject({ groups: groupNumber, mode: z.enum(BREAKOUT_MODES as [BreakoutMode, ...BreakoutMode[]]) }),
  'breakout.assign': z.strictObject({
    assignments: z
      .array(z.strictObject({ userId, group: groupNumber.nullable() }))
      .min(1)
      .max(BREAKOUT_LIMITS.maxAssignments)
      .refine((list) => new Set(list.map((p) => p.userId)).size === list.length, 'a user may be placed once'),
  }),
  'breakout.choose': z.strictObject({ group: groupNumber }),
  'breakout.show': z.strictObject({ group: groupNumber.nullable() }),
  'breakout.broadcast': z.strictObject({ text: z.string().trim().min(1).max(BREAKOUT_LIMITS.maxBroadcastText) }),
  'breakout.close': empty,
  'breakout.overview': empty,
} satisfies { [E in ClassroomEvent]: z.ZodType<ClassroomEventMap[E], unknown> };

export function isClassroomEvent(event: string): event is ClassroomEvent {
  return Object.hasOwn(CLASSROOM_SCHEMAS, event);
}

/** True for events in a namespace the classroom owns (`chat.*`, `wb.*`, …), known or not. */
export function inClassroomNamespace(event: string): boolean {
  const dot = event.indexOf('.');
  const namespace = dot < 0 ? event : event.slice(0, dot);
  return (CLASSROOM_NAMESPACES as readonly string[]).includes(namespace);
}

export type ClassroomDataResult<E extends ClassroomEvent> =
  | { ok: true; data: ClassroomEventMap[E] }
  | { ok: false; message: string };

/** Validates (and normalises: trims text, rounds coordinates) one event's data. */
export function parseClassroomData<E extends ClassroomEvent>(event: E, data: unknown): ClassroomDataResult<E> {
  const schema = CLASSROOM_SCHEMAS[event] as unknown as z.ZodType<ClassroomEventMap[E], unknown>;
  const result = schema.safeParse(data ?? {});
  if (result.success) return { ok: true, data: result.data };
  const issue = result.error.issues[0];
  const path = issue?.path.join('.') ?? '';
  return { ok: false, message: `invalid ${event} data${path === '' ? '' : ` at ${path}`}: ${issue?.message ?? 'invalid'}` };
}
