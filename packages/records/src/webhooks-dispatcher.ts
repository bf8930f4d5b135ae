import type { Kysely } from 'kysely';
import type { WebhookDeliveryCounts, WebhookDue } from './recording-stats.js';
import type { RecordsDatabase, WebhookOutboxRow } from './schema.js';
import type { WebhookEndpoint } from './webhooks-config.js';
import { signWebhook } from './webhooks.js';

export interface DispatcherLogger {
  warn(details: object, message: string): void;
}

export interface WebhookDispatcherOptions {
  db: Kysely<RecordsDatabase>;
  endpoints: readonly WebhookEndpoint[];
  logger: DispatcherLogger;
  /** One attempt's limit; a receiver slower than this is a failed attempt. */
  timeoutMs: number;
  /** How long after enqueueing (or a redelivery) attempts continue; then the row is dead-lettered. */
  retryForMs: number;
  /** Attempts in flight per endpoint: a hanging endpoint holds its own slots, never another's. */
  concurrency: number;
  /** How often due rows are looked for besides the recorder's wake-ups (retries come due this way). */
  pollMs?: number;
  /** The scheduling clock (epoch ms): due times, backoff and the retry window. */
  now?: () => number;
  /** Delay before the next attempt after `attempts` failures. */
  backoff?: (attempts: number) => number;
}

const BACKOFF_BASE_MS = 5_000;
const BACKOFF_MAX_MS = 60 * 60 * 1000;
/** Rows claimed at once per free-slot count: amortises the claim transaction over several webhooks. */
const CLAIM_BATCH_FACTOR = 4;
/** Added to a claim's expiry beyond the attempts' own timeouts. */
const CLAIM_MARGIN_MS = 30_000;
/** Bound on a stored error text. */
const MAX_ERROR_LENGTH = 300;

/**
 * Exponential backoff with jitter: 5 s, 10 s, 20 s ... doubling to at most an hour, each drawn
 * uniformly from its upper half so that receivers coming back are not hit by every sender at once.
 */
export function exponentialBackoff(attempts: number, random: () => number = Math.random): number {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(attempts - 1, 20));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * What a dispatcher's attempts came to since it was made, counted once each outcome is stored (an
 * attempt cut short by `close` counts nowhere: its row comes due again).
 */
export interface DispatchCounts {
  /** Webhooks the receiver accepted (2xx) and that left the outbox. */
  delivered: number;
  /** Attempts that failed (an error status, a timeout, no connection), the dead-lettering ones included. */
  failedAttempts: number;
  /** Webhooks whose retry window had passed at a failed attempt: now dead letters. */
  deadLettered: number;
}

type Outcome = { ok: true } | { ok: false; status: number | null; error: string; retryAfterMs?: number };

/** A receiver's `retry-after` (seconds or an HTTP date) in ms, at most `BACKOFF_MAX_MS`; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now: number): number | undefined {
  if (header === null || header.length > 64) return undefined;
  const seconds = /^\d+$/.test(header.trim()) ? Number(header.trim()) * 1000 : Date.parse(header) - now;
  return Number.isFinite(seconds) && seconds > 0 ? Math.min(seconds, BACKOFF_MAX_MS) : undefined;
}

/**
 * Delivers the webhook outbox: one lane per endpoint claims due rows (`FOR UPDATE SKIP LOCKED`, so
 * several dispatchers share an outbox), marks them claimed for their attempts' timeouts plus a margin
 * (a dispatcher that dies mid-attempt leaves them due again when the claim runs out: at least once),
 * posts them signed, then
 * deletes each delivered row or schedules its retry, or dead-letters it once the window has passed.
 */
export class WebhookDispatcher {
  private readonly lanes: Lane[];
  private readonly closing = new AbortController();
  private poller: NodeJS.Timeout | undefined;

  constructor(private readonly options: WebhookDispatcherOptions) {
    this.lanes = options.endpoints.map((endpoint) => new Lane(endpoint, options, this.closing.signal));
  }

  /** The outcomes stored so far, every endpoint together: a scheduled run reports them as its metrics. */
  counts(): DispatchCounts {
    const counts: DispatchCounts = { delivered: 0, failedAttempts: 0, deadLettered: 0 };
    for (const { outcomes } of this.lanes) {
      counts.delivered += outcomes.delivered;
      // A dead-lettering attempt is a failed attempt too.
      counts.failedAttempts += outcomes.failed + outcomes.deadLettered;
      counts.deadLettered += outcomes.deadLettered;
    }
    return counts;
  }

  /** Starts polling; deliveries also start at every `wake`. */
  start(): void {
    this.wake();
    this.poller = setInterval(() => this.wake(), this.options.pollMs ?? 1_000);
    this.poller.unref();
  }

  /** Looks for due rows on every endpoint now (cheap when a lane is already busy). */
  wake(): void {
    for (const lane of this.lanes) lane.pump();
  }

  /**
   * Delivers until nothing is due (a scheduled run, as on AWS; no polling): resolves when every lane
   * is idle. `close` ends it sooner.
   */
  async runUntilIdle(): Promise<void> {
    this.wake();
    await Promise.all(this.lanes.map((lane) => lane.settled()));
  }

  /** Each endpoint's attempts by outcome since this dispatcher started (for the metrics). */
  deliveries(): WebhookDeliveryCounts[] {
    return this.lanes.map((lane) => ({ ...lane.outcomes }));
  }

  /**
   * Rows due now per endpoint, counted up to `cap` each (the partial index on due rows answers it
   * without reading more than `cap` entries, however large an endpoint's backlog has grown).
   */
  async due(cap: number): Promise<WebhookDue[]> {
    const now = (this.options.now ?? Date.now)();
    return Promise.all(
      this.options.endpoints.map(async ({ name }) => {
        const row = await this.options.db
          .selectFrom((query) =>
            query.selectFrom('webhook_outbox').select('id').where('endpoint', '=', name).where('dead_at', 'is', null).where('next_attempt_at', '<=', now).limit(cap).as('due'),
          )
          .select((eb) => eb.fn.countAll().as('count'))
          .executeTakeFirstOrThrow();
        return { endpoint: name, due: Number(row.count) };
      }),
    );
  }

  /** Stops: aborts attempts in flight (their rows come due again after the claim) and waits for the lanes. */
  async close(): Promise<void> {
    clearInterval(this.poller);
    this.closing.abort();
    await Promise.all(this.lanes.map((lane) => lane.settled()));
    await Promise.all(this.lanes.map((lane) => lane.release()));
  }
}

class Lane {
  private inFlight = 0;
  private pumping: Promise<void> | undefined;
  private again = false;
  private readonly attempts = new Set<Promise<void>>();
  /** Claimed rows waiting for a free slot. */
  private readonly queue: WebhookOutboxRow[] = [];
  private readonly now: () => number;
  private readonly backoff: (attempts: number) => number;
  /** This endpoint's attempts by outcome, counted once the outcome is stored. */
  readonly outcomes: WebhookDeliveryCounts;

  constructor(
    private readonly endpoint: WebhookEndpoint,
    private readonly options: WebhookDispatcherOptions,
    private readonly closing: AbortSignal,
  ) {
    this.now = options.now ?? Date.now;
    this.backoff = options.backoff ?? exponentialBackoff;
    this.outcomes = { endpoint: endpoint.name, delivered: 0, failed: 0, deadLettered: 0 };
  }

  pump(): void {
    if (this.closing.aborted) return;
    if (this.pumping !== undefined) {
      this.again = true;
      return;
    }
    this.pumping = this.fill()
      .catch((error: unknown) => this.options.logger.warn({ err: error, endpoint: this.endpoint.name }, 'webhook outbox read failed; will retry'))
      .finally(() => {
        this.pumping = undefined;
        // A wake between the fill's last look and here would otherwise be lost (no poll may come for a while).
        if (this.again) this.pump();
      });
  }

  async settled(): Promise<void> {
    while (this.pumping !== undefined || this.attempts.size > 0) await Promise.all([this.pumping, ...this.attempts]);
  }

  /** Hands back claimed rows never attempted, so the next dispatcher need not wait for their claim. */
  async release(): Promise<void> {
    const ids = this.queue.splice(0).map((row) => row.id);
    if (ids.length === 0) return;
    await this.options.db
      .updateTable('webhook_outbox')
      .set({ next_attempt_at: this.now() })
      .where('id', 'in', ids)
      .execute()
      .catch((error: unknown) => this.options.logger.warn({ err: error, endpoint: this.endpoint.name }, 'claimed webhooks not released; they come due when the claim runs out'));
  }

  /**
   * Starts attempts while slots are free, from rows claimed in batches (a claim is a transaction: one
   * per batch rather than one per webhook), until nothing is due.
   */
  private async fill(): Promise<void> {
    do {
      this.again = false;
      while (this.inFlight < this.options.concurrency && !this.closing.aborted) {
        if (this.queue.length === 0) {
          this.queue.push(...(await this.claim(this.options.concurrency * CLAIM_BATCH_FACTOR)));
          if (this.queue.length === 0) break;
        }
        this.startAttempt(this.queue.shift()!);
      }
    } while (this.again && !this.closing.aborted);
  }

  private async claim(limit: number): Promise<WebhookOutboxRow[]> {
    const now = this.now();
    return this.options.db.transaction().execute(async (trx) => {
      const rows = await trx
        .selectFrom('webhook_outbox')
        .selectAll()
        .where('endpoint', '=', this.endpoint.name)
        .where('dead_at', 'is', null)
        .where('next_attempt_at', '<=', now)
        .orderBy('next_attempt_at')
        .orderBy('id')
        .limit(limit)
        .forUpdate()
        .skipLocked()
        .execute();
      if (rows.length > 0) {
        // Long enough for the batch to go through the lane's slots one timeout after another.
        const rounds = Math.ceil(rows.length / this.options.concurrency) + 1;
        const claimedUntil = now + rounds * this.options.timeoutMs + CLAIM_MARGIN_MS;
        await trx
          .updateTable('webhook_outbox')
          .set({ next_attempt_at: claimedUntil })
          .where(
            'id',
            'in',
            rows.map((row) => row.id),
          )
          .execute();
      }
      return rows;
    });
  }

  private startAttempt(row: WebhookOutboxRow): void {
    this.inFlight += 1;
    const attempt = this.attempt(row)
      .catch((error: unknown) => this.options.logger.warn({ err: error, endpoint: this.endpoint.name, id: row.message_id }, 'webhook outcome not stored; the row comes due again'))
      .finally(() => {
        this.inFlight -= 1;
        this.attempts.delete(attempt);
        this.pump();
      });
    this.attempts.add(attempt);
  }

  private async attempt(row: WebhookOutboxRow): Promise<void> {
    const outcome = await this.post(row);
    // Stopping mid-attempt: the claim runs out and the row is tried again (same id) by whoever runs next.
    if (this.closing.aborted) return;
    const { db } = this.options;
    if (outcome.ok) {
      await db.deleteFrom('webhook_outbox').where('id', '=', row.id).execute();
      this.outcomes.delivered += 1;
      return;
    }
    const now = this.now();
    const attempts = row.attempts + 1;
    const failure = { attempts, last_status: outcome.status, last_error: outcome.error.slice(0, MAX_ERROR_LENGTH) };
    if (now - row.retry_from >= this.options.retryForMs) {
      await db.updateTable('webhook_outbox').set({ ...failure, dead_at: now }).where('id', '=', row.id).execute();
      this.outcomes.deadLettered += 1;
      this.options.logger.warn({ endpoint: this.endpoint.name, id: row.message_id, type: row.type, attempts }, 'webhook dead-lettered after its retry window');
    } else {
      // A receiver asking for more time (429, 503 with retry-after) gets at least that, up to an hour.
      const delay = Math.max(this.backoff(attempts), outcome.retryAfterMs ?? 0);
      await db
        .updateTable('webhook_outbox')
        .set({ ...failure, next_attempt_at: now + delay })
        .where('id', '=', row.id)
        .execute();
      this.outcomes.failed += 1;
    }
  }

  private async post(row: WebhookOutboxRow): Promise<Outcome> {
    // The signed timestamp is the attempt's real time: receivers check it against their own clocks.
    const timestamp = Math.floor(Date.now() / 1000);
    try {
      const response = await fetch(this.endpoint.url, {
        method: 'POST',
        body: row.body,
        redirect: 'manual',
        signal: AbortSignal.any([this.closing, AbortSignal.timeout(this.options.timeoutMs)]),
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Classwire-Webhooks/1',
          'webhook-id': row.message_id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signWebhook(this.endpoint.secret, row.message_id, timestamp, row.body),
        },
      });
      // The receiver's answer is not needed; drop it so the connection is free.
      await response.body?.cancel();
      if (response.status >= 200 && response.status < 300) return { ok: true };
      return { ok: false, status: response.status, error: `HTTP ${response.status}`, retryAfterMs: retryAfterMs(response.headers.get('retry-after'), Date.now()) };
    } catch (error) {
      const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
      return { ok: false, status: null, error: `${error instanceof Error ? error.message : String(error)}${cause}` };
    }
  }
}
