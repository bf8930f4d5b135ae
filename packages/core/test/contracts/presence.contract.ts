import { describe, it, expect } from 'vitest';
import type { Member } from '@classwire/protocol';
import type { PresenceStore } from '@classwire/core';

export type PresenceFactory = () => Promise<PresenceStore> | PresenceStore;

/** The PresenceStore port's behaviour, for every implementation. Rooms and users are unique per suite run. */
export function describePresenceContract(name: string, factory: PresenceFactory): void {
  describe(`PresenceStore contract: ${name}`, () => {
    const runId = globalThis.crypto.randomUUID().slice(0, 8);
    let counter = 0;
    const unique = (label: string): string => `${label}-${runId}-${++counter}`;

    const member = (userId: string, role: Member['role'] = 'student', name = `Name ${userId}`): Member => ({
      userId,
      name,
      role,
    });
    const byUser = (members: Member[]): Member[] => [...members].sort((a, b) => a.userId.localeCompare(b.userId));

    it('an empty room lists nobody', async () => {
      const presence = await factory();
      expect(await presence.list(unique('room'))).toEqual([]);
    });

    it('first add of a user returns true and lists the member with name and role', async () => {
      const presence = await factory();
      const room = unique('room');
      const ada = member(unique('ada'), 'teacher', 'Ada Lovelace');
      expect(await presence.add(room, ada, unique('c'))).toBe(true);
      expect(await presence.list(room)).toEqual([ada]);
    });

    it('two connections of one user are one member', async () => {
      const presence = await factory();
      const room = unique('room');
      const ada = member(unique('ada'));
      const c1 = unique('c');
      const c2 = unique('c');
      expect(await presence.add(room, ada, c1)).toBe(true);
      expect(await presence.add(room, ada, c2)).toBe(false);
      expect(await presence.list(room)).toEqual([ada]);

      expect(await presence.remove(room, ada.userId, c1)).toBe(false);
      expect(await presence.list(room)).toEqual([ada]);
      expect(await presence.remove(room, ada.userId, c2)).toBe(true);
      expect(await presence.list(room)).toEqual([]);
    });

    it('a user whose connections come and go stays one member until the last one leaves', async () => {
      const presence = await factory();
      const room = unique('room');
      const ada = member(unique('ada'));
      const [c1, c2, c3, c4] = [unique('c'), unique('c'), unique('c'), unique('c')];
      expect(await presence.add(room, ada, c1)).toBe(true);
      expect(await presence.add(room, ada, c2)).toBe(false);
      expect(await presence.add(room, ada, c3)).toBe(false);
      expect(await presence.remove(room, ada.userId, c2)).toBe(false);
      expect(await presence.remove(room, ada.userId, c1)).toBe(false);
      // Down to one connection, then a second again.
      expect(await presence.remove(room, ada.userId, c1)).toBe(false);
      expect(await presence.add(room, ada, c4)).toBe(false);
      expect(await presence.remove(room, ada.userId, c3)).toBe(false);
      expect(await presence.remove(room, ada.userId, c3)).toBe(false);
      expect(await presence.list(room)).toEqual([ada]);
      expect(await presence.remove(room, ada.userId, c4)).toBe(true);
      expect(await presence.list(room)).toEqual([]);
    });

    it('adding the same connection twice does not need two removes', async () => {
      const presence = await factory();
      const room = unique('room');
      const ada = member(unique('ada'));
      const c1 = unique('c');
      expect(await presence.add(room, ada, c1)).toBe(true);
      expect(await presence.add(room, ada, c1)).toBe(false);
      expect(await presence.remove(room, ada.userId, c1)).toBe(true);
      expect(await presence.list(room)).toEqual([]);
    });

    it('lists several users with their names and roles', async () => {
      const presence = await factory();
      const room = unique('room');
      const teacher = member(unique('t'), 'teacher', 'Ms T');
      const assistant = member(unique('a'), 'assistant', 'Mr A');
      const student = member(unique('s'), 'student', 'Sam');
      const observer = member(unique('o'), 'observer', 'Olive');
      for (const m of [teacher, assistant, student, observer]) expect(await presence.add(room, m, unique('c'))).toBe(true);
      expect(byUser(await presence.list(room))).toEqual(byUser([teacher, assistant, student, observer]));
    });

    it('a user leaving with the last connection returns true once; the others stay', async () => {
      const presence = await factory();
      const room = unique('room');
      const ada = member(unique('ada'));
      const bob = member(unique('bob'));
      const ca = unique('c');
      const cb = unique('c');
      await presence.add(room, ada, ca);
      await presence.add(room, bob, cb);
      expect(await presence.remove(room, ada.userId, ca)).toBe(true);
      expect(await presence.remove(room, ada.userId, ca)).toBe(false);
      expect(await presence.list(room)).toEqual([bob]);
    });

    it('rooms are independent', async () => {
      const presence = await factory();
      const r1 = unique('room');
      const r2 = unique('room');
      const ada = member(unique('ada'));
      const c1 = unique('c');
      expect(await presence.add(r1, ada, c1)).toBe(true);
      // The same user (even on the same connection) is new in another room.
      expect(await presence.add(r2, ada, c1)).toBe(true);
      expect(await presence.remove(r1, ada.userId, c1)).toBe(true);
      expect(await presence.list(r1)).toEqual([]);
      expect(await presence.list(r2)).toEqual([ada]);
    });

    it('removing unknown rooms, users or connections returns false and changes nothing', async () => {
      const presence = await factory();
      const room = unique('room');
      const ada = member(unique('ada'));
      const c1 = unique('c');
      expect(await presence.remove(unique('room'), ada.userId, c1)).toBe(false);
      await presence.add(room, ada, c1);
      expect(await presence.remove(room, unique('nobody'), c1)).toBe(false);
      expect(await presence.remove(room, ada.userId, unique('other-conn'))).toBe(false);
      expect(await presence.list(room)).toEqual([ada]);
    });

    it('list returns copies: mutating the result does not change the store', async () => {
      const presence = await factory();
      const room = unique('room');
      const ada = member(unique('ada'), 'student', 'Ada');
      await presence.add(room, ada, unique('c'));
      const listed = await presence.list(room);
      listed[0]!.name = 'Mallory';
      listed.push(member('intruder'));
      expect(await presence.list(room)).toEqual([member(ada.userId, 'student', 'Ada')]);
    });
  });
}
