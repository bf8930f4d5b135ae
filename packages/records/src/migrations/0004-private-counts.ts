import type { Kysely } from 'kysely';

/**
 * How many private messages each room's epoch had stored at its last private recording (the room state's
 * count): what arrived since, minus what the tail still held, is what was lost before being recorded.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('private_counts')
    .addColumn('room', 'text', (column) => column.notNull())
    .addColumn('epoch', 'text', (column) => column.notNull())
    .addColumn('stored', 'bigint', (column) => column.notNull())
    .addColumn('recorded_at', 'bigint', (column) => column.notNull())
    .addPrimaryKeyConstraint('private_counts_key', ['room', 'epoch'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('private_counts').execute();
}
