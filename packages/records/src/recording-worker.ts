/**
 * The recording thread's entry (see `RecordingThread`): a Recorder with its own database pool, reading
 * the log through the main thread.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import type { Broker, RecordingLease } from '@classwire/core';
import { openRecordsDb } from './database.js';
import { Recorder } from './recorder.js';
import { STATS_INTERVAL_MS, type FromWorker, type LogCall, type RecordingWorkerData, type ToWorker } from './recording-thread.js';
import { RecordsStore } from './store.js';
import { WebhookOutbox } from './webhooks.js';
import { recordedAttendance } from './webhooks-attendance.js';

/**
 * The thread's nice value: on a busy core the event loop that serves the rooms goes first, and a drain
 * runs in the time it leaves (at nice 10 the scheduler gives this thread about a tenth of a contended
 * core, so recording still keeps up at saturation, when the live log's size and age limits wait for it).
 */
const RECORDER_NICE = 10;

/** Lowers this thread's priority alone (Linux: a thread id given to setpriority names that thread). */
function yieldToTheEventLoop(): void {
  try {
    const thread = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isSafeInteger(thread) && thread > 0) setPriority(thread, RECORDER_NICE);
  } catch {
    // Not Linux (no /proc/thread-self), or not permitted: the thread keeps the process's priority.
  }
}

yieldToTheEventLoop();
const port = parentPort!;
const data = workerData as RecordingWorkerData;
const calls = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
let nextId = 1;

function send(message: FromWorker): void {
  port.postMessage(message);
}

/** Calls made in this turn, sent together once it ends (a drain's reads of all its rooms are one message). */
let batch: LogCall[] = [];

function call(method: LogCall['method'], args: unknown[]): Promise<unknown> {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    calls.set(id, { resolve, reject });
    if (batch.length === 0) queueMicrotask(sendCalls);
    batch.push({ id, method, args });
  });
}

function sendCalls(): void {
  send({ kind: 'calls', calls: batch });
  batch = [];
}

const broker: Pick<Broker, 'read' | 'readState'> = {
  read: (...args) => call('read', args) as ReturnType<Broker['read']>,
  readState: (...args) => call('readState', args) as ReturnType<Broker['readState']>,
};
const lease: RecordingLease | undefined = data.leaseTtlMs === undefined ? undefined : { ttlMs: data.leaseTtlMs, acquire: (rooms) => call('lease', [rooms]) as Promise<boolean[]> };
const logger = {
  warn: (details: object, message: string) => send({ kind: 'log', level: 'warn', details: loggable(details), message }),
};

const records = await openRecordsDb({ url: data.url });
const outbox = data.webhooks && new WebhookOutbox(data.webhooks.endpoints, recordedAttendance(data.resumeGraceMs), () => send({ kind: 'hooked' }));
const recorder = new Recorder({ store: new RecordsStore(records.db, { idleMs: data.idleMs, startedIdleMs: data.startedIdleMs, hook: outbox }), broker, logger, lease });

// The totals and backlog cross in a small message once a second at most, and only when they changed:
// nothing is added to the messages of the live path.
let statsSent = '';
function sendStats(): void {
  const stats = { ...recorder.counts, ...recorder.backlog() };
  const key = JSON.stringify(stats);
  if (key === statsSent) return;
  statsSent = key;
  send({ kind: 'stats', stats });
}
const statsTimer = setInterval(sendStats, STATS_INTERVAL_MS);
statsTimer.unref();

port.on('message', (message: ToWorker) => {
  switch (message.kind) {
    case 'replies':
      for (const reply of message.replies) {
        const pending = calls.get(reply.id);
        calls.delete(reply.id);
        if (reply.error === undefined) pending?.resolve(reply.value);
        else pending?.reject(new Error(reply.error));
      }
      return;
    case 'note':
      for (const room of message.rooms) recorder.noteActivity(room);
      for (const room of message.privateRooms) recorder.notePrivate(room);
      return;
    case 'record':
      answer(message.id, recorder.recordRoom(message.room));
      return;
    case 'endIdle':
      answer(message.id, recorder.endIdleClasses(message.idleMs));
      return;
    case 'close':
      clearInterval(statsTimer);
      answer(
        message.id,
        recorder.close().then(() => {
          sendStats();
          return records.close();
        }),
      );
      return;
  }
});

send({ kind: 'ready' });

function answer(id: number, work: Promise<unknown>): void {
  work.then(
    (value) => send({ kind: 'done', id, value }),
    (error: unknown) => send({ kind: 'done', id, error: error instanceof Error ? error.message : String(error) }),
  );
}

/** Log details as the main thread's logger can take them (an Error does not cross as itself). */
function loggable(details: object): object {
  const { err, ...rest } = details as { err?: unknown };
  return err instanceof Error ? { ...rest, err: { message: err.message, name: err.name } } : details;
}
