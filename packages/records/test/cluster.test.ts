import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { API_KEY, SECRET, eventually } from '../../../test-support/harness.js';
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
