import { Worker } from 'node:worker_threads';
import type { Broker, RecordingLease } from '@classwire/core';
import type { IdleSweep } from './recorder.js';
import { addBacklogs, zeroCounts, type RecordingBacklog, type RecordingCounts, type RecordingStats } from './recording-stats.js';
import type { WebhookSettings } from './webhooks-config.js';

/** What the records service asks of its recorder, whether it runs on the event loop or in a worker thread. */
export interface RecorderPort {
  noteActivity(room: string): void;
  notePrivate(room: string): void;
  recordRoom(room: string): Promise<void>;
  endIdleClasses(idleMs: number): Promise<IdleSweep>;
  /** Rooms noted and not recorded yet (for the metrics). */
  backlog(): RecordingBacklog;
  close(): Promise<void>;
}

/** What the worker needs to record on its own: plain data, copied into the thread. */
export interface RecordingWorkerData {
  url: string;
  idleMs: number;
  startedIdleMs: number;
  resumeGraceMs: number;
  webhooks: WebhookSettings | undefined;
  /** Whether a recording lease is in use (its `acquire` runs on the main thread). */
  leaseTtlMs: number | undefined;
}

/** Messages from the main thread to the worker. */
export type ToWorker =
  | { kind: 'note'; rooms: string[]; privateRooms: string[] }
  | { kind: 'record'; id: number; room: string }
  | { kind: 'endIdle'; id: number; idleMs: number }
  | { kind: 'close'; id: number }
  | { kind: 'replies'; replies: LogReply[] };

/** One of the worker's log reads (or lease requests), answered on the main thread. */
export interface LogCall {
  id: number;
  method: 'read' | 'readState' | 'lease';
  args: unknown[];
}

export interface LogReply {
  id: number;
  value?: unknown;
  error?: string;
}

/** Messages from the worker to the main thread. */
export type FromWorker =
  /** The calls the worker made in one turn (a drain reads all its rooms at once): one message each way. */
  | { kind: 'calls'; calls: LogCall[] }
  | { kind: 'done'; id: number; value?: unknown; error?: string }
  | { kind: 'hooked' }
  | { kind: 'ready' }
  /** The recorder's totals and backlog, sent when they changed (checked every `STATS_INTERVAL_MS`) and before closing. */
  | { kind: 'stats'; stats: RecordingStats }
  | { kind: 'log'; level: 'warn' | 'error'; details: object; message: string };

export interface RecordingThreadOptions {
  data: RecordingWorkerData;
  broker: Pick<Broker, 'read' | 'readState'>;
  lease: RecordingLease | undefined;
  logger: { warn(details: object, message: string): void; error(details: object, message: string): void };
  /** A webhook was written to the outbox (the dispatcher runs on the main thread). */
  hooked: () => void;
  /** The worker stopped without being closed: the service records on the main thread from then on. */
  lost: (pending: readonly string[], pendingPrivate: readonly string[]) => void;
}

/**
 * How long room notes gather before they cross to the worker in one message. The worker waits its
 * own batch delay (250 ms) after that, so this adds little to when a message is recorded, and it keeps
 * the main thread at a few messages a second however busy the rooms are.
 */
const NOTE_FLUSH_MS = 50;

/**
 * How long a room sent to the worker is remembered: if the worker stops, the rooms sent this recently
 * are recorded on the main thread (with the rooms that have an open class, which is nearly every room
 * with activity, since a first join opens one).
 */
const SENT_KEPT_MS = 60_000;

/** How often the worker looks whether its totals or backlog changed, and sends them if so. */
export const STATS_INTERVAL_MS = 1_000;

/**
 * Starts the worker: its built JavaScript, or from source (the tests run TypeScript) through tsx's
 * loader and the `source` export condition the parent was started with.
 */
function startWorker(data: RecordingWorkerData): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./recording-worker.js', import.meta.url), { workerData: data });
  const entry = new URL('./recording-worker.ts', import.meta.url).href;
  const bootstrap = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(bootstrap, { eval: true, workerData: data, execArgv: ['--conditions=source'] });
}

/**
 * The recorder in a worker thread (docs/records.md, "The live path with recording on"): the database
 * work (building statements, the driver, the socket to Postgres, the webhook outbox) leaves the event
 * loop that serves the rooms. The main thread notes rooms and answers the worker's log reads, which
 * stay where the log is (memory, or the node's Redis connection).
 */
export class RecordingThread implements RecorderPort {
  private readonly worker: Worker;
  private readonly pending = new Set<string>();
  private readonly pendingPrivate = new Set<string>();
  /** Rooms sent to the worker lately, with when: what it may not have recorded yet if it stops. */
  private readonly sent = new Map<string, number>();
  /** Notes wait until the worker has its database open, so a worker that cannot start loses none. */
  private ready = false;
  private flushTimer: NodeJS.Timeout | undefined;
  private readonly calls = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  private nextId = 1;
  private closing = false;
  private gone = false;
  /** When `pending` last went from empty to not empty: notes not yet sent are backlog too. */
  private pendingSince: number | undefined;
  /** What the worker last reported; kept when it stops, so the totals never go back. */
  private workerStats: RecordingStats = { ...zeroCounts(), rooms: 0, oldestNotedAt: undefined };

  constructor(private readonly options: RecordingThreadOptions) {
    this.worker = startWorker(options.data);
    this.worker.unref();
    this.worker.on('message', (message: FromWorker) => this.receive(message));
    this.worker.on('error', (error) => this.options.logger.error({ err: error }, 'the recording thread failed'));
    this.worker.on('exit', (code) => this.exited(code));
  }

  noteActivity(room: string): void {
    if (this.pending.size === 0) this.pendingSince ??= Date.now();
    this.pending.add(room);
    this.scheduleFlush();
  }

  notePrivate(room: string): void {
    if (this.pendingPrivate.size === 0) this.pendingSince ??= Date.now();
    this.pendingPrivate.add(room);
    this.scheduleFlush();
  }

  recordRoom(room: string): Promise<void> {
    return this.request((id) => ({ kind: 'record', id, room })).then(() => undefined);
  }

  async endIdleClasses(idleMs: number): Promise<IdleSweep> {
    return (await this.request((id) => ({ kind: 'endIdle', id, idleMs }))) as IdleSweep;
  }

  /** The worker's totals as it last reported them (at most `STATS_INTERVAL_MS` old, or from before it stopped). */
  counts(): RecordingCounts {
    const { roomsRecorded, roomsFailed, eventsWritten, gapsRecorded } = this.workerStats;
    return { roomsRecorded, roomsFailed, eventsWritten, gapsRecorded };
  }

  /** The notes not sent to the worker yet (it is starting, or they wait for the next flush) and the worker's own backlog. */
  backlog(): RecordingBacklog {
    let unsent = this.pending.size;
    for (const room of this.pendingPrivate) if (!this.pending.has(room)) unsent += 1;
    const worker = this.gone ? { rooms: 0, oldestNotedAt: undefined } : this.workerStats;
    return addBacklogs({ rooms: unsent, oldestNotedAt: unsent > 0 ? this.pendingSince : undefined }, { rooms: worker.rooms, oldestNotedAt: worker.oldestNotedAt });
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.flush();
    if (!this.gone) await this.request((id) => ({ kind: 'close', id })).catch(() => undefined);
    await this.worker.terminate();
  }

  private scheduleFlush(): void {
    if (this.flushTimer !== undefined || this.gone) return;
    this.flushTimer = setTimeout(() => this.flush(), NOTE_FLUSH_MS);
    this.flushTimer.unref();
  }

  private flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.gone || !this.ready || (this.pending.size === 0 && this.pendingPrivate.size === 0)) return;
    this.post({ kind: 'note', rooms: [...this.pending], privateRooms: [...this.pendingPrivate] });
    const now = Date.now();
    for (const [room, at] of this.sent) {
      if (now - at < SENT_KEPT_MS) break;
      this.sent.delete(room);
    }
    for (const room of [...this.pending, ...this.pendingPrivate]) {
      this.sent.delete(room);
      this.sent.set(room, now);
    }
    this.pending.clear();
    this.pendingPrivate.clear();
    this.pendingSince = undefined;
  }

  private request(message: (id: number) => ToWorker): Promise<unknown> {
    if (this.gone) return Promise.reject(new Error('the recording thread has stopped'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.calls.set(id, { resolve, reject });
      this.post(message(id));
    });
  }

  private post(message: ToWorker): void {
    this.worker.postMessage(message);
  }

  private receive(message: FromWorker): void {
    switch (message.kind) {
      case 'calls':
        void this.answer(message.calls);
        return;
      case 'done': {
        const call = this.calls.get(message.id);
        this.calls.delete(message.id);
        if (message.error === undefined) call?.resolve(message.value);
        else call?.reject(new Error(message.error));
        return;
      }
      case 'hooked':
        this.options.hooked();
        return;
      case 'ready':
        this.ready = true;
        this.flush();
        return;
      case 'log':
        this.options.logger[message.level](message.details, message.message);
        return;
      case 'stats':
        this.workerStats = message.stats;
        return;
    }
  }

  /** Runs the worker's log reads (and lease requests) where the log is, and answers them in one message. */
  private async answer(calls: readonly LogCall[]): Promise<void> {
    const { broker, lease } = this.options;
    const replies = await Promise.all(
      calls.map(async ({ id, method, args }): Promise<LogReply> => {
        try {
          const value =
            method === 'read'
              ? await broker.read(...(args as Parameters<Broker['read']>))
              : method === 'readState'
                ? await broker.readState(...(args as Parameters<Broker['readState']>))
                : await lease!.acquire(args[0] as string[]);
          return { id, value };
        } catch (error) {
          return { id, error: error instanceof Error ? error.message : String(error) };
        }
      }),
    );
    if (!this.gone) this.post({ kind: 'replies', replies });
  }

  private exited(code: number): void {
    this.gone = true;
    clearTimeout(this.flushTimer);
    for (const call of this.calls.values()) call.reject(new Error('the recording thread has stopped'));
    this.calls.clear();
    if (this.closing) return;
    this.options.logger.error({ code }, 'the recording thread stopped; recording continues on the main thread');
    // Recording resumes from each room's cursor, so handing over a room already recorded costs a read.
    this.options.lost([...new Set([...this.sent.keys(), ...this.pending])], [...this.pendingPrivate]);
  }
}
