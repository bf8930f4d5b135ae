import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DEFAULTS, redisKeys } from '@classwire/core';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { API_KEY, SECRET, TestClient, eventually, makeToken } from '../../../test-support/harness.js';
import { RedisProcess, freePort } from '../../../test-support/redis-server.js';
import { RecordsStore } from '../src/index.js';
import { BACKENDS } from './databases.js';

const CLI = fileURLToPath(new URL('../../cli/dist/cli.js', import.meta.url));
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** A gateway node as its own process (the CLI's build), so it can be killed with SIGKILL. */
async function spawnNode(env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const child = spawn(process.execPath, [CLI, 'serve'], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', CLASSWIRE_JWT_SECRET: SECRET, CLASSWIRE_API_KEY: API_KEY, CLASSWIRE_CLASSROOM: '0', LOG_LEVEL: 'warn', ...env },
    stdio: 'ignore',
  });
  cleanups.push(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const url = `http://127.0.0.1:${port}`;
  await eventually(async () => (await fetch(`${url}/readyz`).catch(() => undefined))?.status === 200, 20_000);
  return { child, url };
}

async function publish(url: string, event: string, data: unknown): Promise<void> {
  const response = await fetch(`${url}/rooms/chemistry/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ event, data }),
  });
  expect(response.status).toBe(201);
}

describe('records with two Redis nodes sharing one Postgres', () => {
  it('records a class exactly once and completely when a node is killed mid-class', async () => {
    const redis = await RedisProcess.start();
    cleanups.push(() => redis.kill());
    const database = await BACKENDS[0].open();
    cleanups.push(() => database.drop());
    const env = { CLASSWIRE_REDIS_URL: redis.url, CLASSWIRE_DATABASE_URL: await database.url() };
    const [a, b] = [await spawnNode({ ...env, CLASSWIRE_NODE_ID: 'rec-a' }), await spawnNode({ ...env, CLASSWIRE_NODE_ID: 'rec-b' })];

    await publish(a.url, 'class.start', {});
    for (let i = 0; i < 20; i++) await publish(i % 2 === 0 ? a.url : b.url, 'note.add', { n: i });
    // The last messages through A are sequenced in Redis; A dies before (or while) recording them.
    for (let i = 20; i < 25; i++) await publish(a.url, 'note.add', { n: i });
    a.child.kill('SIGKILL');
    for (let i = 25; i < 30; i++) await publish(b.url, 'note.add', { n: i });
    await publish(b.url, 'class.end', {});

    const store = new RecordsStore(database.records.db);
    await vi.waitFor(async () => expect(await store.cursor('chemistry')).toMatchObject({ seq: 32 }), { timeout: 15_000, interval: 100 });
    const events = await store.roomEvents('chemistry');
    expect(events.map((event) => event.seq)).toEqual(Array.from({ length: 32 }, (_, i) => i + 1));
    expect(events.slice(1, 31).map((event) => (event.data as { n: number }).n)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    const classes = await store.listClasses({ room: 'chemistry', limit: 10 });
    expect(classes).toHaveLength(1);
    expect(classes[0]!.ended_at).toBe(events[31]!.ts);
    expect(await store.gaps('chemistry')).toEqual([]);
  }, 60_000);
});

describe('records with three Redis nodes: presence, attendance and transcript when a node is killed', () => {
  it('records each message and each first join/last leave once; the killed node members leave as reaped', async () => {
    const redis = await RedisProcess.start();
    cleanups.push(() => redis.kill());
    const database = await BACKENDS[0].open();
    cleanups.push(() => database.drop());
    const env = { CLASSWIRE_REDIS_URL: redis.url, CLASSWIRE_DATABASE_URL: await database.url(), CLASSWIRE_NODE_TTL_MS: '1500' };
    const [a, b, c] = [
      await spawnNode({ ...env, CLASSWIRE_NODE_ID: 'att-a' }),
      await spawnNode({ ...env, CLASSWIRE_NODE_ID: 'att-b' }),
      await spawnNode({ ...env, CLASSWIRE_NODE_ID: 'att-c' }),
    ];
    const room = 'physics';
    const client = async (url: string, userId: string, name: string, role: 'teacher' | 'student') => {
      const connected = await TestClient.connect(url, await makeToken({ sub: userId, name, role, rooms: [room] }));
      cleanups.push(() => connected.close());
      expect(await connected.join(room)).toMatchObject({ type: 'joined' });
      return connected;
    };
    let n = 0;
    const note = async (from: TestClient) => expect(await from.request({ action: 'publish', room, event: 'note.add', data: { n: n++ } })).toMatchObject({ type: 'ack' });

    const teacher = await client(b.url, 't-1', 'Ms Rivera', 'teacher');
    const adaOnA = await client(a.url, 's-ada', 'Ada', 'student');
    const adaOnB = await client(b.url, 's-ada', 'Ada', 'student');
    const carl = await client(a.url, 's-carl', 'Carl', 'student');
    const bob = await client(c.url, 's-bob', 'Bob', 'student');
    for (const from of [teacher, adaOnA, carl, bob, adaOnB, teacher, carl, adaOnA]) await note(from);
    // A dies with its members: Ada stays present through her tab on B, Carl is reaped by B or C.
    a.child.kill('SIGKILL');
    const killedAt = Date.now();
    for (const from of [bob, teacher, adaOnB]) await note(from);
    const headers = { authorization: `Bearer ${API_KEY}` };
    // A live node has reaped A once A has left the node set (after all of A's connections were removed).
    const watcher = new Redis(redis.url);
    cleanups.push(() => watcher.disconnect());
    await eventually(async () => !(await watcher.smembers(redisKeys(DEFAULTS.redisPrefix).nodes())).includes('att-a'), 15_000);
    const members = ((await (await fetch(`${c.url}/rooms/${room}/presence`, { headers })).json()) as { members: { userId: string }[] }).members;
    expect(members.map((member) => member.userId).sort()).toEqual(['s-ada', 's-bob', 't-1']);
    await adaOnB.request({ action: 'leave', room });
    await bob.close();
    // The server handles the close on its own time: Bob's leave is in the log before the teacher's.
    await eventually(async () => {
      const present = ((await (await fetch(`${c.url}/rooms/${room}/presence`, { headers })).json()) as { members: { userId: string }[] }).members;
      return !present.some((member) => member.userId === 's-bob');
    }, 10_000);
    await note(teacher);
    await teacher.request({ action: 'leave', room });

    const store = new RecordsStore(database.records.db);
    const live = (await (await fetch(`${b.url}/rooms/${room}/history?limit=500`, { headers })).json()) as { seq: number };
    await vi.waitFor(async () => expect(await store.cursor(room)).toMatchObject({ seq: live.seq }), { timeout: 15_000, interval: 100 });
    const events = await store.roomEvents(room);
    expect(events.map((event) => event.seq)).toEqual(Array.from({ length: live.seq }, (_, i) => i + 1));
    expect(events.filter((event) => event.event === 'note.add').map((event) => (event.data as { n: number }).n)).toEqual(Array.from({ length: n }, (_, i) => i));
    const presence = events.filter((event) => event.event.startsWith('presence.')).map((event) => [event.event, event.author_id, (event.data as { reason?: string }).reason]);
    expect(presence).toEqual([
      ['presence.join', 't-1', undefined],
      ['presence.join', 's-ada', undefined],
      ['presence.join', 's-carl', undefined],
      ['presence.join', 's-bob', undefined],
      ['presence.leave', 's-carl', 'reaped'],
      ['presence.leave', 's-ada', 'left'],
      ['presence.leave', 's-bob', 'disconnected'],
      ['presence.leave', 't-1', 'left'],
    ]);
    expect(await store.gaps(room)).toEqual([]);

    const classes = (await (await fetch(`${c.url}/classes?room=${room}`, { headers })).json()) as { classes: { id: string }[] };
    expect(classes.classes).toHaveLength(1);
    const attendance = (await (await fetch(`${c.url}/classes/${classes.classes[0]!.id}/attendance`, { headers })).json()) as {
      startedAt: number;
      attendees: { userId: string; firstJoin: number; lastLeave: number | null; disconnects: number; intervals: unknown[] }[];
    };
    expect(attendance.attendees.map((a) => [a.userId, a.intervals.length, a.disconnects])).toEqual([
      ['s-ada', 1, 0],
      ['s-bob', 1, 1],
      ['s-carl', 1, 1],
      ['t-1', 1, 0],
    ]);
    expect(attendance.startedAt).toBe(attendance.attendees[3]!.firstJoin);
    // Carl's presence closed when a live node reaped A: after the kill, not at his last message.
    expect(attendance.attendees[2]!.lastLeave).toBeGreaterThanOrEqual(killedAt);
  }, 90_000);
});
