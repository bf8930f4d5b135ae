import { ProtocolError, refusal, type Actor, type ClassControl, type ClassroomEvent, type Target } from '@classwire/protocol';

/** Throws `forbidden` with the permission table's reason when the event is not allowed. */
export function authorize(event: ClassroomEvent, actor: Actor, control: ClassControl, target?: Target): void {
  const reason = refusal(event, actor, control, target);
  if (reason !== undefined) throw new ProtocolError('forbidden', reason);
}
