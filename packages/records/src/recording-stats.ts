/**
 * What the recorder and the webhook dispatcher count for the gateway's metrics (docs/operations.md).
 * Plain numbers, so they cross from the recording thread as data; the gateway turns them into
 * Prometheus series. Nothing here is keyed by room or user.
 */

/** Running totals since the process started; they only grow. */
export interface RecordingCounts {
  /**
   * Room recordings that committed: everything this node owed for the room (its log and poll results,
   * the private messages it stored), in a drain or a room recorded on its own.
   */
  roomsRecorded: number;
  /** Room recordings of which a write failed (the room stays in the backlog and is retried a second later). */
  roomsFailed: number;
  /** Room log messages written to the records. */
  eventsWritten: number;
  /** Gaps written: parts of a room's log that were gone before they could be recorded. */
  gapsRecorded: number;
}

/** Rooms noted (a message was sequenced) whose recording has not committed yet. */
export interface RecordingBacklog {
  rooms: number;
  /** When the oldest of them was first noted (epoch ms); undefined when there are none. */
  oldestNotedAt: number | undefined;
}

export type RecordingStats = RecordingCounts & RecordingBacklog;

export function zeroCounts(): RecordingCounts {
  return { roomsRecorded: 0, roomsFailed: 0, eventsWritten: 0, gapsRecorded: 0 };
}

export function addCounts(a: RecordingCounts, b: RecordingCounts): RecordingCounts {
  return {
    roomsRecorded: a.roomsRecorded + b.roomsRecorded,
    roomsFailed: a.roomsFailed + b.roomsFailed,
    eventsWritten: a.eventsWritten + b.eventsWritten,
    gapsRecorded: a.gapsRecorded + b.gapsRecorded,
  };
}

/** Two backlogs that hold different rooms (or the same room at two stages: it then counts twice, which errs towards "behind"). */
export function addBacklogs(a: RecordingBacklog, b: RecordingBacklog): RecordingBacklog {
  return { rooms: a.rooms + b.rooms, oldestNotedAt: earliest(a.oldestNotedAt, b.oldestNotedAt) };
}

export function earliest(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}

/** Outcomes of one endpoint's delivery attempts; each attempt is exactly one of them. */
export interface WebhookDeliveryCounts {
  /** The endpoint's number in the configuration (`1` for `CLASSWIRE_WEBHOOK_URL`, `2` for `_2_URL` …). */
  endpoint: string;
  /** Answered 2xx; the row left the outbox. */
  delivered: number;
  /** Any other answer, a timeout or a refused connection, with attempts still to come. */
  failed: number;
  /** A failed attempt after the retry window: the row became a dead letter. */
  deadLettered: number;
}

/** Rows of one endpoint waiting in the outbox for an attempt now (not dead, not claimed, due). */
export interface WebhookDue {
  endpoint: string;
  due: number;
}
