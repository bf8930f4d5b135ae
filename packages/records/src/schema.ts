import type { Generated, Insertable, Selectable } from 'kysely';

/** The tables of the records database, as Kysely sees them (the migrations in `migrations/` create them). */
export interface RecordsDatabase {
  record_cursors: RecordCursorTable;
  private_counts: PrivateCountTable;
  record_events: RecordEventTable;
  record_gaps: RecordGapTable;
  classes: ClassTable;
  webhook_outbox: WebhookOutboxTable;
  room_presence: RoomPresenceTable;
  attendance: AttendanceTable;
}

/** Per room: the last position the recorder wrote, so a restarted recorder resumes exactly there. */
/** A room epoch's count of stored private messages at its last private recording (0004). */
export interface PrivateCountTable {
  room: string;
  epoch: string;
  stored: number;
  recorded_at: number;
}

export interface RecordCursorTable {
  room: string;
  epoch: string;
  seq: number;
}

/** One sequenced message of a room's log, recorded exactly once: unique on (room, epoch, seq). */
export interface RecordEventTable {
  id: Generated<number>;
  room: string;
  epoch: string;
  /** Null for a private message, which is not in the log (`private_id` identifies it instead). */
  seq: number | null;
  /** A private message's entry id (unique per room); null for messages of the log. */
  private_id: string | null;
  /** Server timestamp of the message, epoch ms. */
  ts: number;
  event: string;
  data: unknown;
  /** Null once the author was erased. */
  author_id: string | null;
  author_name: string | null;
  author_role: string | null;
  /** The class in progress when the message was sequenced (null outside a class). */
  class_id: number | null;
  /** Set when the author's personal data was erased: the row stays so the log keeps no hidden hole. */
  erased: Generated<boolean>;
}

/** Messages the live log no longer held when the recorder read it: recorded, never hidden. */
export interface RecordGapTable {
  id: Generated<number>;
  room: string;
  epoch: string;
  /** First and last missing seq; `to_seq` is null when a whole epoch's tail was lost. */
  from_seq: number;
  to_seq: number | null;
  detected_at: number;
}

export interface ClassTable {
  id: Generated<number>;
  room: string;
  started_at: number;
  ended_at: number | null;
  started_by: string | null;
  /** Started by a first join rather than `class.start`: it ends when the room stays empty. */
  auto: Generated<boolean>;
  /** When the last member left (epoch ms); null while anyone is present. */
  empty_since: number | null;
}

/** Who is in a room as the recorder has seen it: the presence state its events build. */
export interface RoomPresenceTable {
  room: string;
  user_id: string;
  name: string;
  role: string;
  since: number;
}

/** One presence interval of a user in a class, as recorded (merged and bridged by `computeAttendance`). */
export interface AttendanceTable {
  id: Generated<number>;
  class_id: number;
  user_id: string;
  name: string;
  role: string;
  joined_at: number;
  /** Null while present. */
  left_at: number | null;
  /** `left`, `disconnected`, `reaped`, or `class_ended` when the class ended around them. */
  leave_reason: string | null;
}

/** A webhook delivery still owed to one endpoint (deleted once delivered; `dead_at` once given up). */
export interface WebhookOutboxTable {
  id: Generated<number>;
  /** The endpoint's name in the configuration (`1`, `2`, ...). */
  endpoint: string;
  /** The Standard Webhooks `webhook-id`: the same on every attempt, so receivers de-duplicate. */
  message_id: string;
  type: string;
  /** The exact JSON body that is signed and sent, fixed at enqueue time. */
  body: string;
  created_at: number;
  /** Start of the retry window: the enqueue time, or the time of a manual redelivery. */
  retry_from: number;
  attempts: Generated<number>;
  /** When the row is next due; while an attempt is in flight, the end of its claim. */
  next_attempt_at: number;
  last_status: number | null;
  last_error: string | null;
  dead_at: number | null;
}

export type RecordEventRow = Selectable<RecordEventTable>;
export type NewRecordEvent = Insertable<RecordEventTable>;
export type ClassRow = Selectable<ClassTable>;
export type GapRow = Selectable<RecordGapTable>;
export type NewRecordGap = Insertable<RecordGapTable>;
export type WebhookOutboxRow = Selectable<WebhookOutboxTable>;
export type NewWebhookOutbox = Insertable<WebhookOutboxTable>;
export type AttendanceRow = Selectable<AttendanceTable>;
