import { type Kysely, sql } from 'kysely';

/**
 * The webhook outbox: one row per (endpoint, event) still to deliver, written in the recorder's
 * transaction, deleted once delivered, kept with `dead_at` once its retry window ran out.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('webhook_outbox')
    .addColumn('id', 'bigserial', (column) => column.primaryKey())
    .addColumn('endpoint', 'text', (column) => column.notNull())
    .addColumn('message_id', 'text', (column) => column.notNull())
    .addColumn('type', 'text', (column) => column.notNull())
    .addColumn('body', 'text', (column) => column.notNull())
    .addColumn('created_at', 'bigint', (column) => column.notNull())
    .addColumn('retry_from', 'bigint', (column) => column.notNull())
    .addColumn('attempts', 'integer', (column) => column.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'bigint', (column) => column.notNull())
    .addColumn('last_status', 'integer')
    .addColumn('last_error', 'text')
    .addColumn('dead_at', 'bigint')
    // A re-recorded event (two writers, a retried batch) enqueues nothing twice.
    .addUniqueConstraint('webhook_outbox_message', ['endpoint', 'message_id'])
    .execute();
  await db.schema.createIndex('webhook_outbox_due').on('webhook_outbox').columns(['endpoint', 'next_attempt_at', 'id']).where(sql.ref('dead_at'), 'is', null).execute();
  await db.schema.createIndex('webhook_outbox_dead').on('webhook_outbox').columns(['dead_at', 'id']).where(sql.ref('dead_at'), 'is not', null).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('webhook_outbox').execute();
}
