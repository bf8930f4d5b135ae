/** One transcript event in words, for the class report's transcript. */
import type { TranscriptEvent } from './records-api.js';

function field(data: unknown, name: string): unknown {
  return typeof data === 'object' && data !== null ? (data as Record<string, unknown>)[name] : undefined;
}

export function describeEvent(event: TranscriptEvent): string {
  const { data } = event;
  const text = field(data, 'text');
  switch (event.event) {
    case 'chat.message':
      return typeof text === 'string' ? text : '(message removed)';
    case 'chat.edit':
      return `edited message #${String(field(data, 'seq'))} to: ${typeof text === 'string' ? text : '(removed)'}`;
    case 'chat.delete':
      return `deleted message #${String(field(data, 'seq'))}`;
    case 'chat.react':
      return `reacted ${String(field(data, 'emoji'))} to message #${String(field(data, 'seq'))}`;
    case 'chat.unreact':
      return `took back ${String(field(data, 'emoji'))} on message #${String(field(data, 'seq'))}`;
    case 'chat.private':
      return `privately: ${typeof text === 'string' ? text : '(removed)'}`;
    case 'chat.private.lost':
      return `${String(field(data, 'lost'))} private message(s) left the room before they could be recorded`;
    case 'hand.raise':
      return 'raised a hand';
    case 'hand.lower':
      return 'lowered a hand';
    case 'hand.clear':
      return 'lowered every hand';
    case 'wb.stroke':
      return 'drew on the board';
    case 'wb.shape':
      return `drew a ${String(field(data, 'kind') ?? 'shape')}`;
    case 'wb.erase':
      return 'erased an item';
    case 'wb.clear':
      return 'cleared the board';
    case 'wb.text':
      return typeof text === 'string' ? `wrote on the board: ${text}` : 'wrote on the board';
    case 'wb.undo':
      return 'took back a drawing';
    case 'wb.redo':
      return 'brought back a drawing';
    case 'wb.page.add':
      return 'added a board page';
    case 'wb.page.remove':
      return 'removed a board page';
    case 'wb.page.show':
      return 'turned the board to another page';
    case 'wb.page.browse':
      return field(data, 'free') === true ? 'let students browse the board pages' : 'had students follow the board page';
    case 'poll.results': {
      const options = field(data, 'options');
      const counts = field(data, 'counts');
      const tally = Array.isArray(options) && Array.isArray(counts) ? options.map((option, i) => `${String(option)}: ${String(counts[i] ?? 0)}`).join(', ') : '';
      return `poll results: ${String(field(data, 'question') ?? '')} (${tally}; ${String(field(data, 'respondents') ?? 0)} answered)`;
    }
    case 'class.start':
      return 'started the class';
    case 'class.end':
      return 'ended the class';
    case 'class.settings':
      return `changed the settings: ${JSON.stringify(data)}`;
    case 'moderation.mute':
      return `${field(data, 'muted') === true ? 'muted' : 'unmuted'} ${String(field(data, 'userId'))}`;
    case 'moderation.grant':
      return `${field(data, 'granted') === true ? 'let' : 'stopped'} ${String(field(data, 'userId'))} draw`;
    case 'moderation.remove':
      return `removed ${String(field(data, 'userId'))}`;
    default:
      return event.event;
  }
}

/** The transcript's kind of line: chat lines stand out, board and control events are quieter. */
export function eventKind(event: string): 'chat' | 'board' | 'control' {
  if (event.startsWith('chat.')) return 'chat';
  if (event.startsWith('wb.')) return 'board';
  return 'control';
}

/** One line of the transcript as shown: an event, or a run of one person's board changes. */
export interface TranscriptLine {
  /** The first event's id. */
  id: number;
  ts: number;
  event: string;
  author: string;
  text: string;
  kind: 'chat' | 'board' | 'control';
}

const DRAWING = new Set(['wb.stroke', 'wb.shape', 'wb.erase']);

/**
 * The events as lines. A stroke reaches the log as many small segments (then replaced by the whole
 * stroke), so consecutive drawing events by one person read as one line with the number of changes.
 */
export function transcriptLines(events: readonly TranscriptEvent[]): TranscriptLine[] {
  const lines: TranscriptLine[] = [];
  let run: { line: TranscriptLine; userId: string | null; count: number } | undefined;
  for (const event of events) {
    const author = event.author?.name ?? 'Removed user';
    const userId = event.author?.userId ?? null;
    if (DRAWING.has(event.event) && run !== undefined && run.userId === userId) {
      run.count += 1;
      run.line.text = `drew on the board (${run.count} changes)`;
      continue;
    }
    const line: TranscriptLine = { id: event.id, ts: event.ts, event: event.event, author, text: describeEvent(event), kind: eventKind(event.event) };
    lines.push(line);
    run = DRAWING.has(event.event) ? { line, userId, count: 1 } : undefined;
  }
  return lines;
}
