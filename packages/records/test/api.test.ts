import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { JwtAuthorizer, MemoryBroker, MemoryPresence, type RoomDelivery } from '@classwire/core';
import { encodeMessageBody, PRESENCE_EVENTS, type Sender } from '@classwire/protocol';
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY, makeToken, SECRET } from '../../../test-support/harness.js';
import { createRecordsApi, Recorder, RecordsStore } from '../src/index.js';
import { BACKENDS, type TestDatabase } from './databases.js';
import { expectDocumented, spec } from './openapi.js';

const teacher: Sender = { userId: 't-1', name: 'Ms Rivera', role: 'teacher' };
const student: Sender = { userId: 's-1', name: 'Ada', role: 'student' };
const noDelivery: RoomDelivery = { deliver: () => undefined, hasMembers: () => false, closeMembers: () => undefined };

it('the records OpenAPI document is a valid OpenAPI 3.1 document', async () => {
  const result = await new Validator().validate(spec as unknown as Record<string, unknown>);
  expect(result.errors).toBeUndefined();
  expect(result.valid).toBe(true);
});

describe.each(BACKENDS)('records API on $name', ({ open }) => {
  let database: TestDatabase;
  let server: Server;
  let base: string;
  const broker = new MemoryBroker({ delivery: noDelivery });
  const presence = new MemoryPresence();

  let recordRoom: (room: string) => Promise<void>;

  beforeAll(async () => {
    database = await open();
    const store = new RecordsStore(database.records.db);
    const api = createRecordsApi({
      store,
      broker,
      presence,
      authenticateBackend: (req) => Promise.resolve(req.headers.authorization === `Bearer ${API_KEY}`),
      authorizer: new JwtAuthorizer({ secret: SECRET }),
      keepErasedMessages: true,
      logger: { warn: () => undefined, error: () => undefined },
    });
    server = createServer((req, res) => {
      api(req, res).then(
        (handled) => handled || res.writeHead(404).end(),
        () => res.writeHead(500).end(),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const recorder = new Recorder({ store, broker, logger: { warn: () => undefined } });
    recordRoom = (room) => recorder.recordRoom(room);
    const publish = (room: string, event: string, data: unknown, from: Sender) => broker.publish(room, encodeMessageBody(event, data, from));
    await publish('algebra', 'class.start', {}, teacher);
    for (let i = 0; i < 5; i++) await publish('algebra', 'chat.message', { text: `q${i}` }, student);
    await publish('algebra', 'class.end', {}, teacher);
    await publish('biology', 'class.start', {}, teacher);
    recorder.noteActivity('algebra');
    recorder.noteActivity('biology');
    await recorder.settled();
    await presence.add('algebra', { userId: 's-1', name: 'Ada', role: 'student' }, 'c-1');
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await database.drop();
  });

  const statuses: number[] = [];
  afterEach(() => {
    // Never a 500: every answer above came from the documented set.
    expect(statuses.filter((status) => status >= 500)).toEqual([]);
  });

  async function call(method: string, path: string, auth: string | null = `Bearer ${API_KEY}`): Promise<{ status: number; body: unknown; headers: Record<string, string> }> {
    const response = await fetch(`${base}${path}`, { method, headers: auth === null ? {} : { authorization: auth } });
    const text = await response.text();
    const body: unknown = text === '' ? '' : JSON.parse(text);
    const headers = Object.fromEntries(response.headers);
    statuses.push(response.status);
    expectDocumented(method, new URL(path, base).pathname, response.status, body, headers);
    return { status: response.status, body, headers };
  }

  it('lists classes by room and time, and shows one with its staff', async () => {
    const all = await call('GET', '/classes');
    expect((all.body as { classes: unknown[] }).classes).toHaveLength(2);
    const algebra = await call('GET', '/classes?room=algebra&from=0');
    const [summary] = (algebra.body as { classes: { id: string; endedAt: number | null }[] }).classes;
    expect(summary!.endedAt).not.toBeNull();
    expect((await call('GET', `/classes?room=algebra&to=1`)).body).toEqual({ classes: [] });
    const detail = await call('GET', `/classes/${summary!.id}`);
    expect(detail.body).toMatchObject({ room: 'algebra', staff: [{ userId: 't-1', role: 'teacher' }] });
  });

  it('pages a transcript in order until next is null', async () => {
    const { body } = await call('GET', '/classes?room=algebra');
    const id = (body as { classes: { id: string }[] }).classes[0]!.id;
    const seen: number[] = [];
    let after = 0;
    for (;;) {
      const page = (await call('GET', `/classes/${id}/transcript?after=${after}&limit=3`)).body as { events: { seq: number }[]; next: number | null };
      seen.push(...page.events.map((event) => event.seq));
      if (page.next === null) break;
      after = page.next;
    }
    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('serves the live presence and history of a room', async () => {
    expect((await call('GET', '/rooms/algebra/presence')).body).toEqual({ room: 'algebra', members: [{ userId: 's-1', name: 'Ada', role: 'student' }] });
    const history = (await call('GET', '/rooms/algebra/history?since=5&limit=1')).body;
    expect(history).toMatchObject({ room: 'algebra', seq: 7, recovered: true, more: true, messages: [{ seq: 6, event: 'chat.message' }] });
  });

  it('lets a staff token read only the rooms in its claims', async () => {
    const staff = `Bearer ${await makeToken({ role: 'teacher', rooms: ['algebra'] })}`;
    expect((await call('GET', '/classes?room=algebra', staff)).status).toBe(200);
    expect((await call('GET', '/classes?room=biology', staff)).status).toBe(403);
    expect((await call('GET', '/classes', staff)).status).toBe(403);
    expect((await call('GET', '/rooms/biology/presence', staff)).status).toBe(403);
    const biology = ((await call('GET', '/classes?room=biology')).body as { classes: { id: string }[] }).classes[0]!.id;
    expect((await call('GET', `/classes/${biology}`, staff)).status).toBe(404);
    expect((await call('DELETE', '/users/s-1/records', staff)).status).toBe(403);
    const studentToken = `Bearer ${await makeToken({ role: 'student', rooms: ['algebra'] })}`;
    expect((await call('GET', '/classes?room=algebra', studentToken)).status).toBe(403);
  });

  it('answers bad input and bad credentials with a 4xx from the catalogue', async () => {
    expect((await call('GET', '/classes', null)).status).toBe(401);
    expect((await call('GET', '/classes', 'Bearer wrong')).status).toBe(403);
    expect((await call('GET', '/classes', 'Bearer a.b.c')).status).toBe(401);
    for (const path of ['/classes?limit=0', '/classes?limit=100000', '/classes?from=-1', '/classes?from=1e20', '/classes/1/transcript?after=99999999999999999999', '/classes?room=bad%20room', '/classes/abc', '/classes/1e400', '/classes/1/transcript?after=x', '/rooms/algebra/history?since=-2', '/rooms/%E0%A4%A/presence']) {
      const { status, body } = await call('GET', path);
      expect(status, path).toBe(400);
      expect(body).toMatchObject({ code: 'bad_request' });
    }
    expect((await call('GET', '/classes/999999')).status).toBe(404);
    // A method the path does not serve: 405 with Allow from the route table (the document's x-method-not-allowed),
    // before any credential is looked at; HEAD is not served, so it is one of these.
    const wrongMethods = [
      ['POST', '/classes', 'GET'],
      ['PUT', '/classes/1', 'GET, DELETE'],
      ['GET', '/users/s-1/records', 'DELETE'],
      ['GET', '/webhooks/dead-letters/1/redeliver', 'POST'],
      ['HEAD', '/rooms/algebra/presence', 'GET'],
    ] as const;
    for (const [method, path, allow] of wrongMethods) {
      const answer = await call(method, path);
      expect([answer.status, answer.headers.allow], `${method} ${path}`).toEqual([405, allow]);
      if (method !== 'HEAD') expect(answer.body, `${method} ${path}`).toEqual({ code: 'bad_request', message: `method ${method} is not supported here; use ${allow}` });
    }
    expect((await call('DELETE', '/classes', null)).headers.allow).toBe('GET');
  });

  it('erases a user and deletes a class', async () => {
    const erased = await call('DELETE', '/users/s-1/records');
    expect(erased.body).toEqual({ userId: 's-1', erasedEvents: 5, messagesKept: true });
    const id = ((await call('GET', '/classes?room=algebra')).body as { classes: { id: string }[] }).classes[0]!.id;
    const page = (await call('GET', `/classes/${id}/transcript`)).body as { events: { event: string; author: unknown; data: unknown }[] };
    expect(page.events[1]).toMatchObject({ event: 'chat.message', author: null, data: { text: 'q0' } });
    expect((await call('DELETE', `/classes/${id}`)).status).toBe(204);
    expect((await call('GET', `/classes/${id}`)).status).toBe(404);
  });

  it('serves a class attendance as JSON and, with Accept: text/csv, as injection-safe CSV, to staff of the room', async () => {
    const room = 'chemistry';
    const grace: Sender = { userId: 's-9', name: '@Grace, "G"', role: 'student' };
    for (const [event, who] of [[PRESENCE_EVENTS.join, teacher], [PRESENCE_EVENTS.join, grace], [PRESENCE_EVENTS.leave, grace]] as const) {
      const data = event === PRESENCE_EVENTS.leave ? { ...who, reason: 'left' } : { ...who };
      await broker.publish(room, encodeMessageBody(event, data, who));
    }
    await recordRoom(room);
    const id = ((await call('GET', `/classes?room=${room}`)).body as { classes: { id: string }[] }).classes[0]!.id;
    const { body } = await call('GET', `/classes/${id}/attendance`);
    expect(body).toMatchObject({ classId: id, room, endedAt: null, attendees: [{ userId: 's-9', disconnects: 0 }, { userId: 't-1', lastLeave: null }] });
    expect((body as { attendees: { lastLeave: number | null }[] }).attendees[0]!.lastLeave).not.toBeNull();

    const staff = `Bearer ${await makeToken({ role: 'teacher', rooms: [room] })}`;
    expect((await call('GET', `/classes/${id}/attendance`, staff)).body).toMatchObject({ classId: id });
    expect((await call('GET', `/classes/${id}/attendance`, `Bearer ${await makeToken({ role: 'teacher', rooms: ['algebra'] })}`)).status).toBe(404);
    expect((await call('GET', `/classes/${id}/attendance`, `Bearer ${await makeToken({ role: 'student', rooms: [room] })}`)).status).toBe(403);
    expect((await call('GET', `/classes/x/attendance`)).status).toBe(400);

    const csv = await fetch(`${base}/classes/${id}/attendance`, { headers: { authorization: staff, accept: 'text/csv' } });
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    const lines = (await csv.text()).split('\r\n');
    expect(lines[0]).toBe('user_id,name,role,first_join,last_leave,minutes,interruptions,disconnects');
    expect(lines[1]).toMatch(/^s-9,"'@Grace, ""G""",student,\d{4}-\d\d-\d\dT[^,]+Z,\d{4}-[^,]+Z,0\.0,0,0$/);
    expect(lines[2]).toMatch(/^t-1,Ms Rivera,teacher,[^,]+Z,,\d+\.\d,0,0$/);
  });
});
