import { type Kysely, sql } from 'kysely';

/**
 * Attendance: who is in each room as recorded (`room_presence`), each user's presence intervals per
 * class (`attendance`), classes that started at a first join (`auto`) and when their room emptied
 * (`empty_since`), and private messages (no seq: keyed by their entry id instead).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('room_presence')
    .addColumn('room', 'text', (column) => column.notNull())
    .addColumn('user_id', 'text', (column) => column.notNull())
    .addColumn('name', 'text', (column) => column.notNull())
    .addColumn('role', 'text', (column) => column.notNull())
    .addColumn('since', 'bigint', (column) => column.notNull())
    .addPrimaryKeyConstraint('room_presence_key', ['room', 'user_id'])
    .execute();
  await db.schema
    .createTable('attendance')
    .addColumn('id', 'bigserial', (column) => column.primaryKey())
    .addColumn('class_id', 'bigint', (column) => column.notNull().references('classes.id').onDelete('cascade'))
    .addColumn('user_id', 'text', (column) => column.notNull())
    .addColumn('name', 'text', (column) => column.notNull())
    .addColumn('role', 'text', (column) => column.notNull())
    .addColumn('joined_at', 'bigint', (column) => column.notNull())
    .addColumn('left_at', 'bigint')
    .addColumn('leave_reason', 'text')
    .execute();
  await db.schema.createIndex('attendance_class_user').on('attendance').columns(['class_id', 'user_id', 'joined_at']).execute();
  await db.schema.createIndex('attendance_user').on('attendance').column('user_id').execute();
  await db.schema.alterTable('classes').addColumn('auto', 'boolean', (column) => column.notNull().defaultTo(false)).execute();
  await db.schema.alterTable('classes').addColumn('empty_since', 'bigint').execute();
  // A private message has no place in the log: it is recorded once by its entry id, with a null seq.
  await db.schema.alterTable('record_events').alterColumn('seq', (column) => column.dropNotNull()).execute();
  await db.schema.alterTable('record_events').addColumn('private_id', 'text').execute();
  await db.schema.createIndex('record_events_private').on('record_events').columns(['room', 'private_id']).unique().where(sql.ref('private_id'), 'is not', null).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('record_events_private').execute();
  await db.schema.alterTable('record_events').dropColumn('private_id').execute();
  await db.schema.alterTable('classes').dropColumn('empty_since').execute();
  await db.schema.alterTable('classes').dropColumn('auto').execute();
  await db.schema.dropTable('attendance').execute();
  await db.schema.dropTable('room_presence').execute();
}
