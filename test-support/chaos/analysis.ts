/** A publish the server acknowledged (the SDK's promise resolved with a seq). */
export interface AckedPublish {
  /** `publisher:n`, carried in the message's data. */
  id: string;
  publisher: number;
  room: string;
  seq: number;
  /** The publisher's view of the room's epoch when the ack arrived. */
  epoch: string;
  /** When the SDK was first asked to publish it (resends keep the id and this time). */
  sentAt: number;
}

export type TimelineEntry =
  | { kind: 'message'; id: string; publisher: number; n: number; seq: number; epoch: string; at: number }
  | { kind: 'reset'; seq: number; epoch: string; previousEpoch: string | undefined; at: number };

/** What one member saw in one room, in the order its handlers ran. */
export interface MemberLog {
  member: number;
  room: string;
  /** False when the client was closed for good or the room failed: then nothing is owed to it. */
  stayedJoined: boolean;
  timeline: TimelineEntry[];
}

export type ResetReason = 'new epoch (failover or Redis data loss)' | 'same epoch, position outside the history (older, or ahead of a promoted replica)';

export interface Tally {
  ackedPublishes: number;
  deliveries: number;
  /** Acked, owed to a member that stayed joined, never delivered, and not covered by a reset it got. */
  lostAcked: number;
  lostExamples: string[];
  /** Acked but not delivered to a member that was told so with a `recovered: false` reset covering it. */
  excusedByReset: number;
  /** Acked but received by no member at all: gone from the store (a failover), each member told by a reset. */
  deliveredToNoMember: number;
  /** The same message handed to one member's handlers twice. */
  duplicates: number;
  duplicateExamples: string[];
  /** A seq not above the previous one between two resets, or a publisher's messages out of its order. */
  orderViolations: number;
  /** A seq skipped between two resets without a reset: a silent gap. */
  silentGaps: number;
  /** Each with how long after it the member's next reset came (none: no reset followed). */
  silentGapExamples: string[];
  /**
   * Skipped seqs that held a second copy of a message the member already had (a publish retried after a
   * failover and stored again): the SDK's dedup by publish id dropped them, as it should.
   */
  copiesDroppedBySdk: number;
  resets: number;
  resetReasons: Partial<Record<ResetReason, number>>;
  membersNotJoined: number;
}

/** A reset covers a message the member had not received if it came after the publish and skipped past it. */
function coveredByReset(message: AckedPublish, resets: Extract<TimelineEntry, { kind: 'reset' }>[]): boolean {
  return resets.some((reset) => reset.at >= message.sentAt && (reset.epoch !== message.epoch || message.seq <= reset.seq));
}

export function tally(acked: readonly AckedPublish[], members: readonly MemberLog[]): Tally {
  const result: Tally = {
    ackedPublishes: acked.length,
    deliveries: 0,
    lostAcked: 0,
    lostExamples: [],
    excusedByReset: 0,
    deliveredToNoMember: 0,
    duplicates: 0,
    duplicateExamples: [],
    orderViolations: 0,
    silentGaps: 0,
    silentGapExamples: [],
    copiesDroppedBySdk: 0,
    resets: 0,
    resetReasons: {},
    membersNotJoined: 0,
  };
  const ackedByRoom = new Map<string, AckedPublish[]>();
  for (const publish of acked) ackedByRoom.set(publish.room, [...(ackedByRoom.get(publish.room) ?? []), publish]);

  const ackedAt = new Map<string, AckedPublish>();
  for (const publish of acked) ackedAt.set(`${publish.room} ${publish.epoch} ${publish.seq}`, publish);
  const deliveredAnywhere = new Set<string>();
  for (const log of members) {
    const seen = new Map<string, Extract<TimelineEntry, { kind: 'message' }>>();
    const resets: Extract<TimelineEntry, { kind: 'reset' }>[] = [];
    let previousSeq: number | undefined;
    let lastOfPublisher = new Map<number, number>();
    for (const entry of log.timeline) {
      if (entry.kind === 'reset') {
        resets.push(entry);
        result.resets += 1;
        const reason: ResetReason = entry.epoch !== entry.previousEpoch ? 'new epoch (failover or Redis data loss)' : 'same epoch, position outside the history (older, or ahead of a promoted replica)';
        result.resetReasons[reason] = (result.resetReasons[reason] ?? 0) + 1;
        previousSeq = entry.seq;
        lastOfPublisher = new Map();
        continue;
      }
      result.deliveries += 1;
      const earlier = seen.get(entry.id);
      if (earlier !== undefined) {
        result.duplicates += 1;
        if (result.duplicateExamples.length < 10) {
          const resetsBetween = resets.filter((r) => r.at >= earlier.at).length;
          result.duplicateExamples.push(
            `member ${log.member} ${log.room}: ${entry.id} as seq ${earlier.seq} (epoch ${earlier.epoch}) then seq ${entry.seq} (epoch ${entry.epoch}), ${resetsBetween} reset(s) between`,
          );
        }
      }
      seen.set(entry.id, entry);
      deliveredAnywhere.add(entry.id);
      if (previousSeq !== undefined) {
        if (entry.seq <= previousSeq) result.orderViolations += 1;
        else if (entry.seq > previousSeq + 1) {
          const skipped = Array.from({ length: entry.seq - previousSeq - 1 }, (_, i) => ackedAt.get(`${log.room} ${entry.epoch} ${previousSeq! + 1 + i}`));
          if (skipped.every((copy) => copy !== undefined && seen.has(copy.id))) {
            result.copiesDroppedBySdk += skipped.length;
          } else {
            result.silentGaps += 1;
            if (result.silentGapExamples.length < 10) {
              const nextReset = log.timeline.find((e) => e.kind === 'reset' && e.at >= entry.at);
              const after = nextReset === undefined ? 'no reset after it' : `reset ${nextReset.at - entry.at} ms later`;
              result.silentGapExamples.push(`member ${log.member} ${log.room}: seq ${previousSeq} → ${entry.seq} (epoch ${entry.epoch}), ${after}`);
            }
          }
        }
      }
      previousSeq = entry.seq;
      const last = lastOfPublisher.get(entry.publisher);
      if (last !== undefined && entry.n <= last) result.orderViolations += 1;
      lastOfPublisher.set(entry.publisher, entry.n);
    }
    if (!log.stayedJoined) {
      result.membersNotJoined += 1;
      continue;
    }
    for (const publish of ackedByRoom.get(log.room) ?? []) {
      if (seen.has(publish.id)) continue;
      if (coveredByReset(publish, resets)) {
        result.excusedByReset += 1;
        continue;
      }
      result.lostAcked += 1;
      if (result.lostExamples.length < 10) {
        result.lostExamples.push(`member ${log.member} ${log.room}: ${publish.id} seq ${publish.seq} epoch ${publish.epoch}`);
      }
    }
  }
  result.deliveredToNoMember = acked.filter((publish) => !deliveredAnywhere.has(publish.id)).length;
  return result;
}
