/**
 * The records HTTP API's attendance (`GET /classes/{id}/attendance`, packages/records), as the server
 * computes it and the class report (apps/classroom/src/report) reads it. Times are epoch milliseconds.
 */

export interface AttendanceInterval {
  from: number;
  /** Null while present. */
  to: number | null;
}

export interface Attendee {
  userId: string;
  name: string;
  role: string;
  firstJoin: number;
  lastLeave: number | null;
  /** Minutes present, one decimal; an open interval counts up to now (or the class's end). */
  minutes: number;
  /** Drops shorter than the grace, bridged into one presence. */
  interruptions: number;
  /** Connections lost (`disconnected`) or closed with a dead node (`reaped`), as opposed to leaving. */
  disconnects: number;
  intervals: AttendanceInterval[];
}

export interface Attendance {
  classId: string;
  room: string;
  startedAt: number;
  endedAt: number | null;
  attendees: Attendee[];
}
