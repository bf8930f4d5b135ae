import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { loadConfig, startGateway } from '../src/index.js';
import { API_KEY, SECRET, TestClient, eventually, makeToken, startTestGateway, upgradeStatus } from '../../../test-support/harness.js';

describe('rate limit', () => {
  it('refuses the first frame beyond the bucket with rate_limited, stops reading, and closes a sender that keeps flooding with 4002', async () => {
    const gateway = await startTestGateway({ CLASSWIRE_RATE_PER_SECOND: '1', CLASSWIRE_RATE_BURST: '5' });
    const flooder = await TestClient.connect(gateway, await makeToken());
    const calm = await TestClient.connect(gateway, await makeToken());
    for (let i = 0; i < 40; i++) flooder.send({ action: 'ping', id: `f${i}` });
    expect(await flooder.waitClosed()).toBe(4002);
    const pongs = flooder.frames.filter((f) => f.type === 'pong');
    const limited = flooder.frames.filter((f) => f.type === 'error' && f.code === 'rate_limited');
    // The bucket holds 5 (plus whatever refilled in the meantime); the next frame was refused, and the rest
    // were not parsed: more than a burst of them waited for the limiter, so the sender was closed.
    expect(pongs.length).toBeGreaterThanOrEqual(5);
    expect(pongs.length).toBeLessThan(10);
    expect(limited).toHaveLength(1);
    const refusedAt = flooder.frames.indexOf(limited[0]!);
    expect(limited[0]!.id).toBe(`f${refusedAt}`);
    expect(await calm.request({ action: 'ping' })).toMatchObject({ type: 'pong' });
    expect((await gateway.metrics.inboundThrottles.get()).values[0]?.value).toBe(1);
    await calm.close();
    await gateway.drain();
  });

  it('reads a throttled sender again at its rate: frames beyond the burst wait, in order, instead of being refused', async () => {
    const gateway = await startTestGateway({ CLASSWIRE_RATE_PER_SECOND: '4', CLASSWIRE_RATE_BURST: '5' });
    const sender = await TestClient.connect(gateway, await makeToken());
    // Two bursts' worth: 5 admitted, 1 refused, 4 wait for the bucket (4/s) — fewer than a burst, so no close.
    for (let i = 0; i < 10; i++) sender.send({ action: 'ping', id: `p${i}` });
    await eventually(() => sender.frames.length === 10);
    const answers = sender.frames.map((f) => `${String(f.type)}:${String(f.id)}:${String(f.code ?? '')}`);
    expect(answers).toEqual([
      ...[0, 1, 2, 3, 4].map((i) => `pong:p${i}:`),
      'error:p5:rate_limited',
      ...[6, 7, 8, 9].map((i) => `pong:p${i}:`),
    ]);
    expect(sender.closeCode).toBeUndefined();
    await sender.close();
    await gateway.drain();
  });
});

describe('liveness', () => {
  it('drops a peer that stops answering pings', async () => {
    const gateway = await startTestGateway({ CLASSWIRE_PING_INTERVAL_MS: '100' });
    const client = await TestClient.connect(gateway, await makeToken());
    await client.request({ action: 'ping' });
    expect(gateway.connectionCount).toBe(1);
    // A paused socket reads nothing, so the server's pings go unanswered.
    (client.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    await eventually(() => gateway.connectionCount === 0);
    await gateway.drain();
  });
});

describe('logs', () => {
  it('carry connection and user ids but never a token', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        lines.push(chunk.toString());
        callback();
      },
    });
    const config = loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      CLASSWIRE_JWT_SECRET: SECRET,
      CLASSWIRE_API_KEY: API_KEY,
      CLASSWIRE_DEV_TOKENS: '1',
      CLASSWIRE_DEV_TOKENS_USE_JWT_SECRET: '1',
    });
    const gateway = await startGateway(config, { logger: pino({ level: 'debug' }, sink) });
    const token = await makeToken({ sub: 'logged-user' });
    const client = await TestClient.connect(gateway, token);
    await client.request({ action: 'publish', room: 'nowhere', event: 'chat.message', data: 1 });
    await client.close();
    const forged = `${token.slice(0, -4)}AAAA`;
    expect(await upgradeStatus(`${gateway.url.replace('http', 'ws')}/ws?token=${forged}`)).toBe(401);
    const minted = await fetch(`${gateway.url}/dev/token`, { method: 'POST', body: '{"name":"Z"}' });
    const { token: devToken } = (await minted.json()) as { token: string };
    await gateway.drain();
    const log = lines.join('');
    expect(log).toContain('logged-user');
    expect(log).toContain('"reason":"invalid"');
    for (const secret of [token, forged, devToken, token.split('.')[2]!, SECRET, API_KEY]) expect(log).not.toContain(secret);
  });
});
