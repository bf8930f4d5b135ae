import { ProtocolError, encodeAckFrame, encodeMessageBody, type ClassroomEventMap, type PublishFrame } from '@classwire/protocol';
import { checkMessageSize, senderOf, userDedupKey } from '../frames.js';
import type { ConnectionState, FanOut, StateQuery, StateRead } from '../ports.js';
import type { ControlCache } from './control-cache.js';
import { EVENT_HANDLERS, type AppendedEvent, type HandlerServices, type Plan } from './handlers.js';
import { COLLECTIONS, parseControl, versionGuard, type ControlState } from './room-state.js';
import type { RoomStore } from './room-store.js';

/** How often a decision is retaken when control events keep landing in between. */
const MAX_ATTEMPTS = 8;
/** The state a handler gets when only the control state was needed (and it was remembered). */
const NO_STATE: StateRead = { epoch: '', seq: 0, collections: {}, counts: {} };

/**
 * The stored classroom events: each is decided by its handler against a read of the state and appended
 * under the control state's version guard; when a control change landed in between, it is decided again.
 */
export class AppendedEvents {
  constructor(
    private readonly store: RoomStore,
    private readonly controls: ControlCache,
    private readonly fanout: FanOut,
    private readonly services: HandlerServices,
    private readonly maxFrameBytes: number,
  ) {}

  /** Returns whether the message was new or a retry of one already stored. */
  async publish<E extends AppendedEvent>(
    connection: ConnectionState,
    frame: PublishFrame & { id: string },
    event: E,
    data: ClassroomEventMap[E],
  ): Promise<'acked' | 'duplicate'> {
    const { room, id } = frame;
    const sent = encodeMessageBody(event, data, senderOf(connection), id);
    checkMessageSize(room, sent, this.maxFrameBytes);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      // After a stale guard the remembered control state is not used again.
      const { control, plan } = await this.decide(connection, room, event, data, attempt === 0);
      const body = plan.message === undefined ? sent : encodeMessageBody(event, plan.message, senderOf(connection), id);
      if (body !== sent) checkMessageSize(room, body, this.maxFrameBytes);
      // Without an echo the sender shows the message from its own event and data and the ack: only when
      // the stored message is exactly that (neither the schema nor the handler changed the data).
      const silent = frame.echo === false && body === encodeMessageBody(event, frame.data, senderOf(connection), id);
      const effects = { guards: [versionGuard(control), ...plan.guards], ops: plan.ops };
      const outcome = await this.store.append(room, body, userDedupKey(connection.userId, id), effects, silent ? connection.connectionId : undefined);
      // The control state changed between the read and the append: decide again on the new state.
      if (outcome.kind === 'stale' && (outcome.guard === 0 || plan.retryOnStale === true)) continue;
      if (outcome.kind === 'stale') throw plan.guardError ?? new ProtocolError('conflict', 'the room state changed');
      if (outcome.kind === 'conflict') throw new ProtocolError('conflict', 'this id was already used for a different message');
      // Acked before the effects, which may close the sender's own socket (class.end).
      const message = silent ? { ts: outcome.ts, epoch: outcome.epoch, from: senderOf(connection) } : undefined;
      await this.fanout.send(connection.connectionId, encodeAckFrame(id, room, outcome.seq, message));
      if (outcome.duplicate) return 'duplicate';
      await plan.after?.();
      return 'acked';
    }
    throw new ProtocolError('unavailable', 'the class settings kept changing; retry with the same id');
  }

  /**
   * Reads what the event's handler needs and lets it decide. An event that needs only the control state
   * may be decided on the one remembered for the room (`remembered`): the append's version guard catches
   * a stale one, and a refusal is taken again on a fresh read.
   */
  private async decide<E extends AppendedEvent>(
    connection: ConnectionState,
    room: string,
    event: E,
    data: ClassroomEventMap[E],
    remembered: boolean,
  ): Promise<{ control: ControlState; plan: Plan }> {
    const handler = EVENT_HANDLERS[event];
    const input = { actor: connection, sender: senderOf(connection), room, data, services: this.services };
    const known = remembered && handler.reads === undefined ? this.controls.get(room) : undefined;
    if (known !== undefined) {
      try {
        return { control: known, plan: await handler.plan({ ...input, control: known, state: NO_STATE }) };
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error;
      }
    }
    const query: StateQuery = { ...handler.reads?.(data, connection), [COLLECTIONS.control]: 'all' };
    const state = await this.store.read(room, query);
    const control = parseControl(state.collections[COLLECTIONS.control]);
    this.controls.remember(room, control);
    return { control, plan: await handler.plan({ ...input, control, state }) };
  }
}
