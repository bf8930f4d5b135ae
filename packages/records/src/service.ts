import type { IncomingMessage, ServerResponse } from 'node:http';
import { ConfigError, envFlag, envInt, ForwardingBroker, storesPrivateMessage, type Authorizer, type Broker, type HistoryArchive, type PresenceStore, type PublishOptions, type PublishResult, type RecordingLease, type StateEffects } from '@classwire/core';
import { z } from 'zod';
import { openRecordsDb, QUERY_TIMEOUT_MS, type DatabaseTarget, type RecordsDb } from './database.js';
import { createRecordsApi, recordsErrorResponse } from './http.js';
import { Recorder } from './recorder.js';
import { RecordingThread, type RecorderPort } from './recording-thread.js';
import { addBacklogs, addCounts, zeroCounts, type RecordingStats, type WebhookDeliveryCounts, type WebhookDue } from './recording-stats.js';
import { DEFAULT_RESUME_GRACE_MS } from './attendance.js';
import { InFlightTasks } from './in-flight.js';
import { recordsArchive } from './archive.js';
import { reconcilePresence } from './reconcile.js';
import { DEFAULT_IDLE_MS, DEFAULT_STARTED_IDLE_MS, RecordsStore } from './store.js';
import { WebhookDeadLetters, WebhookOutbox, type AttendanceSummaryFn } from './webhooks.js';
import { recordedAttendance } from './webhooks-attendance.js';
import { WEBHOOK_ENV, webhookSettings, type WebhookSettings } from './webhooks-config.js';
import { WebhookDispatcher } from './webhooks-dispatcher.js';

/** The longest retention `CLASSWIRE_RECORDS_RETENTION_DAYS` takes: a hundred years (the cutoff stays an exact epoch ms). */
export const MAX_RETENTION_DAYS = 36_500;

/**
 * Records older than this many days are deleted, every hour. One definition for every runtime that runs
 * retention: the gateway's records and the scheduled recorder on AWS (and the stack's prop) parse it here.
 */
export const RETENTION_ENV = {
  CLASSWIRE_RECORDS_RETENTION_DAYS: envInt(1).max(MAX_RETENTION_DAYS).optional(),
};

/** How often retention runs. */
export const RETENTION_INTERVAL_MS = 60 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

/** The time before which records are deleted when they are kept `days` days (`RecordsStore.deleteOlderThan`). */
export function retentionCutoff(days: number, now: number = Date.now()): number {
  return now - days * DAY_MS;
}

/** The records' environment variables (README's configuration table). */
export const RECORDS_ENV = {
  CLASSWIRE_DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'CLASSWIRE_DATABASE_URL must start with postgres://').optional(),
  CLASSWIRE_DATA_DIR: z.string().min(1).optional(),
  ...RETENTION_ENV,
  CLASSWIRE_RECORDS_KEEP_ERASED_MESSAGES: envFlag.default(false),
  /** A class started by a first join ends once its room has been empty this long. */
  CLASSWIRE_RECORDS_IDLE_SECONDS: envInt(1).default(300),
  /** A class a teacher started ends once its room has been empty this long (no `class.end` came). */
  CLASSWIRE_RECORDS_STARTED_IDLE_HOURS: envInt(1).max(8760).default(24),
  /** In attendance, a drop shorter than this is one presence with an interruption, not two visits. */
  CLASSWIRE_RECORDS_RESUME_GRACE_SECONDS: envInt(0).default(60),
  /** Record in a worker thread (a Postgres server only; PGlite lives in the main thread). */
  CLASSWIRE_RECORDS_WORKER: envFlag.default(true),
  ...WEBHOOK_ENV,
};

/** Where `npm start` (the CLI's development mode) keeps its embedded database when none is configured. */
export const DEV_DATA_DIR = './.classwire/data';

export interface RecordsSettings {
  target: DatabaseTarget;
  /** Records older than this many days are deleted; undefined keeps them. */
  retentionDays: number | undefined;
  keepErasedMessages: boolean;
  /** Webhook endpoints; undefined sends none. */
  webhooks?: WebhookSettings | undefined;
  /** @default 300 s */
  idleMs?: number | undefined;
  /** @default 24 h */
  startedIdleMs?: number | undefined;
  /** @default 60 s */
  resumeGraceMs?: number | undefined;
  /**
   * Record in a worker thread, off the event loop that serves the rooms (a Postgres server only: an
   * embedded PGlite is opened once, in the main thread). @default true
   */
  worker?: boolean | undefined;
}

/**
 * Recording is on when a database URL or a data directory is set. Webhooks need it (their outbox is
 * in the records database): an endpoint configured without one is a ConfigError, as is a
 * half-configured endpoint.
 */
export function recordsSettings(e: z.infer<z.ZodObject<typeof RECORDS_ENV>>): RecordsSettings | undefined {
  const problems: string[] = [];
  const webhooks = webhookSettings(e, problems);
  const target: DatabaseTarget | undefined =
    e.CLASSWIRE_DATABASE_URL !== undefined ? { url: e.CLASSWIRE_DATABASE_URL } : e.CLASSWIRE_DATA_DIR !== undefined ? { dataDir: e.CLASSWIRE_DATA_DIR } : undefined;
  if (webhooks !== undefined && target === undefined) problems.push('CLASSWIRE_WEBHOOK_URL: webhooks need the records database (CLASSWIRE_DATABASE_URL or CLASSWIRE_DATA_DIR)');
  if (problems.length > 0) throw new ConfigError(problems);
  if (target === undefined) return undefined;
  return {
    target,
    retentionDays: e.CLASSWIRE_RECORDS_RETENTION_DAYS,
    keepErasedMessages: e.CLASSWIRE_RECORDS_KEEP_ERASED_MESSAGES,
    idleMs: e.CLASSWIRE_RECORDS_IDLE_SECONDS * 1000,
    startedIdleMs: e.CLASSWIRE_RECORDS_STARTED_IDLE_HOURS * 3_600_000,
    resumeGraceMs: e.CLASSWIRE_RECORDS_RESUME_GRACE_SECONDS * 1000,
    worker: e.CLASSWIRE_RECORDS_WORKER,
    webhooks,
  };
}

export interface RecordsLogger {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

export interface RecordsDeps {
  broker: Broker;
  presence: Pick<PresenceStore, 'list'>;
  authorizer: Authorizer;
  authenticateBackend(req: IncomingMessage): Promise<boolean>;
  logger: RecordsLogger;
  /**
   * The attendance summary `class.ended` webhooks carry; defaults to the records' attendance
   * (`recordedAttendance`, the figures of `GET /classes/{id}/attendance`).
   */
  attendanceSummary?: AttendanceSummaryFn;
  /** Redis mode: one node records each room (docs/records.md). */
  lease?: RecordingLease | undefined;
}

/** A webhook endpoint's due rows are counted up to this many (the metric then reads "at least"). */
export const WEBHOOKS_DUE_CAP = 10_000;

/** How long a scrape waits for the count of due webhooks before answering with the last one. */
const WEBHOOKS_DUE_WAIT_MS = 1_000;

/**
 * Rooms remembered while the database is not open yet (with activity and with private messages
 * together), at most: a database that never opens must not grow this without end. A room noted past it
 * is not remembered, and nothing is lost twice or twice recorded: recording always goes on from the
 * room's cursor, so such a room is recorded whole at its next message once the database is open (each
 * member's leave is one), or at the open if the records hold an open class for it; what its live log
 * dropped by then becomes an explicit gap. A room with neither loses its unrecorded messages with its
 * live log; a warning says when the bound is reached, and the backlog stays at it, ageing.
 */
export const MAX_EARLY_ROOMS = 10_000;

/**
 * How long `close()` waits, in all, for the work in progress (a presence reconciliation, an idle sweep, a
 * retention run). A reconciliation stops before its next room and retention before its next batch, so
 * what is left of them is a few statements or live-log calls; an idle sweep finishes its rooms (each a
 * few statements). Work that has not ended within a statement's own bound is stuck, and closing goes on
 * without it.
 */
const CLOSE_WAIT_MS = QUERY_TIMEOUT_MS;

/** The idle sweep runs at a quarter of the idle time, at least every 30 s. */
const IDLE_SWEEP_MAX_MS = 30_000;

/**
 * The records beside a running node: the seam a runtime uses. Starting never waits for the database
 * (PGlite's first open runs initdb for seconds): rooms noted meanwhile are recorded once it is open,
 * from the live log, and the API answers `unavailable` until then.
 */
export class RecordsService {
  private recorder: RecorderPort | undefined;
  private store: RecordsStore | undefined;
  private api: ((req: IncomingMessage, res: ServerResponse) => Promise<boolean>) | undefined;
  /** Rooms with activity before the database was open (`MAX_EARLY_ROOMS` together). */
  private readonly early = new Set<string>();
  private readonly earlyPrivate = new Set<string>();
  /** Notes dropped past `MAX_EARLY_ROOMS`; the first one is logged. */
  private earlyDropped = 0;
  private readonly logger: RecordsLogger;
  private readonly opened: Promise<RecordsDb | undefined>;
  private retention: NodeJS.Timeout | undefined;
  private dispatcher: WebhookDispatcher | undefined;
  private idleSweep: NodeJS.Timeout | undefined;
  /** The presence reconciliation running, if one is (it is also in `inFlight`). */
  private reconciling: Promise<void> | undefined;
  /** Work using the database or the recorder that runs beside the rooms: `close()` waits for it. */
  private readonly inFlight = new InFlightTasks();
  /** Rooms whose presence reconciliation failed: the next idle sweep reconciles them again. */
  private readonly unreconciled = new Set<string>();
  /** The whole reconciliation failed (the recorded presence could not be listed): the next idle sweep runs it again. */
  private reconcileAll = false;
  /** `close()` has begun: no reconciliation, idle sweep, retention run or other database task starts any more. */
  private closing = false;
  /** When `early` last went from empty to not empty: rooms waiting for the database are backlog. */
  private earlySince: number | undefined;
  /** What recorders on this thread counted, the first one and any that took over from the worker. */
  private readonly inProcessCounts = zeroCounts();
  /** The recording thread, kept after it stops for the totals it reported. */
  private thread: RecordingThread | undefined;
  private readonly webhookEndpoints: readonly string[];
  private dueCount: Promise<void> | undefined;
  private lastDue: readonly WebhookDue[];

  constructor(settings: RecordsSettings, deps: RecordsDeps) {
    this.webhookEndpoints = settings.webhooks?.endpoints.map((endpoint) => endpoint.name) ?? [];
    this.lastDue = this.webhookEndpoints.map((endpoint) => ({ endpoint, due: 0 }));
    this.logger = deps.logger;
    this.opened = this.open(settings, deps);
  }

  private async open(settings: RecordsSettings, deps: RecordsDeps): Promise<RecordsDb | undefined> {
    try {
      const records = await openRecordsDb(settings.target);
      const idleMs = settings.idleMs ?? DEFAULT_IDLE_MS;
      const resumeGraceMs = settings.resumeGraceMs ?? DEFAULT_RESUME_GRACE_MS;
      const hooks = settings.webhooks;
      const dispatcher = hooks && new WebhookDispatcher({ db: records.db, logger: deps.logger, ...hooks });
      const outbox = hooks && new WebhookOutbox(hooks.endpoints, deps.attendanceSummary ?? recordedAttendance(resumeGraceMs), () => dispatcher?.wake());
      const startedIdleMs = settings.startedIdleMs ?? DEFAULT_STARTED_IDLE_MS;
      const store = new RecordsStore(records.db, { idleMs, startedIdleMs, hook: outbox });
      this.store = store;
      const inProcess = (): Recorder => new Recorder({ store, broker: deps.broker, logger: deps.logger, lease: deps.lease, counts: this.inProcessCounts });
      this.recorder =
        'url' in settings.target && settings.worker !== false && deps.attendanceSummary === undefined
          ? (this.thread = new RecordingThread({
              data: { url: settings.target.url, idleMs, startedIdleMs, resumeGraceMs, webhooks: hooks, leaseTtlMs: deps.lease?.ttlMs },
              broker: deps.broker,
              lease: deps.lease,
              logger: deps.logger,
              hooked: () => dispatcher?.wake(),
              lost: (rooms, privateRooms) => this.recordInProcess(inProcess(), store, rooms, privateRooms, deps.logger),
            }))
          : inProcess();
      this.api = createRecordsApi({
        ...deps,
        store,
        keepErasedMessages: settings.keepErasedMessages,
        resumeGraceMs,
        deadLetters: new WebhookDeadLetters(records.db),
        onRedeliver: () => dispatcher?.wake(),
      });
      this.dispatcher = dispatcher;
      dispatcher?.start();
      // Catch up rooms whose class is still open: a node that died (or this one, restarted) may have
      // left sequenced messages unrecorded, and that room may see no publish again.
      for (const room of await store.roomsWithOpenClasses()) this.early.add(room);
      for (const room of this.early) this.recorder.noteActivity(room);
      for (const room of this.earlyPrivate) this.recorder.notePrivate(room);
      this.early.clear();
      this.earlyPrivate.clear();
      this.earlySince = undefined;
      if (this.earlyDropped > 0) deps.logger.warn({ droppedNotes: this.earlyDropped, rooms: MAX_EARLY_ROOMS }, 'class records: notes past the bound were dropped while the database opened; those rooms are recorded at their next message');
      if (!this.closing) {
        if (settings.retentionDays !== undefined) this.startRetention(store, settings.retentionDays, deps.logger);
        this.startIdleSweep(idleMs, deps);
        this.reconcile(store, deps, undefined);
      }
      deps.logger.info({ database: records.description, webhookEndpoints: hooks?.endpoints.length ?? 0 }, 'class records are on');
      return records;
    } catch (error) {
      deps.logger.error({ err: error }, 'class records are off: the database could not be opened');
      return undefined;
    }
  }

  /** The recording thread stopped: the rooms it may have left unrecorded are recorded here instead. */
  private recordInProcess(recorder: Recorder, store: RecordsStore, rooms: readonly string[], privateRooms: readonly string[], logger: RecordsLogger): void {
    this.recorder = recorder;
    for (const room of rooms) recorder.noteActivity(room);
    for (const room of privateRooms) recorder.notePrivate(room);
    // Closing: the recorder is about to close too, and records nothing more.
    if (this.closing) return;
    this.inFlight.track(
      'listing the open classes',
      store.roomsWithOpenClasses().then(
        (open) => {
          for (const room of open) recorder.noteActivity(room);
        },
        (error: unknown) => logger.warn({ err: error }, 'listing the open classes failed'),
      ),
    );
  }

  private startRetention(store: RecordsStore, days: number, logger: RecordsLogger): void {
    const sweep = (): void => {
      if (this.closing) return;
      // Once closing, it stops after the batch in progress: what is left is deleted by the next run.
      const run = store.deleteOlderThan(retentionCutoff(days), { stopped: () => this.closing });
      this.inFlight.track(
        'retention',
        run.catch((error: unknown) => logger.warn({ err: error }, 'records retention failed')),
      );
    };
    sweep();
    this.retention = setInterval(sweep, RETENTION_INTERVAL_MS);
    this.retention.unref();
  }

  /**
   * The records as the engine's history archive (`history` requests older than the live log), each
   * event as the message frame the room delivered; `unavailable` while the database opens.
   */
  readonly archive: HistoryArchive = recordsArchive(() => this.store);

  /**
   * Presence reconciliation at start (`reconcilePresence`), or again for the rooms it failed in. One runs
   * at a time, so a room's leaves are never appended by two at once.
   */
  private reconcile(store: RecordsStore, deps: RecordsDeps, only: ReadonlySet<string> | undefined): void {
    const recorder = this.recorder;
    if (recorder === undefined || this.reconciling !== undefined || this.closing) return;
    const count = (): void => {
      this.inProcessCounts.roomsFailed += 1;
    };
    const stopped = (): boolean => this.closing;
    const run = reconcilePresence({ store, recorder, broker: deps.broker, presence: deps.presence, logger: deps.logger, countFailure: count, stopped }, only)
      .then(
        (result) => {
          for (const room of result.failed) this.unreconciled.add(room);
        },
        (error: unknown) => {
          // Listing the recorded presence failed: no room was looked at, so all of them are tried again.
          deps.logger.warn({ err: error }, 'presence reconciliation failed; it is tried again');
          this.reconcileAll = true;
        },
      )
      .finally(() => {
        this.reconciling = undefined;
      });
    this.reconciling = run;
    this.inFlight.track('presence reconciliation', run);
  }

  /**
   * Ends classes a first join started once their room has stayed empty for `idleMs`. Each run also
   * reconciles again the rooms whose reconciliation failed (their recording is retried by the recorder).
   */
  private startIdleSweep(idleMs: number, deps: RecordsDeps): void {
    const logger = deps.logger;
    const sweep = (): void => {
      if (this.closing) return;
      const store = this.store;
      if (store !== undefined && this.reconciling === undefined && (this.reconcileAll || this.unreconciled.size > 0)) {
        const only = this.reconcileAll ? undefined : new Set(this.unreconciled);
        this.reconcileAll = false;
        this.unreconciled.clear();
        this.reconcile(store, deps, only);
      }
      const recorder = this.recorder;
      if (recorder === undefined) return;
      // Each failed room was logged and counted by the recorder; the sweep went on with the others.
      this.inFlight.track(
        'idle sweep',
        recorder.endIdleClasses(idleMs).catch((error: unknown) => logger.warn({ err: error }, 'ending idle classes failed')),
      );
    };
    this.idleSweep = setInterval(sweep, Math.min(Math.max(1000, Math.floor(idleMs / 4)), IDLE_SWEEP_MAX_MS));
    this.idleSweep.unref();
  }

  /** The broker the engine should use: the same one, noting each sequenced message's room. */
  observe(broker: Broker): Broker {
    return new ObservedBroker(
      broker,
      (room) => this.noteActivity(room),
      (room) => this.notePrivate(room),
    );
  }

  /** A private message was stored: it is recorded from the room's state, not its log. */
  notePrivate(room: string): void {
    if (this.recorder !== undefined) this.recorder.notePrivate(room);
    else this.noteEarly(this.earlyPrivate, room);
  }

  noteActivity(room: string): void {
    if (this.recorder !== undefined) this.recorder.noteActivity(room);
    else this.noteEarly(this.early, room);
  }

  /** A note while the database is not open: remembered up to `MAX_EARLY_ROOMS` (see there for the rest). */
  private noteEarly(rooms: Set<string>, room: string): void {
    this.earlySince ??= Date.now();
    if (rooms.has(room)) return;
    if (this.early.size + this.earlyPrivate.size < MAX_EARLY_ROOMS) {
      rooms.add(room);
      return;
    }
    if (this.earlyDropped++ === 0) {
      this.logger.warn({ rooms: MAX_EARLY_ROOMS }, 'class records: the database is not open yet and the rooms waiting for it reached the bound; further rooms are recorded at their next message once it opens');
    }
  }

  /**
   * The recording totals and backlog (for the metrics): the recording thread's as it last reported
   * them plus this thread's; rooms noted while the database is not open (or never opened) are backlog.
   */
  recordingStats(): RecordingStats {
    const counts = this.thread === undefined ? { ...this.inProcessCounts } : addCounts(this.inProcessCounts, this.thread.counts());
    let early = this.early.size;
    for (const room of this.earlyPrivate) if (!this.early.has(room)) early += 1;
    const waiting = { rooms: early, oldestNotedAt: early > 0 ? this.earlySince : undefined };
    return { ...counts, ...addBacklogs(waiting, this.recorder?.backlog() ?? { rooms: 0, oldestNotedAt: undefined }) };
  }

  /** Each configured webhook endpoint's attempts by outcome (zeros until the dispatcher runs). */
  webhookDeliveries(): WebhookDeliveryCounts[] {
    return this.dispatcher?.deliveries() ?? this.webhookEndpoints.map((endpoint) => ({ endpoint, delivered: 0, failed: 0, deadLettered: 0 }));
  }

  /**
   * Each endpoint's due rows, counted up to `WEBHOOKS_DUE_CAP`. One count runs at a time and a caller
   * waits for it at most a second: a slow database answers with the previous count, never a hung scrape.
   * Once closing, no count starts (the previous one answers).
   */
  async webhooksDue(): Promise<readonly WebhookDue[]> {
    const dispatcher = this.dispatcher;
    if (dispatcher === undefined || this.closing) return this.lastDue;
    if (this.dueCount === undefined) {
      this.dueCount = dispatcher
        .due(WEBHOOKS_DUE_CAP)
        .then((due) => {
          this.lastDue = due;
        })
        .catch(() => undefined)
        .finally(() => {
          this.dueCount = undefined;
        });
      this.inFlight.track('counting due webhooks', this.dueCount);
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.dueCount, new Promise((resolve) => (timer = setTimeout(resolve, WEBHOOKS_DUE_WAIT_MS)))]);
    clearTimeout(timer);
    return this.lastDue;
  }

  /** Answers the records routes (false for other paths); `unavailable` while the database opens. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    if (this.api !== undefined) return this.api(req, res);
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (!/^\/(classes(\/|$)|users\/[^/]+\/records$|webhooks\/dead-letters(\/[^/]+\/redeliver)?$|rooms\/[^/]+\/(presence|history)$)/.test(path)) return false;
    const answer = recordsErrorResponse('unavailable', 'class records are not available yet');
    res.writeHead(answer.status, answer.headers).end(answer.body);
    return true;
  }

  /** Resolves once the database is open (or failed to open); for tests and the startup log. */
  async ready(): Promise<boolean> {
    return (await this.opened) !== undefined;
  }

  async close(): Promise<void> {
    this.closing = true;
    const records = await this.opened;
    clearInterval(this.retention);
    clearInterval(this.idleSweep);
    // Work in progress (a reconciliation, an idle sweep, a retention run) still records through the
    // recorder and queries the database: both stay open until it ends (none starts now), or until
    // `CLOSE_WAIT_MS` says it is stuck.
    const stillRunning = await this.inFlight.ended(CLOSE_WAIT_MS);
    if (stillRunning.length > 0) this.logger.warn({ waitedMs: CLOSE_WAIT_MS, running: stillRunning }, 'class records: closing without waiting longer for work in progress');
    await this.recorder?.close();
    await this.dispatcher?.close();
    await records?.close();
  }
}

/** A broker that tells the recorder which room a message was just sequenced in; everything else passes through. */
class ObservedBroker extends ForwardingBroker {
  constructor(
    inner: Broker,
    private readonly sequenced: (room: string) => void,
    private readonly storedPrivate: (room: string) => void,
  ) {
    super(inner);
  }

  override async publish(room: string, body: string, options?: PublishOptions): Promise<PublishResult> {
    const result = await this.inner.publish(room, body, options);
    if (!result.duplicate && result.staleGuard === undefined) this.sequenced(room);
    return result;
  }

  override async updateState(room: string, effects: StateEffects): Promise<number | undefined> {
    const result = await this.inner.updateState(room, effects);
    if (storesPrivateMessage(effects)) this.storedPrivate(room);
    return result;
  }
}
