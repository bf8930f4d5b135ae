import { isErrorCode, type ErrorCode, type Member, type Sender, type ServerFrame } from '@classwire/protocol/wire';
import type { Connection } from './connection.js';
import { ClasswireError } from './errors.js';
import type { Membership } from './membership.js';
import type { Outbox } from './outbox.js';
import { seenBefore } from './recent.js';
import type { TokenRefresher } from './refresh.js';

/** A private message as the app receives it. */
export interface DirectMessage<T = unknown> {
  event: string;
  data: T;
  from: Sender;
  ts: number;
  id?: string;
}

/** One handler per server frame type: a frame type added to the protocol does not compile until handled. */
type ServerFrameHandlers = { [T in Exclude<ServerFrame['type'], 'batch'>]: (frame: Extract<ServerFrame, { type: T }>) => void };

export interface InboundParts {
  connection: Connection;
  membership: Membership;
  outbox: Outbox;
  refresher: TokenRefresher;
  direct(message: DirectMessage): void;
  reportError(error: unknown): void;
}

const MAX_REMEMBERED_DIRECT_IDS = 1000;

/** Inbound dispatch: parses each server frame and hands it to the part of the client it concerns. */
export class Inbound {
  /** Senders' direct message ids seen lately: a resent direct message (its ack was lost) is delivered once. */
  private readonly seenDirect = new Set<string>();
  /** The parts so far of the member list answering a `members` request (its frames arrive together). */
  private answerMembers: Member[] = [];
  private readonly handlers: ServerFrameHandlers;

  constructor(private readonly parts: InboundParts) {
    const { connection, membership, outbox, refresher } = parts;
    this.handlers = {
      message: (frame) => membership.get(frame.room)?.handleMessage(frame),
      joined: (frame) => {
        const room = membership.joined(frame);
        if (room === undefined) return;
        connection.resetBackoff();
        connection.keepAlive(frame.keepAliveMs);
        room.handleJoined(frame);
        // The room's publishes waited for this.
        outbox.flush();
      },
      members: (frame) => {
        if (frame.id === undefined) return membership.get(frame.room)?.handleMembersPart(frame);
        this.answerMembers = frame.part > 0 ? [...this.answerMembers, ...frame.members] : frame.members;
        if (frame.part + 1 === frame.parts) outbox.acknowledged({ ...frame, members: this.answerMembers });
      },
      history: (frame) => outbox.acknowledged(frame),
      presence: (frame) => membership.get(frame.room)?.handlePresence(frame),
      snapshot: (frame) => {
        try {
          membership.get(frame.room)?.handleSnapshotPart(frame);
        } catch (error) {
          parts.reportError(error);
        }
      },
      ack: (frame) => {
        if (!refresher.acknowledged(frame.id)) outbox.acknowledged(frame);
      },
      left: (frame) => membership.left(frame),
      direct: (frame) => {
        if (frame.id !== undefined && seenBefore(this.seenDirect, `${frame.from.userId}\n${frame.id}`, MAX_REMEMBERED_DIRECT_IDS)) return;
        const message: DirectMessage = { event: frame.event, data: frame.data, from: frame.from, ts: frame.ts };
        if (frame.id !== undefined) message.id = frame.id;
        parts.direct(message);
      },
      error: (frame) => {
        const code: ErrorCode = isErrorCode(frame.code) ? frame.code : 'internal';
        const error = new ClasswireError(code, frame.message);
        if (refresher.refused(frame.id, error) || membership.joinRefused(frame.id, code, error)) return;
        if (!outbox.refused(frame.id, code, error)) parts.reportError(error);
      },
      pong: (frame) => connection.keepAlive(frame.keepAliveMs),
      closing: (frame) => connection.announceClose(frame),
    };
  }

  receive(data: unknown): void {
    let frame: ServerFrame | null;
    try {
      frame = JSON.parse(typeof data === 'string' ? data : String(data)) as ServerFrame | null;
    } catch (error) {
      this.parts.reportError(error);
      return;
    }
    // A batch's frames are handled in order as if each had arrived alone; a batch inside one is ignored.
    const frames = frame?.type === 'batch' ? frame.frames : [frame];
    if (!Array.isArray(frames)) return;
    for (const one of frames as (ServerFrame | null)[]) {
      // Frame types this client does not know (from a newer server), and non-objects, are ignored.
      if (one && Object.hasOwn(this.handlers, one.type)) (this.handlers[one.type as keyof ServerFrameHandlers] as (frame: ServerFrame) => void)(one);
    }
  }
}
