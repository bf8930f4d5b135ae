import { StoreUnavailableError, type HistoryArchive, type StoredMessage } from '@classwire/core';
import { composeMessageFrame, encodeMessageBody, isRole } from '@classwire/protocol';
import type { RecordsStore } from './store.js';

/**
 * The class records as the engine's history archive (`history` requests older than the live log): each
 * recorded event as the message frame the room delivered, an erased author as 'Removed user'. `getStore`
 * answers the store, or undefined while there is none yet (`StoreUnavailableError`, so the member gets
 * `unavailable` and retries); a runtime that opens the database on demand returns a promise, and turns
 * its own failures into `StoreUnavailableError`. Shared by `RecordsService` and the AWS engine functions.
 */
export function recordsArchive(getStore: () => Promise<RecordsStore> | RecordsStore | undefined): HistoryArchive {
  return {
    async before(room, epoch, before, limit) {
      const store = await getStore();
      if (store === undefined) throw new StoreUnavailableError('class records are not open yet');
      const rows = await store.eventsBefore(room, epoch, before, limit);
      return rows.map(
        (row): StoredMessage => ({
          seq: row.seq,
          frame: composeMessageFrame(
            room,
            row.seq,
            row.ts,
            encodeMessageBody(row.event, row.data, { userId: row.author_id ?? '', name: row.author_name ?? 'Removed user', role: isRole(row.author_role) ? row.author_role : 'server' }),
          ),
        }),
      );
    },
  };
}
