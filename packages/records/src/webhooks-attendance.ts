import type { Kysely } from 'kysely';
import type { RecordsDatabase } from './schema.js';
import type { AttendanceSummary, AttendeeSummary } from './webhooks.js';

const MINUTE_MS = 60_000;

/**
 * A plain attendance summary from the class's recorded `presence.join`/`presence.leave` events: each
 * join opens a visit, each leave closes it, a visit still open counts until the class ended. The
 * records' full attendance (merged interruptions, reaped nodes) replaces it where it is available.
 */
export async function presenceAttendance(db: Kysely<RecordsDatabase>, classId: number): Promise<AttendanceSummary> {
  const klass = await db.selectFrom('classes').select(['started_at', 'ended_at']).where('id', '=', classId).executeTakeFirst();
  const rows = await db
    .selectFrom('record_events')
    .select(['ts', 'event', 'data'])
    .where('class_id', '=', classId)
    .where('event', 'in', ['presence.join', 'presence.leave'])
    .orderBy('id')
    .execute();
  const end = klass?.ended_at ?? rows.at(-1)?.ts ?? klass?.started_at ?? 0;
  const people = new Map<string, AttendeeSummary & { openSince: number | null; presentMs: number; visits: number }>();
  for (const row of rows) {
    const data = (row.data ?? {}) as { userId?: unknown; name?: unknown; role?: unknown };
    if (typeof data.userId !== 'string') continue;
    let person = people.get(data.userId);
    if (person === undefined) {
      person = { userId: data.userId, name: typeof data.name === 'string' ? data.name : '', role: typeof data.role === 'string' ? data.role : '', firstJoin: row.ts, lastLeave: null, minutesPresent: 0, disconnects: 0, openSince: null, presentMs: 0, visits: 0 };
      people.set(data.userId, person);
    }
    if (row.event === 'presence.join' && person.openSince === null) {
      person.openSince = row.ts;
      person.visits += 1;
    } else if (row.event === 'presence.leave' && person.openSince !== null) {
      person.presentMs += row.ts - person.openSince;
      person.openSince = null;
      person.lastLeave = row.ts;
    }
  }
  const attendees = [...people.values()].map(({ openSince, presentMs, visits, ...person }) => {
    const total = presentMs + (openSince === null ? 0 : Math.max(0, end - openSince));
    return { ...person, lastLeave: openSince === null ? person.lastLeave : null, minutesPresent: Math.round((total / MINUTE_MS) * 10) / 10, disconnects: Math.max(0, visits - 1) };
  });
  return { attendees };
}
