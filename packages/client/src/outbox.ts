import type { AckFrame, ClientFrame, ErrorCode, HistoryFrame, MembersFrame, MessageFrame, PublishFrame } from '@classwire/protocol/wire';
import { CLOSE_CODES, ERROR_CODES, utf8Length } from '@classwire/protocol/wire';
import type { Link } from './connection.js';
import { watchDeadline, type OperationOptions } from './deadline.js';
import { ClasswireError } from './errors.js';
import type { AnyRoom } from './room.js';

/** A publish or direct message, from the app's call until its ack or its final refusal. */
interface PendingRequest {
  id: string;
  /** The frame as sent, and its size in bytes. */
  text: string;
  bytes: number;
  /** Undefined for direct messages. */
  room: AnyRoom | undefined;
  /** With the ack's seq, or with the answer frame of a request that has one (`history`, `members`). */
  resolve: (value: never) => void;
  reject: (error: ClasswireError) => void;
  /** The socket it was last written to; undefined while it waits to be (re)sent. */
  sentOn?: Link | undefined;
  ackTimer?: ReturnType<typeof setTimeout> | undefined;
  retries: number;
  /** When the server first refused it with a retryable error, epoch ms. */
  firstRefusedAt?: number | undefined;
  /** Times a `not_joined` answer made the client join the room again for this request. */
  rejoins: number;
  /** Set while a refused request waits out its backoff; its lane waits with it. */
  retryTimer?: ReturnType<typeof setTimeout> | undefined;
  /** Stops watching the caller's timeout and abort signal. */
  unwatch: () => void;
}

/** Times one publish answered `not_joined` makes the client join its room again before giving up. */
const MAX_REJOINS = 3;
/**
 * A request refused with a retryable error is resent until it has been retried this many times AND its
 * refusals have lasted `retryWindowMs`; then it is rejected with the last error. A refusal that never
 * clears must not hold its lane (and every later request in it) forever, while one that clears within the
 * window (a store failing over) costs no message.
 */
export const MAX_REFUSED_RETRIES = 8;


export function tooLarge(bytes: number, limit: number): ClasswireError {
  return new ClasswireError('payload_too_large', `the frame is ${bytes} bytes; the server accepts at most ${limit}`);
}

export interface OutboxSettings {
  maxPending: number;
  /** The largest frame the server accepts; a larger request is refused before it is sent. */
  maxFrameBytes: number;
  maxInFlight: number;
  ackTimeoutMs: number;
  /** The wait before resending a request refused with a retryable error, by its number of retries. */
  retryDelay(retries: number): number;
  /** How long retryable refusals of one request may last before it is given up (with the count above). */
  retryWindowMs: number;
}

export interface OutboxHost {
  /** The open socket, or undefined while offline. */
  link(): Link | undefined;
  /** The server lost the room's membership: join again. The room's requests wait for its `joined`. */
  rejoin(room: AnyRoom): void;
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
  /** The frame limit: the configured one, lowered when the server closed with 1009 on a smaller frame. */
  private frameLimit: number;

  constructor(
    private readonly settings: OutboxSettings,
    private readonly host: OutboxHost,
  ) {
    this.frameLimit = settings.maxFrameBytes;
  }

  /** The largest frame the server is known to accept. */
  get maxFrameBytes(): number {
    return this.frameLimit;
  }

  get size(): number {
    return this.pending.size;
  }

  /** Resolves with the seq the server stored a publish at (undefined for a direct message). */
  add<T = number | undefined>(frame: ClientFrame & { id: string }, room: AnyRoom | undefined, limits: OperationOptions = {}): Promise<T> {
    const limit = this.settings.maxPending;
    if (this.pending.size >= limit) {
      return Promise.reject(new ClasswireError('queue_full', `${limit} messages are already waiting for an ack`));
    }
    if (this.pending.has(frame.id)) {
      return Promise.reject(new ClasswireError('conflict', `a request with id "${frame.id}" is already pending`));
    }
    const text = JSON.stringify(frame);
    const bytes = utf8Length(text);
    // Sent, it would close the connection (1009) and be resent after every reconnect.
    if (bytes > this.frameLimit) return Promise.reject(tooLarge(bytes, this.frameLimit));
    return new Promise((resolve, reject) => {
      const request: PendingRequest = {
        id: frame.id,
        text,
        bytes,
        room,
        resolve,
        reject,
        retries: 0,
        rejoins: 0,
        unwatch: () => {},
      };
      this.pending.set(frame.id, request);
      request.unwatch = watchDeadline(`request ${frame.id}`, limits, (error) => this.abandon(request, error));
      this.flush();
    });
  }

  /**
   * The caller gave up (timeout or abort). A copy already sent may still be stored: a retry with the same
   * id is then answered with its ack, never stored twice.
   */
  private abandon(request: PendingRequest, error: ClasswireError): void {
    if (this.pending.get(request.id) !== request) return;
    this.fail(request, error);
    this.flush();
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

  acknowledged(frame: AckFrame | HistoryFrame | MembersFrame): void {
    const request = this.pending.get(frame.id!);
    if (request === undefined) return;
    const room = request.room;
    // A publish sent without an echo: its ack says where the message went, so the room shows it from the
    // ack, in seq order with the others (a copy that arrives anyway is dropped by seq). Of another epoch, the room's resume deals with it.
    if (frame.type === 'ack' && frame.seq! > 0 && frame.from && room !== undefined && room.epoch === frame.epoch) {
      const sent = JSON.parse(request.text) as PublishFrame;
      // What the echo would have been (`type` aside, which the room does not read).
      room.handleMessage({ room: room.id, seq: frame.seq, ts: frame.ts, event: sent.event, data: sent.data ?? null, from: frame.from, id: request.id } as MessageFrame);
    }
    this.settle(request);
    request.resolve((frame.type === 'ack' ? frame.seq : frame) as never);
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
    const refusedFor = Date.now() - (request.firstRefusedAt ??= Date.now());
    if (ERROR_CODES[code].retryable && (request.retries < MAX_REFUSED_RETRIES || refusedFor < this.settings.retryWindowMs)) {
      // Same id, so a retry the server already stored is answered with the original ack. Its lane waits.
      this.unsend(request);
      request.retries += 1;
      request.retryTimer = setTimeout(() => {
        request.retryTimer = undefined;
        this.flush();
      }, this.settings.retryDelay(request.retries));
      return true;
    }
    this.fail(request, error);
    this.flush();
    return true;
  }

  /**
   * The socket was lost: everything unacknowledged goes out again on the next one, except, after a 1009
   * close (a frame over the server's limit), the largest request in flight: it is the one the server
   * refused (or as large), so it is rejected and the limit lowered below it, never resent.
   */
  unsendAll(closeCode: number): void {
    if (closeCode === CLOSE_CODES.messageTooBig) {
      let largest: PendingRequest | undefined;
      for (const request of this.pending.values()) {
        if (request.sentOn !== undefined && (largest === undefined || request.bytes > largest.bytes)) largest = request;
      }
      if (largest !== undefined) {
        this.frameLimit = Math.min(this.frameLimit, largest.bytes - 1);
        this.fail(largest, tooLarge(largest.bytes, this.frameLimit));
      }
    }
    for (const request of this.pending.values()) this.unsend(request);
  }

  rejectAll(error: ClasswireError): void {
    for (const request of this.pending.values()) this.fail(request, error);
  }

  rejectRoom(room: AnyRoom, error: ClasswireError): void {
    for (const request of this.pending.values()) if (request.room === room) this.fail(request, error);
  }

  private transmit(request: PendingRequest, link: Link): void {
    request.sentOn = link;
    link.send(request.text);
    clearTimeout(request.ackTimer);
    request.ackTimer = setTimeout(() => {
      request.ackTimer = undefined;
      // No ack on a live connection: resend with the same id; the server answers a duplicate with the first ack.
      if (this.pending.get(request.id) === request && request.sentOn === link) {
        request.sentOn = undefined;
        this.flush();
      }
    }, this.settings.ackTimeoutMs);
  }

  // clearTimeout ignores undefined.
  private unsend(request: PendingRequest): void {
    request.sentOn = undefined;
    clearTimeout(request.ackTimer);
    request.ackTimer = undefined;
  }

  /** Takes the request out of the outbox, its timers and deadline stopped. */
  private settle(request: PendingRequest): void {
    this.unsend(request);
    clearTimeout(request.retryTimer);
    request.retryTimer = undefined;
    request.unwatch();
    this.pending.delete(request.id);
  }

  private fail(request: PendingRequest, error: ClasswireError): void {
    this.settle(request);
    request.reject(error);
  }
}
