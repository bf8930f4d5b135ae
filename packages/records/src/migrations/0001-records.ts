import { type Kysely, sql } from 'kysely';

/** The first schema: cursors, recorded events, gaps and classes. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('record_cursors')
    .addColumn('room', 'text', (column) => column.primaryKey())
    .addColumn('epoch', 'text', (column) => column.notNull())
    .addColumn('seq', 'bigint', (column) => column.notNull())
    .execute();
  await db.schema
    .createTable('classes')
    .addColumn('id', 'bigserial', (column) => column.primaryKey())
    .addColumn('room', 'text', (column) => column.notNull())
    .addColumn('started_at', 'bigint', (column) => column.notNull())
    .addColumn('ended_at', 'bigint')
    .addColumn('started_by', 'text')
    .execute();
  await db.schema.createIndex('classes_room_started').on('classes').columns(['room', 'started_at']).execute();
  // At most one class in progress per room: the recorder's "current class" is never ambiguous.
  await db.schema.createIndex('classes_one_open_per_room').on('classes').column('room').unique().where(sql.ref('ended_at'), 'is', null).execute();
  await db.schema
    .createTable('record_events')
    .addColumn('id', 'bigserial', (column) => column.primaryKey())
    .addColumn('room', 'text', (column) => column.notNull())
    .addColumn('epoch', 'text', (column) => column.notNull())
    .addColumn('seq', 'bigint', (column) => column.notNull())
    .addColumn('ts', 'bigint', (column) => column.notNull())
    .addColumn('event', 'text', (column) => column.notNull())
    .addColumn('data', 'jsonb')
    .addColumn('author_id', 'text')
    .addColumn('author_name', 'text')
    .addColumn('author_role', 'text')
    .addColumn('class_id', 'bigint', (column) => column.references('classes.id').onDelete('cascade'))
    .addColumn('erased', 'boolean', (column) => column.notNull().defaultTo(false))
    .addUniqueConstraint('record_events_position', ['room', 'epoch', 'seq'])
    .execute();
  await db.schema.createIndex('record_events_class').on('record_events').columns(['class_id', 'id']).execute();
  await db.schema.createIndex('record_events_author').on('record_events').column('author_id').execute();
  await db.schema.createIndex('record_events_ts').on('record_events').column('ts').execute();
  await db.schema
    .createTable('record_gaps')
    .addColumn('id', 'bigserial', (column) => column.primaryKey())
    .addColumn('room', 'text', (column) => column.notNull())
    .addColumn('epoch', 'text', (column) => column.notNull())
    .addColumn('from_seq', 'bigint', (column) => column.notNull())
    .addColumn('to_seq', 'bigint')
    .addColumn('detected_at', 'bigint', (column) => column.notNull())
    .addUniqueConstraint('record_gaps_position', ['room', 'epoch', 'from_seq'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['record_gaps', 'record_events', 'classes', 'record_cursors']) await db.schema.dropTable(table).execute();
}
