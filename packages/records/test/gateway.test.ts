import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { API_KEY, TestClient, makeToken, startTestGateway } from '../../../test-support/harness.js';
import type { Gateway } from '../../gateway/src/gateway.js';
import { RecordsStore } from '../src/index.js';
import { BACKENDS, type TestDatabase } from './databases.js';

/** The seam: a gateway configured with a database records its rooms and serves the records API. */
describe('gateway with records (Postgres)', () => {
  let database: TestDatabase;
  let gateway: Gateway;

  beforeAll(async () => {
    database = await BACKENDS[0].open();
    // The gateway opens its own connection to the suite's database, named by URL.
    const url = await database.url();
    gateway = await startTestGateway({ CLASSWIRE_DATABASE_URL: url, CLASSWIRE_CLASSROOM: '1' });
  });
  afterAll(async () => {
    await gateway.drain();
    await database.drop();
  });

  async function serverPublish(room: string, event: string, data: unknown): Promise<void> {
    const response = await fetch(`${gateway.url}/rooms/${room}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ event, data }),
    });
    expect(response.status).toBe(201);
  }

  it('records what is published and serves it through the records API', async () => {
    await serverPublish('physics', 'class.start', {});
    for (let i = 0; i < 10; i++) await serverPublish('physics', 'note.add', { n: i });
    await serverPublish('physics', 'class.end', {});

    const store = new RecordsStore(database.records.db);
    await vi.waitFor(async () => expect(await store.cursor('physics')).toMatchObject({ seq: 12 }), { timeout: 10_000, interval: 50 });
    const headers = { authorization: `Bearer ${API_KEY}` };
    const list = (await (await fetch(`${gateway.url}/classes?room=physics`, { headers })).json()) as { classes: { id: string; endedAt: number | null }[] };
    expect(list.classes).toHaveLength(1);
    const transcript = (await (await fetch(`${gateway.url}/classes/${list.classes[0]!.id}/transcript`, { headers })).json()) as { events: { seq: number }[] };
    expect(transcript.events.map((event) => event.seq)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect((await fetch(`${gateway.url}/classes`)).status).toBe(401);
  });

  it('records presence and private messages from live classroom members: attendance and a staff-only transcript', async () => {
    const room = 'history-7b';
    const teacherToken = await makeToken({ sub: 'gw-teacher', name: 'Mr Okafor', role: 'teacher', rooms: [room] });
    const teacher = await TestClient.connect(gateway, teacherToken);
    const student = await TestClient.connect(gateway, await makeToken({ sub: 'gw-student', name: 'Lin', role: 'student', rooms: [room] }));
    const teacherJoined = await teacher.join(room);
    expect(teacherJoined).toMatchObject({ type: 'joined' });
    expect(await student.join(room)).toMatchObject({ type: 'joined' });
    // The classroom joiner continues from its snapshot: its own join and the student's follow with no seq gap.
    const seqs = (await teacher.waitForMessages(room, 2)).map((frame) => frame.seq);
    expect(seqs).toEqual([(teacherJoined.seq as number) + 1, (teacherJoined.seq as number) + 2]);
    expect(await student.request({ action: 'publish', room, event: 'chat.private', data: { text: 'I need help with question 3' } })).toMatchObject({ type: 'ack' });
    await student.close();

    const store = new RecordsStore(database.records.db);
    await vi.waitFor(
      async () => {
        // In recorded order a private message may come after the log events of the same batch; by time it is in place.
        const events = (await store.roomEvents(room)).sort((x, y) => x.ts - y.ts || x.id - y.id);
        expect(events.map((event) => [event.event, event.author_id])).toEqual([
          ['presence.join', 'gw-teacher'],
          ['presence.join', 'gw-student'],
          ['chat.private', 'gw-student'],
          ['presence.leave', 'gw-student'],
        ]);
      },
      { timeout: 10_000, interval: 50 },
    );
    const staff = { authorization: `Bearer ${teacherToken}` };
    const list = (await (await fetch(`${gateway.url}/classes?room=${room}`, { headers: staff })).json()) as { classes: { id: string }[] };
    const id = list.classes[0]!.id;
    const transcript = (await (await fetch(`${gateway.url}/classes/${id}/transcript`, { headers: staff })).json()) as { events: { event: string; seq: number | null; data: unknown }[] };
    expect(transcript.events.find((event) => event.event === 'chat.private')).toMatchObject({ seq: null, data: { to: null, text: 'I need help with question 3' } });
    const studentToken = await makeToken({ sub: 'gw-student', role: 'student', rooms: [room] });
    expect((await fetch(`${gateway.url}/classes/${id}/transcript`, { headers: { authorization: `Bearer ${studentToken}` } })).status).toBe(403);
    const attendance = (await (await fetch(`${gateway.url}/classes/${id}/attendance`, { headers: staff })).json()) as { attendees: { userId: string; lastLeave: number | null; disconnects: number }[] };
    expect(attendance.attendees.map((a) => [a.userId, a.lastLeave === null, a.disconnects])).toEqual([
      ['gw-student', false, 1],
      ['gw-teacher', true, 0],
    ]);
    await teacher.close();
  });

  it('records each closed poll once, staff-only, with counts and voters; erasing a student takes them out of the voters', async () => {
    const room = 'quiz-room';
    const teacherToken = await makeToken({ sub: 'poll-teacher', name: 'Ms Ade', role: 'teacher', rooms: [room] });
    const teacher = await TestClient.connect(gateway, teacherToken);
    const students = await Promise.all(['poll-ana', 'poll-ben'].map(async (sub) => TestClient.connect(gateway, await makeToken({ sub, name: sub, role: 'student', rooms: [room] }))));
    for (const member of [teacher, ...students]) expect(await member.join(room)).toMatchObject({ type: 'joined' });
    const publish = (client: TestClient, event: string, data: unknown) => client.request({ action: 'publish', room, event, data });
    expect(await publish(teacher, 'class.start', {})).toMatchObject({ type: 'ack' });
    expect(await publish(teacher, 'poll.create', { id: 'q1', question: 'Largest planet?', options: ['Mars', 'Jupiter'], multiple: false, anonymous: false, correct: [1] })).toMatchObject({ type: 'ack' });
    expect(await publish(teacher, 'poll.open', { id: 'q1' })).toMatchObject({ type: 'ack' });
    expect(await publish(students[0]!, 'poll.answer', { id: 'q1', choices: [1] })).toMatchObject({ type: 'ack' });
    expect(await publish(students[1]!, 'poll.answer', { id: 'q1', choices: [0] })).toMatchObject({ type: 'ack' });
    expect(await publish(teacher, 'poll.close', { id: 'q1' })).toMatchObject({ type: 'ack' });
    // Sharing the results later records nothing twice.
    expect(await publish(teacher, 'poll.share', { id: 'q1' })).toMatchObject({ type: 'ack' });

    const store = new RecordsStore(database.records.db);
    const results = async () => (await store.roomEvents(room)).filter((event) => event.event === 'poll.results');
    await vi.waitFor(async () => expect(await results()).toHaveLength(1), { timeout: 10_000, interval: 50 });
    const [recorded] = await results();
    expect(recorded).toMatchObject({ seq: null, author_role: 'server' });
    expect(recorded!.data).toMatchObject({ id: 'q1', question: 'Largest planet?', options: ['Mars', 'Jupiter'], quiz: true, correct: [1], counts: [1, 1], respondents: 2 });
    const voters = (recorded!.data as { voters: { userId: string; choices: number[] }[] }).voters;
    expect(voters.map((voter) => [voter.userId, voter.choices]).sort()).toEqual([
      ['poll-ana', [1]],
      ['poll-ben', [0]],
    ]);
    const classId = (await store.listClasses({ room, limit: 1 }))[0]!.id;
    expect(recorded!.class_id).toBe(classId);
    const staff = { authorization: `Bearer ${teacherToken}` };
    const transcript = (await (await fetch(`${gateway.url}/classes/${classId}/transcript`, { headers: staff })).json()) as { events: { event: string }[] };
    expect(transcript.events.filter((event) => event.event === 'poll.results')).toHaveLength(1);

    expect((await fetch(`${gateway.url}/users/poll-ben/records`, { method: 'DELETE', headers: { authorization: `Bearer ${API_KEY}` } })).status).toBe(200);
    const [erased] = await results();
    expect((erased!.data as { voters: { userId: string }[]; counts: number[] }).voters.map((voter) => voter.userId)).toEqual(['poll-ana']);
    expect((erased!.data as { counts: number[] }).counts).toEqual([1, 1]);
    for (const member of [teacher, ...students]) await member.close();
  });
});
