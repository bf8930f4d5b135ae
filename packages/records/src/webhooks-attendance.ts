import type { Kysely } from 'kysely';
import { computeAttendance, DEFAULT_RESUME_GRACE_MS } from './attendance.js';
import type { RecordsDatabase } from './schema.js';
import type { AttendanceSummaryFn } from './webhooks.js';

/**
 * The attendance summary `class.ended` carries: the records' own attendance (`computeAttendance`, the
 * same figures as `GET /classes/{id}/attendance`), without the intervals.
 */
export function recordedAttendance(graceMs: number = DEFAULT_RESUME_GRACE_MS): AttendanceSummaryFn {
  return async (db: Kysely<RecordsDatabase>, classId: number) => {
    const attendance = await computeAttendance(db, classId, { graceMs });
    return {
      attendees: (attendance?.attendees ?? []).map((attendee) => ({
        userId: attendee.userId,
        name: attendee.name,
        role: attendee.role,
        firstJoin: attendee.firstJoin,
        lastLeave: attendee.lastLeave,
        minutesPresent: attendee.minutes,
        interruptions: attendee.interruptions,
        disconnects: attendee.disconnects,
      })),
    };
  };
}
