import { CLOSE_CODES } from '@classwire/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../src/index.js';
import { RUNTIMES, TestClient, eventually, makeToken, startRuntime } from '../../../test-support/harness.js';

/** The close code a client was given: the `closing` frame's on API Gateway (DeleteConnection cannot choose one), else the socket's. */
async function closeCodeOf(client: TestClient): Promise<number> {
  const code = await client.waitClosed();
  const notice = client.frames.find((f) => f.type === 'closing');
  return notice === undefined ? code : (notice.code as number);
}

describe.each(RUNTIMES)('token expiry on %s', (runtime) => {
  let gateway: Gateway;

  beforeAll(async () => {
    // A heartbeat far beyond the test: expiry must not depend on it.
    gateway = await startRuntime(runtime, { CLASSWIRE_PING_INTERVAL_MS: '600000' });
  });
  afterAll(async () => {
    await gateway.drain();
  });

  it('accepts nothing after exp and closes the connection with 4004', async () => {
    const observer = await TestClient.connect(gateway, await makeToken({ rooms: ['exp'] }));
    await observer.join('exp');
    const expiresAt = Math.ceil(Date.now() / 1000) + 2;
    const shortLived = await TestClient.connect(gateway, await makeToken({ rooms: ['exp'], expiresIn: expiresAt }));
    await shortLived.join('exp');
    expect(await shortLived.request({ action: 'publish', room: 'exp', event: 'chat.message', data: 'before' })).toMatchObject({ type: 'ack', seq: 1 });

    if (runtime === 'apigw-emulator') {
      // No process holds the socket on AWS: the Lambda refuses the first frame after exp. Waits for the clock.
      await eventually(() => Date.now() >= expiresAt * 1000, 5000);
      shortLived.send({ action: 'publish', room: 'exp', event: 'chat.message', data: 'after', id: 'late' });
    }
    // The gateway closes at exp by itself (its expiry queue), long before any heartbeat.
    expect(await closeCodeOf(shortLived)).toBe(CLOSE_CODES.tokenExpired);
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt * 1000);

    // The observer's next message is seq 2: nothing of the expired connection was sequenced after exp.
    expect(await observer.request({ action: 'publish', room: 'exp', event: 'chat.message', data: 'marker' })).toMatchObject({ seq: 2 });
    expect(observer.messages('exp').map((m) => m.data)).not.toContain('after');
    await observer.close();
  });
});
