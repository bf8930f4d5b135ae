import type { Gateway } from '@classwire/gateway';
import type { BilledUsage, EmulatorMetrics } from '../src/metrics.js';
import { connect, type ClasswireClient, type OpenEventMap, type RoomMessage } from '../../client/src/node.js';
import { eventually, makeToken } from '../../../test-support/harness.js';

/**
 * The classroom workload the AWS bill is measured with (docs/cost.md): rooms of one teacher and
 * `students` students; in each room the teacher draws `strokes` whiteboard strokes, one every
 * `strokeIntervalMs` (0: as fast as acks come back), while every student sends `chatPerStudent` chat
 * messages at once (a class answering a question). Counts are fixed, so billed units are comparable
 * between designs; only how messages fall into coalescing windows depends on timing.
 */
export interface ClassroomWorkload {
  rooms: number;
  students: number;
  strokes: number;
  strokeIntervalMs: number;
  chatPerStudent: number;
}

export interface WorkloadResult {
  /** Billed usage after everyone joined (joins, joined replies, presence). */
  joined: BilledUsage;
  /** Billed usage after every member received every message. */
  done: BilledUsage;
  publishes: number;
  /** Messages received by the SDK's handlers, all members together. */
  deliveries: number;
}

/** `echo: false`: every client asks for no echo of its own messages (the SDK shows them from the ack). */
export async function runClassroomWorkload(gateway: Gateway, w: ClassroomWorkload, clientOptions: { pingIntervalMs?: number; echo?: boolean } = {}): Promise<WorkloadResult> {
  const url = `${gateway.url.replace('http', 'ws')}/ws`;
  const metrics = gateway.metrics as EmulatorMetrics;
  const clients: ClasswireClient<OpenEventMap>[] = [];
  const received = new Map<ClasswireClient<OpenEventMap>, RoomMessage[]>();
  const rooms: { teacher: ClasswireClient<OpenEventMap>; students: ClasswireClient<OpenEventMap>[]; name: string }[] = [];
  try {
    for (let r = 0; r < w.rooms; r++) {
      const name = `class-${r}`;
      const members: ClasswireClient<OpenEventMap>[] = [];
      for (let m = 0; m <= w.students; m++) {
        const token = await makeToken({ sub: `r${r}-m${m}`, role: m === 0 ? 'teacher' : 'student', rooms: [name] });
        // Pings are priced from their interval (docs/cost.md); the run is too short for any.
        const client = connect<OpenEventMap>({ url, token, pingIntervalMs: clientOptions.pingIntervalMs ?? 3_600_000, ackTimeoutMs: 10_000, echo: clientOptions.echo ?? true });
        clients.push(client);
        const messages: RoomMessage[] = [];
        received.set(client, messages);
        const room = client.join(name);
        room.on('*', (message) => messages.push(message));
        // One at a time, so presence frames (each join tells those already in) are a fixed number.
        await room.ready;
        members.push(client);
      }
      rooms.push({ name, teacher: members[0]!, students: members.slice(1) });
    }
    const joined = metrics.billedUsage();
    const perRoom = w.strokes + w.students * w.chatPerStudent;
    await Promise.all(
      rooms.map(async ({ name, teacher, students }) => {
        const board = teacher.join(name);
        // Strokes leave on a fixed schedule (a pen does not wait for acks); the SDK sends them in order.
        const drawing = Promise.all(
          Array.from({ length: w.strokes }, async (_, i) => {
            if (w.strokeIntervalMs > 0) await new Promise((resolve) => setTimeout(resolve, i * w.strokeIntervalMs));
            await board.publish('board.stroke', { i, points: [[i, i + 1], [i + 2, i + 3]] });
          }),
        );
        const chatting = students.map(async (student, s) => {
          const room = student.join(name);
          for (let i = 0; i < w.chatPerStudent; i++) await room.publish('chat.message', { text: `answer ${i} from ${s}` });
        });
        await Promise.all([drawing, ...chatting]);
      }),
    );
    await eventually(() => [...received.values()].every((messages) => messages.length >= perRoom), 30_000);
    const done = metrics.billedUsage();
    for (const [client, messages] of received) {
      const seqs = messages.map((m) => m.seq!);
      if (messages.length !== perRoom || seqs.some((seq, i) => i > 0 && seq <= seqs[i - 1]!)) {
        throw new Error(`a member received ${messages.length} of ${perRoom} messages or out of order: ${seqs.join(',')}`);
      }
      void client;
    }
    return { joined, done, publishes: perRoom * w.rooms, deliveries: perRoom * w.rooms * (w.students + 1) };
  } finally {
    for (const client of clients) client.close();
  }
}

/** `after` minus `before`, per kind. */
export function usageBetween(before: BilledUsage, after: BilledUsage): Pick<BilledUsage, 'inbound' | 'outbound' | 'posts'> {
  const minus = (a: Record<string, number>, b: Record<string, number>) =>
    Object.fromEntries(Object.entries(a).map(([kind, n]) => [kind, n - (b[kind] ?? 0)]).filter(([, n]) => n !== 0));
  return { inbound: minus(after.inbound, before.inbound), outbound: minus(after.outbound, before.outbound), posts: after.posts - before.posts };
}
