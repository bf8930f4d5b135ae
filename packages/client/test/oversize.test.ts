import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, startGateway, type Gateway } from '../../gateway/src/index.js';
import { ClasswireError, type ConnectionState } from '../src/node.js';
import { RUNTIMES, SECRET, eventually, makeToken, sdkClient, startRuntime, wsUrl } from './helpers.js';

const refusal = (promise: Promise<unknown>) => promise.then(() => undefined, (error: unknown) => error);

describe.each(RUNTIMES)('an oversized publish on %s', (runtime) => {
  let gateway: Gateway;

  beforeAll(async () => {
    gateway = await startRuntime(runtime);
  });
  afterAll(async () => {
    await gateway.drain();
  });

  it('is rejected with payload_too_large before it is sent; the connection and later publishes are unaffected', async () => {
    const states: ConnectionState[] = [];
    const client = sdkClient(wsUrl(gateway), { token: await makeToken({ rooms: ['big'] }) });
    client.on('state', ({ state }) => states.push(state));
    const room = client.join('big');
    await room.ready;
    const error = await refusal(room.publish('chat.message', 'x'.repeat(40_000)));
    expect(error).toBeInstanceOf(ClasswireError);
    expect((error as ClasswireError).code).toBe('payload_too_large');
    expect(await refusal(room.publish('cursor.move', 'y'.repeat(40_000), { ephemeral: true }))).toMatchObject({ code: 'payload_too_large' });
    expect(await room.publish('chat.message', 'small')).toBe(1);
    expect(states).toEqual(['connecting', 'open']);
    client.close();
  });
});

describe('a publish over a server limit the SDK did not know', () => {
  let gateway: Gateway;
  const logLines: string[] = [];

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        logLines.push(chunk.toString());
        callback();
      },
    });
    const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', CLASSWIRE_JWT_SECRET: SECRET, CLASSWIRE_CLASSROOM: '0', CLASSWIRE_MAX_FRAME_BYTES: '4096' });
    gateway = await startGateway(config, { logger: pino({ level: 'info' }, sink) });
  });
  afterAll(async () => {
    await gateway.drain();
  });

  it('is rejected after the 1009 close and never resent; the server records and logs 1009', async () => {
    const states: ConnectionState[] = [];
    const client = sdkClient(wsUrl(gateway), { token: await makeToken({ rooms: ['big'] }) });
    client.on('state', ({ state }) => states.push(state));
    const room = client.join('big');
    await room.ready;
    const error = await refusal(room.publish('chat.message', 'x'.repeat(10_000)));
    expect(error).toMatchObject({ code: 'payload_too_large' });
    // Published after it, queued behind it in the room's lane: delivered once the big one is given up.
    expect(await room.publish('chat.message', 'small')).toBe(1);
    // One reconnect, not a loop; and the SDK now refuses frames that large before sending them.
    expect(states.filter((s) => s === 'reconnecting')).toHaveLength(1);
    expect(await refusal(room.publish('chat.message', 'z'.repeat(10_000)))).toMatchObject({ code: 'payload_too_large' });
    expect(states.filter((s) => s === 'reconnecting')).toHaveLength(1);
    await eventually(async () => /classwire_closes_total\{code="1009"\} 1/.test(await gateway.metrics.registry.metrics()));
    expect(await gateway.metrics.registry.metrics()).not.toMatch(/classwire_closes_total\{code="1006"\}/);
    const logged = logLines.map((line) => JSON.parse(line) as { msg: string; code?: number });
    expect(logged).toContainEqual(expect.objectContaining({ msg: 'closed for a protocol violation', code: 1009 }));
    client.close();
  });
});
