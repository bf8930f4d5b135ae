import type { Attendance, AttendanceInterval, Attendee } from '@classwire/protocol';
import type { Kysely } from 'kysely';
import type { AttendanceRow, RecordsDatabase } from './schema.js';

/** A drop shorter than this is one presence with an interruption (CLASSWIRE_RECORDS_RESUME_GRACE_SECONDS). */
export const DEFAULT_RESUME_GRACE_MS = 60_000;

export type { Attendance, AttendanceInterval, Attendee };

export interface AttendanceOptions {
  graceMs?: number | undefined;
  now?: number | undefined;
}

const LOST_CONNECTION = new Set(['disconnected', 'reaped']);

/**
 * The attendance of one class from its recorded intervals: each user's intervals merged (overlaps, as
 * from a class start while present, become one) and bridged over drops of at most `graceMs`, sorted by
 * name. Undefined when there is no such class.
 */
export async function computeAttendance(db: Kysely<RecordsDatabase>, classId: number, options: AttendanceOptions = {}): Promise<Attendance | undefined> {
  const graceMs = options.graceMs ?? DEFAULT_RESUME_GRACE_MS;
  const found = await db.selectFrom('classes').select(['id', 'room', 'started_at', 'ended_at']).where('id', '=', classId).executeTakeFirst();
  if (found === undefined) return undefined;
  const rows = await db.selectFrom('attendance').selectAll().where('class_id', '=', classId).orderBy('user_id').orderBy('joined_at').orderBy('id').execute();
  const byUser = new Map<string, AttendanceRow[]>();
  for (const row of rows) {
    const list = byUser.get(row.user_id);
    if (list === undefined) byUser.set(row.user_id, [row]);
    else list.push(row);
  }
  const until = found.ended_at ?? options.now ?? Date.now();
  const attendees = [...byUser.values()].map((list) => attendee(list, graceMs, until));
  attendees.sort((a, b) => (a.name === b.name ? compare(a.userId, b.userId) : compare(a.name, b.name)));
  return { classId: String(found.id), room: found.room, startedAt: found.started_at, endedAt: found.ended_at, attendees };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function attendee(rows: readonly AttendanceRow[], graceMs: number, until: number): Attendee {
  const intervals: AttendanceInterval[] = [];
  let interruptions = 0;
  for (const row of rows) {
    const last = intervals.at(-1);
    if (last === undefined) {
      intervals.push({ from: row.joined_at, to: row.left_at });
    } else if (last.to === null || row.joined_at <= last.to) {
      // Overlapping: the same presence seen twice.
      last.to = last.to === null || row.left_at === null ? null : Math.max(last.to, row.left_at);
    } else if (row.joined_at - last.to <= graceMs) {
      interruptions += 1;
      last.to = row.left_at;
    } else {
      intervals.push({ from: row.joined_at, to: row.left_at });
    }
  }
  const presentMs = intervals.reduce((sum, interval) => sum + Math.max(0, (interval.to ?? until) - interval.from), 0);
  const latest = rows.at(-1)!;
  return {
    userId: latest.user_id,
    name: latest.name,
    role: latest.role,
    firstJoin: intervals[0]!.from,
    lastLeave: intervals.at(-1)!.to,
    minutes: Math.round(presentMs / 6_000) / 10,
    interruptions,
    disconnects: rows.filter((row) => row.leave_reason !== null && LOST_CONNECTION.has(row.leave_reason)).length,
    intervals,
  };
}

const CSV_HEADER = 'user_id,name,role,first_join,last_leave,minutes,interruptions,disconnects';

/** The attendance as CSV (RFC 4180 quoting, ISO 8601 times); a cell a spreadsheet would run as a formula is prefixed with '. */
export function attendanceCsv(attendance: Attendance): string {
  const lines = [CSV_HEADER];
  for (const a of attendance.attendees) {
    const cells = [a.userId, a.name, a.role, iso(a.firstJoin), a.lastLeave === null ? '' : iso(a.lastLeave), a.minutes.toFixed(1), String(a.interruptions), String(a.disconnects)];
    lines.push(cells.map(csvCell).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function csvCell(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}
