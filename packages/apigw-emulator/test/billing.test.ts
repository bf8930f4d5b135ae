import { describe, expect, it } from 'vitest';
import { startRuntime } from '../../../test-support/harness.js';
import { runClassroomWorkload, usageBetween, type ClassroomWorkload } from './classroom-workload.js';

async function measure(env: Record<string, string>, workload: ClassroomWorkload, clientOptions: { echo?: boolean } = {}) {
  const gateway = await startRuntime('apigw-emulator', env);
  try {
    return await runClassroomWorkload(gateway, workload, clientOptions);
  } finally {
    await gateway.drain();
  }
}

describe('billed units of the AWS runtime, counted by the emulator', () => {
  // One room of a teacher and 5 students; the teacher draws 6 strokes as fast as acks come back.
  const burst: ClassroomWorkload = { rooms: 1, students: 5, strokes: 6, strokeIntervalMs: 0, chatPerStudent: 0 };

  it('without coalescing: one message post per member per message, an ack per publish, joins and presence', async () => {
    const { joined, done } = await measure({ CLASSWIRE_COALESCE_MS: '0' }, burst);
    // 6 joins; each `joined` alone; each join tells those already in (0+1+…+5 presence frames).
    expect(joined.inbound).toEqual({ join: 6 });
    expect(joined.outbound).toEqual({ joined: 6, presence: 15 });
    expect(usageBetween(joined, done)).toEqual({ inbound: { publish: 6 }, outbound: { message: 36, ack: 6 }, posts: 42 });
    expect(done.connectionMinutes).toBe(6);
  });

  it('without echoes: the sender gets an ack per message and no copy of it; every member still sees every message', async () => {
    const { done, joined } = await measure({ CLASSWIRE_COALESCE_MS: '0' }, burst, { echo: false });
    // 6 messages to the 5 students only: 30 posts instead of 36. runClassroomWorkload checked that the
    // teacher's room showed all 6, in order, from the acks.
    expect(usageBetween(joined, done)).toEqual({ inbound: { publish: 6 }, outbound: { message: 30, ack: 6 }, posts: 36 });
  });

  it('without echoes and with coalescing: the sender, whose own messages fill the window, gets no batch post', async () => {
    const { joined, done } = await measure({ CLASSWIRE_COALESCE_MS: '1000' }, burst, { echo: false });
    const used = usageBetween(joined, done);
    expect(used.outbound.ack).toBe(6);
    // One batch post per student normally; two if a slow machine spread the burst over two windows.
    const messagePosts = (used.outbound.batch ?? 0) + (used.outbound.message ?? 0);
    expect(messagePosts).toBeGreaterThanOrEqual(5);
    expect(messagePosts).toBeLessThanOrEqual(10);
  });

  it('with coalescing: a burst within the window reaches each member as one batch post, everything in order', async () => {
    // The window (1 s) normally holds the whole burst: one batch post per member. A machine slow enough to
    // spread 6 publishes over two windows costs a second post per member, never more; runClassroomWorkload
    // checks that every member got every message once and in order either way.
    const { joined, done } = await measure({ CLASSWIRE_COALESCE_MS: '1000' }, burst);
    const used = usageBetween(joined, done);
    expect(used.inbound).toEqual({ publish: 6 });
    expect(used.outbound.ack).toBe(6);
    const messagePosts = (used.outbound.batch ?? 0) + (used.outbound.message ?? 0);
    expect(messagePosts).toBeGreaterThanOrEqual(6);
    expect(messagePosts).toBeLessThanOrEqual(12);
    expect(used.posts).toBe(messagePosts + 6);
  });

  it('with concurrent publishers: batch posts, every member receives every message once and in seq order', async () => {
    const { joined, done } = await measure(
      { CLASSWIRE_COALESCE_MS: '200' },
      { rooms: 2, students: 8, strokes: 5, strokeIntervalMs: 0, chatPerStudent: 2 },
    );
    const used = usageBetween(joined, done);
    expect(used.inbound).toEqual({ publish: 42 });
    expect(used.outbound.ack).toBe(42);
    // 42 messages to 18 members would be 378 posts one by one.
    expect(used.outbound.batch).toBeGreaterThan(0);
    expect((used.outbound.batch ?? 0) + (used.outbound.message ?? 0)).toBeLessThan(378);
  });
});
