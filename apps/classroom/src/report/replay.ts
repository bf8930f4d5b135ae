/**
 * Lesson replay: the transcript as a timeline of room messages, and the classroom state at any moment
 * of it, built by the same reducer the live app uses (`applyEvent` from @classwire/protocol/classroom),
 * so a replayed board is drawn exactly as the live one was.
 */
import { applyEvent, initialState, type ClassroomMessage, type ClassroomState } from '@classwire/protocol/classroom';
import type { Role, Sender } from '@classwire/protocol/wire';
import type { TranscriptEvent } from './records-api.js';

export interface Timeline {
  /** Epoch ms where the scrubber starts (the class's start) and ends (its end, or its last event while live). */
  start: number;
  end: number;
  /** In server order (the transcript's order), with their server timestamps. */
  messages: readonly ClassroomMessage[];
}

const ROLES: readonly string[] = ['teacher', 'assistant', 'student', 'observer'];

/** Whom the replay names for an event whose author was erased. */
const REMOVED_USER: Sender = { userId: '', name: 'Removed user', role: 'observer' };

export function buildTimeline(startedAt: number, endedAt: number | null, events: readonly TranscriptEvent[]): Timeline {
  const messages = events.map(toMessage);
  const last = messages.at(-1)?.ts ?? startedAt;
  return { start: startedAt, end: Math.max(endedAt ?? last, last, startedAt), messages };
}

function toMessage(event: TranscriptEvent): ClassroomMessage {
  const author = event.author;
  const from: Sender =
    author === null || author.userId === null
      ? REMOVED_USER
      : { userId: author.userId, name: author.name ?? 'Removed user', role: ROLES.includes(author.role ?? '') ? (author.role as Role) : 'server' };
  return { event: event.event, data: event.data, from, ts: event.ts, seq: event.seq };
}

/**
 * The state of the class at a moment of the timeline. Moving forward applies only the messages since
 * the last position; moving back rebuilds from the start (a lesson is a few thousand events at most).
 */
export class ReplayCursor {
  /** Messages before this index are in `state`. */
  private applied = 0;
  private current: ClassroomState = initialState();
  private at = -Infinity;

  constructor(private readonly timeline: Timeline) {}

  get state(): ClassroomState {
    return this.current;
  }

  /** How many messages had happened by the current moment. */
  get position(): number {
    return this.applied;
  }

  seek(time: number): ClassroomState {
    if (time < this.at) {
      this.applied = 0;
      this.current = initialState();
    }
    this.at = time;
    const { messages } = this.timeline;
    while (this.applied < messages.length && messages[this.applied]!.ts <= time) {
      this.current = applyEvent(this.current, messages[this.applied]!);
      this.applied += 1;
    }
    return this.current;
  }
}

/** Playback speeds offered. */
export const SPEEDS = [1, 2, 4, 8, 16] as const;

/** m:ss (or h:mm:ss) of a duration in ms, for the scrubber's labels. */
export function clock(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = String(total % 60).padStart(2, '0');
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, '0')}:${seconds}` : `${minutes}:${seconds}`;
}
