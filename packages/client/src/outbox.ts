import type { AckFrame, ClientFrame, ErrorCode } from '@classwire/protocol/wire';
import { ERROR_CODES } from '@classwire/protocol/wire';
import type { Link } from './connection.js';
import { ClasswireError } from './errors.js';
import type { Room } from './room.js';

/** A publish or direct message, from the app's call until its ack or its final refusal. */
interface PendingRequest {
  id: string;
  frame: ClientFrame & { id: string };
  /** Undefined for direct messages. */
  room: Room | undefined;
  resolve: (seq: number | undefined) => void;
  reject: (error: ClasswireError) => void;
  /** The socket it was last written to; undefined while it waits to be (re)sent. */
  sentOn: Link | undefined;
  ackTimer: ReturnType<typeof setTimeout> | undefined;
  retries: number;
  /** Times a `not_joined` answer made the client join the room again for this request. */
  rejoins: number;
  /** Set while a refused request waits out its backoff; its lane waits with it. */
  retryTimer: ReturnType<typeof setTimeout> | undefined;
}

/** Times one publish answered `not_joined` makes the client join its room again before giving up. */
const MAX_REJOINS = 3;
/**
 * Times one request refused with a retryable error is resent before it is rejected with that error: a
 * refusal that never clears must not hold its lane (and every later request in it) forever.
 */
export const MAX_REFUSED_RETRIES = 8;

export interface OutboxSettings {
  maxPending: number;
  maxInFlight: number;
  ackTimeoutMs: number;
  /** The wait before resending a request refused with a retryable error, by its number of retries. */
  retryDelay(retries: number): number;
}

export interface OutboxHost {
  /** The open socket, or undefined while offline. */
  link(): Link | undefined;
  /** The server lost the room's membership: join again. The room's requests wait for its `joined`. */
  rejoin(room: Room): void;
}

/**
 * Acknowledged publishing: every publish and direct message waits here, sent or queued offline, until its
 * ack. Unacknowledged requests are resent with the same id (after a reconnect, an ack timeout or a
 * retryable refusal), and the server deduplicates. Requests leave in lanes, one per room and one for
 * direct messages, each FIFO with at most `maxInFlight` awaiting an ack, so a refused or lost request is
 * retried before anything made after it.
 */
export class Outbox {
  private readonly pending = new Map<string, PendingRequest>();

  constructor(
    private readonly settings: OutboxSettings,
    private readonly host: OutboxHost,
  ) {}

  get size(): number {
    return this.pending.size;
  }

  /** Resolves with the seq the server stored a publish at (undefined for a direct message). */
  add(frame: ClientFrame & { id: string }, room: Room | undefined): Promise<number | undefined> {
    const limit = this.settings.maxPending;
    if (this.pending.size >= limit) {
      return Promise.reject(new ClasswireError('queue_full', `${limit} messages are already waiting for an ack`));
    }
    return new Promise((resolve, reject) => {
      this.pending.set(frame.id, {
        id: frame.id,
        frame,
        room,
        resolve,
        reject,
        sentOn: undefined,
        ackTimer: undefined,
        retries: 0,
        rejoins: 0,
        retryTimer: undefined,
      });
      this.flush();
    });
  }

  /**
   * Sends what may be sent, oldest first. A request goes out only when every older request of its lane
   * is on the wire and fewer than `maxInFlight` await their ack.
   */
  flush(): void {
    const link = this.host.link();
    if (link === undefined) return;
    const inFlight = new Map<string, number>();
    const blocked = new Set<string>();
    for (const request of this.pending.values()) {
      const lane = request.room === undefined ? '' : `#${request.room.id}`;
      if (blocked.has(lane)) continue;
      const sent = inFlight.get(lane) ?? 0;
      if (request.sentOn === link) {
        inFlight.set(lane, sent + 1);
        continue;
      }
      const room = request.room;
      const ready = room === undefined || (room.state === 'joined' && !room.resuming);
      if (!ready || request.retryTimer !== undefined || sent >= this.settings.maxInFlight) {
        blocked.add(lane);
        continue;
      }
      this.transmit(request, link);
      inFlight.set(lane, sent + 1);
    }
  }

  acknowledged(frame: AckFrame): void {
    const request = this.pending.get(frame.id);
    if (request === undefined) return;
    this.settle(request);
    request.resolve(frame.seq);
    this.flush();
  }

  /** The server refused request `id`: retry it or fail it. False when no request has that id. */
  refused(id: string | undefined, code: ErrorCode, error: ClasswireError): boolean {
    const request = id === undefined ? undefined : this.pending.get(id);
    if (request === undefined) return false;
    const room = request.room;
    if (code === 'not_joined' && room !== undefined && room.state === 'joined' && request.rejoins < MAX_REJOINS) {
      // This client never left: the server lost the membership (its store failed over, or the
      // registration expired). Join again (resuming from lastSeq) and resend with the same id after it.
      this.unsend(request);
      request.rejoins += 1;
      if (!room.resuming) this.host.rejoin(room);
      return true;
    }
    if (ERROR_CODES[code].retryable && request.retries < MAX_REFUSED_RETRIES) {
      // Same id, so a retry the server already stored is answered with the original ack. Its lane waits.
      this.unsend(request);
      request.retries += 1;
      request.retryTimer = setTimeout(() => {
        request.retryTimer = undefined;
        this.flush();
      }, this.settings.retryDelay(request.retries));
      return true;
    }
    this.settle(request);
    request.reject(error);
    this.flush();
    return true;
  }

  /** The socket was lost: everything unacknowledged goes out again on the next one. */
  unsendAll(): void {
    for (const request of this.pending.values()) this.unsend(request);
  }

  rejectAll(error: ClasswireError): void {
    for (const request of this.pending.values()) {
      this.unsend(request);
      this.clearRetry(request);
      request.reject(error);
    }
    this.pending.clear();
  }

  rejectRoom(room: Room, error: ClasswireError): void {
    for (const request of [...this.pending.values()]) {
      if (request.room === room) {
        this.settle(request);
        request.reject(error);
      }
    }
  }

  private transmit(request: PendingRequest, link: Link): void {
    request.sentOn = link;
    link.send(JSON.stringify(request.frame));
    if (request.ackTimer !== undefined) clearTimeout(request.ackTimer);
    request.ackTimer = setTimeout(() => {
      request.ackTimer = undefined;
      // No ack on a live connection: resend with the same id; the server answers a duplicate with the first ack.
      if (this.pending.get(request.id) === request && request.sentOn === link) {
        request.sentOn = undefined;
        this.flush();
      }
    }, this.settings.ackTimeoutMs);
  }

  private unsend(request: PendingRequest): void {
    request.sentOn = undefined;
    if (request.ackTimer !== undefined) clearTimeout(request.ackTimer);
    request.ackTimer = undefined;
  }

  private clearRetry(request: PendingRequest): void {
    if (request.retryTimer !== undefined) clearTimeout(request.retryTimer);
    request.retryTimer = undefined;
  }

  private settle(request: PendingRequest): void {
    this.unsend(request);
    this.clearRetry(request);
    this.pending.delete(request.id);
  }
}
