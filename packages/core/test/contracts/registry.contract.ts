import { describe, it, expect } from 'vitest';
import type { Role } from '@classwire/protocol';
import type { ConnectionRecord, ConnectionRegistry } from '@classwire/core';

export type RegistryFactory = () => Promise<ConnectionRegistry> | ConnectionRegistry;

/** The ConnectionRegistry port's behaviour, for every implementation. Ids are unique per suite run. */
export function describeRegistryContract(name: string, factory: RegistryFactory): void {
  describe(`ConnectionRegistry contract: ${name}`, () => {
    const runId = globalThis.crypto.randomUUID().slice(0, 8);
    let counter = 0;
    const unique = (label: string): string => `${label}-${runId}-${++counter}`;

    function record(userId: string, overrides: Partial<ConnectionRecord> = {}): ConnectionRecord {
      return {
        connectionId: unique('conn'),
        userId,
        name: `Name of ${userId}`,
        role: 'student' as Role,
        rooms: ['physics-*', 'lobby'],
        expiresAt: 1_700_000_360_000,
        connectedAt: 1_700_000_000_000,
        node: 'node-a',
        ...overrides,
      };
    }

    const sorted = (values: Iterable<string>): string[] => [...values].sort();

    it('add then get returns the record with no rooms joined', async () => {
      const registry = await factory();
      const rec = record(unique('user'), { role: 'teacher', name: 'Grace' });
      await registry.add(rec);
      const state = await registry.get(rec.connectionId);
      expect(state).toBeDefined();
      expect(state).toMatchObject({
        connectionId: rec.connectionId,
        userId: rec.userId,
        name: 'Grace',
        role: 'teacher',
        expiresAt: rec.expiresAt,
        connectedAt: rec.connectedAt,
        node: 'node-a',
      });
      expect([...state!.rooms]).toEqual(['physics-*', 'lobby']);
      expect(state!.joined.size).toBe(0);
    });

    it('setExpiry moves a registered connection\'s expiry and never recreates a removed one', async () => {
      const registry = await factory();
      const rec = record(unique('user'));
      await registry.add(rec);
      await registry.joinRoom(rec.connectionId, 'lobby');
      expect(await registry.setExpiry(rec.connectionId, rec.expiresAt + 60_000)).toBe(true);
      const state = await registry.get(rec.connectionId);
      expect(state?.expiresAt).toBe(rec.expiresAt + 60_000);
      expect([...state!.joined]).toEqual(['lobby']);
      await registry.remove(rec.connectionId);
      expect(await registry.setExpiry(rec.connectionId, rec.expiresAt + 120_000)).toBe(false);
      expect(await registry.get(rec.connectionId)).toBeUndefined();
      expect(await registry.setExpiry(unique('missing'), rec.expiresAt)).toBe(false);
    });

    it('get of an unknown connection is undefined', async () => {
      const registry = await factory();
      expect(await registry.get(unique('missing'))).toBeUndefined();
    });

    it('joinRoom and leaveRoom are reflected in get().joined and members()', async () => {
      const registry = await factory();
      const a = record(unique('user'));
      const b = record(unique('user'));
      await registry.add(a);
      await registry.add(b);
      const room1 = unique('room');
      const room2 = unique('room');
      await registry.joinRoom(a.connectionId, room1);
      await registry.joinRoom(a.connectionId, room2);
      await registry.joinRoom(b.connectionId, room1);

      expect(sorted((await registry.get(a.connectionId))!.joined)).toEqual(sorted([room1, room2]));
      expect(sorted((await registry.get(b.connectionId))!.joined)).toEqual([room1]);
      expect(sorted(await registry.members(room1))).toEqual(sorted([a.connectionId, b.connectionId]));
      expect(await registry.members(room2)).toEqual([a.connectionId]);

      await registry.leaveRoom(a.connectionId, room1);
      expect(sorted((await registry.get(a.connectionId))!.joined)).toEqual([room2]);
      expect(await registry.members(room1)).toEqual([b.connectionId]);

      await registry.leaveRoom(b.connectionId, room1);
      expect(await registry.members(room1)).toEqual([]);
    });

    it('joining a room twice keeps one membership', async () => {
      const registry = await factory();
      const a = record(unique('user'));
      await registry.add(a);
      const room = unique('room');
      await registry.joinRoom(a.connectionId, room);
      await registry.joinRoom(a.connectionId, room);
      expect(await registry.members(room)).toEqual([a.connectionId]);
      expect([...(await registry.get(a.connectionId))!.joined]).toEqual([room]);
      await registry.leaveRoom(a.connectionId, room);
      expect(await registry.members(room)).toEqual([]);
    });

    it('leaving a room that was not joined is harmless', async () => {
      const registry = await factory();
      const a = record(unique('user'));
      await registry.add(a);
      const room = unique('room');
      await registry.leaveRoom(a.connectionId, room);
      await registry.leaveRoom(unique('missing'), room);
      expect((await registry.get(a.connectionId))!.joined.size).toBe(0);
      expect(await registry.members(room)).toEqual([]);
    });

    it('members of an unknown room is empty', async () => {
      const registry = await factory();
      expect(await registry.members(unique('room'))).toEqual([]);
    });

    it('remove returns the state with its rooms and drops every membership', async () => {
      const registry = await factory();
      const a = record(unique('user'));
      const b = record(unique('user'));
      await registry.add(a);
      await registry.add(b);
      const room1 = unique('room');
      const room2 = unique('room');
      await registry.joinRoom(a.connectionId, room1);
      await registry.joinRoom(a.connectionId, room2);
      await registry.joinRoom(b.connectionId, room1);

      const removed = await registry.remove(a.connectionId);
      expect(removed).toBeDefined();
      expect(removed).toMatchObject({ connectionId: a.connectionId, userId: a.userId, role: a.role, name: a.name });
      expect(sorted(removed!.joined)).toEqual(sorted([room1, room2]));

      expect(await registry.get(a.connectionId)).toBeUndefined();
      expect(await registry.members(room1)).toEqual([b.connectionId]);
      expect(await registry.members(room2)).toEqual([]);
      expect(await registry.countForUser(a.userId)).toBe(0);
      expect(await registry.connectionsOfUser(a.userId)).toEqual([]);
      // The other connection is untouched.
      expect([...(await registry.get(b.connectionId))!.joined]).toEqual([room1]);
    });

    it('remove is idempotent: undefined the second time', async () => {
      const registry = await factory();
      const a = record(unique('user'));
      await registry.add(a);
      expect(await registry.remove(a.connectionId)).toBeDefined();
      expect(await registry.remove(a.connectionId)).toBeUndefined();
      expect(await registry.remove(unique('never-added'))).toBeUndefined();
    });

    it('connectionsOfUser and countForUser cover every connection of a user', async () => {
      const registry = await factory();
      const user = unique('user');
      const other = unique('user');
      const c1 = record(user, { node: 'node-a' });
      const c2 = record(user, { node: 'node-b' });
      const c3 = record(other);
      await registry.add(c1);
      await registry.add(c2);
      await registry.add(c3);
      const room = unique('room');
      await registry.joinRoom(c2.connectionId, room);

      expect(await registry.countForUser(user)).toBe(2);
      expect(await registry.countForUser(other)).toBe(1);
      expect(await registry.countForUser(unique('nobody'))).toBe(0);
      expect(await registry.connectionsOfUser(unique('nobody'))).toEqual([]);

      const states = await registry.connectionsOfUser(user);
      expect(sorted(states.map((s) => s.connectionId))).toEqual(sorted([c1.connectionId, c2.connectionId]));
      for (const s of states) expect(s.userId).toBe(user);
      const withRoom = states.find((s) => s.connectionId === c2.connectionId)!;
      expect([...withRoom.joined]).toEqual([room]);
      expect(withRoom.node).toBe('node-b');
      expect(states.find((s) => s.connectionId === c1.connectionId)!.joined.size).toBe(0);

      await registry.remove(c1.connectionId);
      expect(await registry.countForUser(user)).toBe(1);
      expect((await registry.connectionsOfUser(user)).map((s) => s.connectionId)).toEqual([c2.connectionId]);
    });

    it('a slot reserved but not registered yet is not one of the user\'s connections', async () => {
      const registry = await factory();
      const user = unique('user');
      const registered = record(user);
      expect(await registry.reserveSlot(user, registered.connectionId, 5)).toBe(true);
      expect(await registry.reserveSlot(user, unique('conn'), 5)).toBe(true);
      expect(await registry.countForUser(user)).toBe(0);
      expect(await registry.connectionsOfUser(user)).toEqual([]);
      await registry.add(registered);
      expect(await registry.countForUser(user)).toBe(1);
      expect((await registry.connectionsOfUser(user)).map((s) => s.connectionId)).toEqual([registered.connectionId]);
    });

    it('reserveSlot takes at most max slots of a user, even concurrently; remove and releaseSlot free them', async () => {
      const registry = await factory();
      const user = unique('user');
      const ids = Array.from({ length: 12 }, () => unique('conn'));
      const taken = await Promise.all(ids.map((id) => registry.reserveSlot(user, id, 5)));
      expect(taken.filter(Boolean)).toHaveLength(5);
      const holders = ids.filter((_, i) => taken[i]);
      expect(await registry.reserveSlot(user, holders[0]!, 5)).toBe(true);
      expect(await registry.reserveSlot(unique('user'), unique('conn'), 5)).toBe(true);

      await registry.releaseSlot(user, holders[0]!);
      const registered = unique('conn');
      expect(await registry.reserveSlot(user, registered, 5)).toBe(true);
      expect(await registry.reserveSlot(user, unique('conn'), 5)).toBe(false);
      await registry.add(record(user, { connectionId: registered }));
      expect(await registry.reserveSlot(user, unique('conn'), 5)).toBe(false);
      await registry.remove(registered);
      expect(await registry.reserveSlot(user, unique('conn'), 5)).toBe(true);
    });

    it('joinRoom on an unknown connection is harmless', async () => {
      const registry = await factory();
      const ghost = unique('ghost');
      const room = unique('room');
      await expect(registry.joinRoom(ghost, room)).resolves.toBeUndefined();
      expect(await registry.get(ghost)).toBeUndefined();
      expect(await registry.members(room)).not.toContain(ghost);
      expect(await registry.remove(ghost)).toBeUndefined();
    });

    it('a removed connection can join nothing afterwards', async () => {
      const registry = await factory();
      const a = record(unique('user'));
      await registry.add(a);
      await registry.remove(a.connectionId);
      const room = unique('room');
      await registry.joinRoom(a.connectionId, room);
      expect(await registry.members(room)).toEqual([]);
      expect(await registry.get(a.connectionId)).toBeUndefined();
    });
  });
}
