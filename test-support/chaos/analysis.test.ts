import { describe, expect, it } from 'vitest';
import { tally, type AckedPublish, type MemberLog, type TimelineEntry } from './analysis.js';

const acked = (publisher: number, n: number, seq: number, epoch = 'e1', sentAt = 0): AckedPublish => ({ id: `${publisher}:${n}`, publisher, room: 'r', seq, epoch, sentAt });
const got = (publisher: number, n: number, seq: number, epoch = 'e1', at = 10): TimelineEntry => ({ kind: 'message', id: `${publisher}:${n}`, publisher, n, seq, epoch, at });
const reset = (seq: number, epoch: string, previousEpoch: string, at: number): TimelineEntry => ({ kind: 'reset', seq, epoch, previousEpoch, at });
const member = (timeline: TimelineEntry[], stayedJoined = true): MemberLog => ({ member: 1, room: 'r', stayedJoined, timeline });

describe('the chaos tally', () => {
  it('finds nothing wrong when every acked message arrived once in order', () => {
    const result = tally([acked(0, 0, 1), acked(1, 0, 2)], [member([got(0, 0, 1), got(1, 0, 2)])]);
    expect(result).toMatchObject({ ackedPublishes: 2, deliveries: 2, lostAcked: 0, duplicates: 0, orderViolations: 0, silentGaps: 0, resets: 0 });
  });

  it('counts an acked message a joined member never got as lost, with a silent gap where it was skipped', () => {
    const result = tally([acked(0, 0, 1), acked(0, 1, 2), acked(0, 2, 3)], [member([got(0, 0, 1), got(0, 2, 3)])]);
    expect(result).toMatchObject({ lostAcked: 1, silentGaps: 1, deliveredToNoMember: 1 });
    expect(result.lostExamples).toEqual(['member 1 r: 0:1 seq 2 epoch e1']);
  });

  it('excuses a missed message a later reset covered (new epoch, or a seq at or past it), and nothing else', () => {
    const messages = [acked(0, 0, 1, 'e1', 5), acked(0, 1, 2, 'e2', 50), acked(0, 2, 3, 'e2', 50)];
    const result = tally(messages, [member([reset(0, 'e2', 'e1', 20), reset(2, 'e2', 'e2', 60)])]);
    expect(result).toMatchObject({ lostAcked: 1, excusedByReset: 2, resets: 2 });
    expect(result.lostExamples).toEqual(['member 1 r: 0:2 seq 3 epoch e2']);
    // A reset before the publish covers nothing.
    expect(tally([acked(0, 0, 1, 'e1', 30)], [member([reset(0, 'e2', 'e1', 20)])]).lostAcked).toBe(1);
  });

  it('counts a message delivered twice, even across a reset', () => {
    const result = tally([acked(0, 0, 1)], [member([got(0, 0, 1), reset(0, 'e2', 'e1', 20), got(0, 0, 1, 'e2', 30)])]);
    expect(result).toMatchObject({ duplicates: 1, orderViolations: 0 });
  });

  it('tells a skipped second copy of a message the member had (dropped by the SDK) from a silent gap', () => {
    // 0:1 was delivered as seq 1 of e1; its retry after the failover was stored again as seq 2 of e2.
    const messages = [acked(0, 0, 1, 'e2'), acked(0, 1, 2, 'e2'), acked(0, 2, 3, 'e2')];
    const timeline = [got(0, 1, 1, 'e1'), reset(0, 'e2', 'e1', 20), got(0, 0, 1, 'e2', 30), got(0, 2, 3, 'e2', 40)];
    expect(tally(messages, [member(timeline)])).toMatchObject({ copiesDroppedBySdk: 1, silentGaps: 0, duplicates: 0, lostAcked: 0 });
  });

  it('counts a seq going back, and a publisher overtaking itself, between resets', () => {
    expect(tally([], [member([got(0, 0, 2), got(1, 0, 1)])]).orderViolations).toBe(1);
    expect(tally([], [member([got(0, 1, 1), got(0, 0, 2)])]).orderViolations).toBe(1);
    expect(tally([], [member([got(0, 1, 5), reset(0, 'e2', 'e1', 20), got(0, 0, 1, 'e2')])]).orderViolations).toBe(0);
  });

  it('owes nothing to a member that did not stay joined', () => {
    expect(tally([acked(0, 0, 1)], [member([], false)])).toMatchObject({ lostAcked: 0, membersNotJoined: 1 });
  });
});
