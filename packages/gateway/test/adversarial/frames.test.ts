import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE_CODES, DEFAULT_LIMITS, isErrorCode } from '@classwire/protocol';
import type { Gateway } from '../../src/index.js';
import { capturingLogger, fuzzParameters, type LogRecord } from '../../../../test-support/adversarial.js';
import { clientFrameText, type FrameScene } from '../../../../test-support/frame-arbitraries.js';
import { TestClient, makeToken, startRuntime, type Frame, type RuntimeName } from '../../../../test-support/harness.js';

/**
 * Every inbound frame type and every classroom event, fuzzed against a running server: it never
 * answers `internal`, logs no unexpected exception, sends only catalogue codes, and never closes or
 * starves anyone else (a bystander in the fuzzer's room keeps receiving a teacher's messages).
 */

/** Rates out of the way: the fuzzer tests what the server does with a frame, not how fast it may send them. */
const ENV = {
  CLASSWIRE_CLASSROOM: '1',
  CLASSWIRE_RATE_PER_SECOND: '100000',
  CLASSWIRE_RATE_BURST: '100000',
  CLASSWIRE_CLASS_EVENTS_PER_SECOND: '100000',
  CLASSWIRE_CLASS_EVENT_BURST: '100000',
  CLASSWIRE_ROOM_JOIN_BURST: '100000',
};

interface FuzzTarget {
  client: TestClient;
  scene: FrameScene;
  /** Called when the fuzzer was closed; returns its replacement when that close was legitimate. */
  reopen(code: number, closed: TestClient): Promise<TestClient | undefined>;
}

function idOf(raw: string): string | undefined {
  try {
    const id = (JSON.parse(raw) as { id?: unknown } | null)?.id;
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}

/** Pings and waits for the pong, or for the close that a frame legitimately caused. */
async function probe(client: TestClient, n: number): Promise<{ answer: Frame } | { closed: number }> {
  const closed = client.waitClosed().then((code) => ({ closed: code }));
  const pong = client.request({ action: 'ping', id: `probe-${n}` }).then((answer) => ({ answer }));
  return Promise.race([pong, closed]);
}

async function fuzzFrames(target: FuzzTarget, logErrors: LogRecord[], numRuns: number, stream: number, everyFewRuns: () => Promise<void>): Promise<void> {
  let n = 0;
  const sentWithId = new Map<string, string>();
  await fc.assert(
    fc.asyncProperty(clientFrameText(target.scene), async (raw) => {
      n += 1;
      const client = target.client;
      const framesBefore = client.frames.length;
      const logsBefore = logErrors.length;
      client.send(raw);
      const id = idOf(raw);
      if (id !== undefined) sentWithId.set(id, raw);
      let probed = await probe(client, n);
      // On API Gateway a `closing` frame announces the close, which DeleteConnection then makes.
      if (!('closed' in probed) && client.frames.slice(framesBefore).some((f) => f.type === 'closing')) probed = { closed: await client.waitClosed() };
      const errors = client.frames.slice(framesBefore).filter((f) => f.type === 'error');
      // On API Gateway a connection's frames run concurrently: an error may answer an earlier frame, named by its id.
      for (const error of errors) {
        expect(isErrorCode(error.code), `code ${String(error.code)} is not in the catalogue`).toBe(true);
        const cause = (typeof error.id === 'string' ? sentWithId.get(error.id) : undefined) ?? raw;
        expect(error.code, `${cause} was answered ${JSON.stringify(error)}`).not.toBe('internal');
      }
      expect(logErrors.slice(logsBefore).map((e) => `${e.msg}: ${e.err?.message} ${JSON.stringify(e).slice(0, 600)}`)).toEqual([]);
      if ('closed' in probed) {
        const replacement = await target.reopen(probed.closed, client);
        expect(replacement, `the fuzzer was closed with ${probed.closed}`).toBeDefined();
        target.client = replacement!;
      } else {
        expect(probed.answer.type).toBe('pong');
      }
      // Fuzzing left the room (or never got in): back in, so the next frames reach the handlers.
      const ownRoom = (f: Frame) => f.room === target.scene.room && (f.type === 'left' || f.code === 'not_joined');
      if (!('closed' in probed) && client.frames.slice(framesBefore).some(ownRoom)) {
        expect((await target.client.join(target.scene.room)).type).toBe('joined');
      }
      if (n % 50 === 0) await everyFewRuns();
    }),
    fuzzParameters(numRuns, stream),
  );
}

async function member(gateway: Gateway, sub: string, role: string, room: string): Promise<TestClient> {
  const client = await TestClient.connect(gateway, await makeToken({ sub, name: sub, role, rooms: ['*'] }));
  const joined = await client.join(room);
  expect(joined.type).toBe('joined');
  return client;
}

describe.each<[RuntimeName, number]>([
  ['gateway', 500],
  // A sample: every frame is a Lambda invocation on Redis here, and the handlers are the same engine.
  ['apigw-emulator', 80],
])('adversarial frames on %s', (runtime, numRuns) => {
  const { logger, errors: logErrors } = capturingLogger();
  let gateway: Gateway;
  let teacher: TestClient;
  let bystander: TestClient;
  let sent = 0;
  const sharedRoom = 'fuzz-class';

  beforeAll(async () => {
    gateway = await startRuntime(runtime, ENV, { logger });
    teacher = await member(gateway, 'teach', 'teacher', sharedRoom);
    bystander = await member(gateway, 'bystander', 'student', sharedRoom);
  });
  afterAll(async () => {
    await gateway.drain();
  });

  /** The teacher's next chat message reaches the bystander, in order after the previous ones. */
  async function bystanderStillServed(): Promise<void> {
    sent += 1;
    const ack = await teacher.request({ action: 'publish', room: sharedRoom, event: 'chat.message', data: { text: `steady ${sent}` } });
    expect(ack.type).toBe('ack');
    const received = await bystander.next((f) => f.type === 'message' && f.event === 'chat.message' && (f.data as { text: string }).text === `steady ${sent}`);
    expect(received.seq).toBe(ack.seq);
    expect(bystander.closeCode).toBeUndefined();
    expect(teacher.closeCode).toBeUndefined();
  }

  it('a student fuzzing its own class: no internal, no error log, bystander served', { timeout: 60_000 }, async () => {
    const mallory = await member(gateway, 'mallory', 'student', sharedRoom);
    const target: FuzzTarget = {
      client: mallory,
      scene: { room: sharedRoom, users: ['teach', 'bystander', 'mallory'], maxFrameBytes: DEFAULT_LIMITS.maxFrameBytes },
      // A student can do nothing that closes its own connection.
      reopen: () => Promise.resolve(undefined),
    };
    await bystanderStillServed();
    await fuzzFrames(target, logErrors, numRuns, 1, bystanderStillServed);
    await bystanderStillServed();
    expect(Object.prototype).not.toHaveProperty('polluted');
    await target.client.close();
  });

  it('a teacher fuzzing a class of their own: no internal, no error log, other classes served', { timeout: 60_000 }, async () => {
    const room = 'fuzz-staff';
    const scene: FrameScene = { room, users: ['boss', 'helper', 'pupil'], maxFrameBytes: DEFAULT_LIMITS.maxFrameBytes };
    const target: FuzzTarget = {
      client: await member(gateway, 'boss', 'teacher', room),
      scene,
      // `class.end` closes everyone in the class, the teacher too; staff may come back.
      // On API Gateway the close code is its own; a `closing` frame says why (packages/aws/src/fanout.ts).
      reopen: async (code, closed) => {
        const ended = code === CLOSE_CODES.classEnded || closed.frames.some((f) => f.type === 'closing' && f.code === CLOSE_CODES.classEnded);
        if (!ended) return undefined;
        return member(gateway, 'boss', 'teacher', room);
      },
    };
    await fuzzFrames(target, logErrors, numRuns, 2, bystanderStillServed);
    await bystanderStillServed();
    await target.client.close();
  });
});

