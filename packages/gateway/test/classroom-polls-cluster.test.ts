import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { POLL_TALLY_EVENT, type ClassroomSnapshot, type PollTally } from '@classwire/protocol';
import { FaultProxy } from '../../../test-support/fault-proxy.js';
import { connect, type ClasswireClient, type Room } from '../../client/src/node.js';
import { SECRET, eventually, makeToken } from '../../../test-support/harness.js';
import { RedisProcess, freePort } from '../../../test-support/redis-server.js';

/**
 * A poll on three gateway processes sharing one Redis: 25 students answering at once are each counted
 * once, and the students of a node killed with SIGKILL, back through another node, answer again
 * without being counted twice.
 */

const CLI = fileURLToPath(new URL('../../cli/dist/cli.js', import.meta.url));
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function spawnNode(port: number, env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, [CLI, 'serve'], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', CLASSWIRE_JWT_SECRET: SECRET, LOG_LEVEL: 'warn', ...env },
    stdio: 'ignore',
  });
  cleanups.push(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  await eventually(async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200, 20_000);
  return child;
}

interface Member {
  client: ClasswireClient;
  room: Room;
  tallies: PollTally[];
  snapshots: ClassroomSnapshot[];
}

async function member(url: string, roomId: string, role: string, sub: string): Promise<Member> {
  const client = connect({ url, token: await makeToken({ sub, name: sub, role, rooms: ['*'] }), reconnect: { baseDelayMs: 50, maxDelayMs: 400 }, ackTimeoutMs: 3000, gapTimeoutMs: 200 });
  cleanups.push(() => client.close());
  const room = client.join(roomId);
  const tallies: PollTally[] = [];
  const snapshots: ClassroomSnapshot[] = [];
  room.on('*', (m) => {
    if ((m.event as string) === POLL_TALLY_EVENT) tallies.push((m as { data: unknown }).data as PollTally);
  });
  room.onSnapshot<ClassroomSnapshot>((s) => snapshots.push(s.state));
  room.onError(() => undefined);
  await room.ready;
  return { client, room, tallies, snapshots };
}

const newest = (tallies: readonly PollTally[]): PollTally | undefined => tallies.reduce<PollTally | undefined>((a, b) => (a === undefined || b.rev > a.rev ? b : a), undefined);

describe('a poll on three Redis nodes', () => {
  it('counts 25 simultaneous answers once each, and re-answers after a node is killed once too', async () => {
    const redis = await RedisProcess.start();
    cleanups.push(() => redis.kill());
    const ports = [await freePort(), await freePort(), await freePort()];
    const env = { CLASSWIRE_REDIS_URL: redis.url, CLASSWIRE_CLASSROOM: '1', CLASSWIRE_NODE_TTL_MS: '1500', CLASSWIRE_RATE_PER_SECOND: '2000', CLASSWIRE_RATE_BURST: '2000' };
    const children = await Promise.all(ports.map((port, i) => spawnNode(port, { ...env, CLASSWIRE_NODE_ID: `poll-${i}` })));
    const direct = (i: number): string => `ws://127.0.0.1:${ports[i]}/ws`;
    const roomId = 'quiz-class';

    const teacher = await member(direct(0), roomId, 'teacher', 'teacher');
    // Students on node 2 reach it through a balancer of their own that fails over to node 0 once it is dead.
    const students = await Promise.all(
      Array.from({ length: 25 }, async (_, i) => {
        const node = i % 3;
        let url = direct(node);
        if (node === 2) {
          const balancer = new FaultProxy([ports[2]!, ports[0]!]);
          await balancer.start();
          cleanups.push(() => balancer.stop());
          url = balancer.wsUrl;
        }
        return { node, choice: i % 3, ...(await member(url, roomId, 'student', `s${i}`)) };
      }),
    );
    await teacher.room.publish('poll.create', { id: 'p1', question: 'Which force?', options: ['gravity', 'friction', 'tension'], multiple: false, anonymous: false });
    await teacher.room.publish('poll.open', { id: 'p1' });

    await Promise.all(students.map((s) => s.room.publish('poll.answer', { id: 'p1', choices: [s.choice] })));
    await eventually(() => newest(teacher.tallies)?.rev === 25, 10_000);
    expect(newest(teacher.tallies)).toMatchObject({ respondents: 25, counts: [9, 8, 8] });

    children[2]!.kill('SIGKILL');
    const stranded = students.filter((s) => s.node === 2);
    // Back through node 0, each answers again: half the same, half changing their mind.
    const changed = stranded.filter((_, k) => k % 2 === 1);
    await Promise.all(
      stranded.map(async (s, k) => {
        const choices = [k % 2 === 1 ? (s.choice + 1) % 3 : s.choice];
        await eventually(async () => {
          try {
            await s.room.publish('poll.answer', { id: 'p1', choices });
            return true;
          } catch {
            return false;
          }
        }, 20_000);
      }),
    );
    const expectedRev = 25 + changed.length;
    await eventually(() => newest(teacher.tallies)?.rev === expectedRev, 10_000);
    const counts = [9, 8, 8];
    for (const s of changed) {
      counts[s.choice] = counts[s.choice]! - 1;
      counts[(s.choice + 1) % 3] = counts[(s.choice + 1) % 3]! + 1;
    }
    expect(newest(teacher.tallies)).toMatchObject({ respondents: 25, counts });

    // A staff member joining now finds the same tally, with one answer per student.
    const assistant = await member(direct(1), roomId, 'assistant', 'ta');
    const tally = assistant.snapshots[0]!.pollTallies![0]!;
    expect(tally).toMatchObject({ rev: expectedRev, respondents: 25, counts });
    expect(new Set(tally.voters!.map((v) => v.userId)).size).toBe(25);
    console.log(`poll on 3 Redis nodes: 25 answers at once → respondents 25; ${stranded.length} students re-answered after kill -9 of their node (${changed.length} changed) → respondents 25, counts ${counts.join('/')}`);
  }, 90_000);
});
