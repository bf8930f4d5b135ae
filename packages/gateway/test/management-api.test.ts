import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  ForbiddenException,
  GetConnectionCommand,
  GoneException,
  PayloadTooLargeException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../src/index.js';
import { API_KEY, AWS_CREDENTIALS, RUNTIMES, TestClient, makeToken, startRuntime, startTestGateway } from '../../../test-support/harness.js';

let gateway: Gateway;

beforeAll(async () => {
  gateway = await startTestGateway();
});
afterAll(async () => {
  await gateway.drain();
});

describe.each(RUNTIMES)('on %s', (runtime) => {
  let runtimeGateway: Gateway;

  beforeAll(async () => {
    runtimeGateway = await startRuntime(runtime);
  });
  afterAll(async () => {
    await runtimeGateway.drain();
  });

  /** The unmodified AWS SDK v3 client, pointed at this gateway (with or without a stage in the path). */
  function sdk(endpointPath = '', credentials = AWS_CREDENTIALS): ApiGatewayManagementApiClient {
    return new ApiGatewayManagementApiClient({ endpoint: `${runtimeGateway.url}${endpointPath}`, region: 'eu-west-2', credentials });
  }

  async function connected(): Promise<{ client: TestClient; connectionId: string }> {
    const client = await TestClient.connect(runtimeGateway, await makeToken({ rooms: ['mgmt'] }));
    const joined = await client.join('mgmt');
    return { client, connectionId: joined.connectionId as string };
  }

  describe('@connections API with the AWS SDK', () => {
    // The emulator serves one stage, its WebSocket path; the gateway accepts any stage prefix.
    for (const stage of ['', runtime === 'gateway' ? '/prod' : '/ws']) {
      it(`posts, gets and deletes a connection${stage === '' ? '' : ' under a stage path'}`, async () => {
        const { client, connectionId } = await connected();
        expect(connectionId).toMatch(/^[A-Za-z0-9_-]{15}=$/);
        const api = sdk(stage);
        const before = Date.now();
        await api.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: '{"type":"custom","n":1}' }));
        const posted = await client.next((f) => f.type === 'custom');
        expect(posted).toEqual({ type: 'custom', n: 1 });

        const info = await api.send(new GetConnectionCommand({ ConnectionId: connectionId }));
        expect(info.ConnectedAt).toBeInstanceOf(Date);
        expect(info.ConnectedAt!.getTime()).toBeLessThanOrEqual(before);
        expect(info.LastActiveAt!.getTime()).toBeGreaterThanOrEqual(info.ConnectedAt!.getTime());
        expect(info.Identity?.SourceIp).toBe('127.0.0.1');

        await api.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
        expect(await client.waitClosed()).toBe(1000);
        await expect(api.send(new GetConnectionCommand({ ConnectionId: connectionId }))).rejects.toBeInstanceOf(GoneException);
      });
    }

    it('raises GoneException for an unknown or closed connection, detectable the v3 way', async () => {
      const api = sdk();
      const error = await api
        .send(new PostToConnectionCommand({ ConnectionId: 'AAAAAAAAAAAAAAA=', Data: 'x' }))
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(GoneException);
      expect((error as GoneException).$metadata.httpStatusCode).toBe(410);
      const { client, connectionId } = await connected();
      await client.close();
      await expect(api.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: 'x' }))).rejects.toBeInstanceOf(
        GoneException,
      );
      await expect(api.send(new DeleteConnectionCommand({ ConnectionId: connectionId }))).rejects.toBeInstanceOf(GoneException);
    });

    it('refuses a post over 128 KB with PayloadTooLargeException', async () => {
      const { client, connectionId } = await connected();
      await expect(
        sdk().send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: 'x'.repeat(128 * 1024 + 1) })),
      ).rejects.toBeInstanceOf(PayloadTooLargeException);
      await client.close();
    });

    it('refuses wrong credentials and unsigned requests', async () => {
      const { client, connectionId } = await connected();
      const wrong = sdk('', { ...AWS_CREDENTIALS, secretAccessKey: 'not-the-secret' });
      await expect(wrong.send(new GetConnectionCommand({ ConnectionId: connectionId }))).rejects.toBeInstanceOf(ForbiddenException);
      const unknownKey = sdk('', { accessKeyId: 'AKIDOTHER', secretAccessKey: AWS_CREDENTIALS.secretAccessKey });
      await expect(unknownKey.send(new GetConnectionCommand({ ConnectionId: connectionId }))).rejects.toBeInstanceOf(
        ForbiddenException,
      );
      const unsigned = await fetch(`${runtimeGateway.url}/@connections/${encodeURIComponent(connectionId)}`, { method: 'POST', body: 'x' });
      expect(unsigned.status).toBe(403);
      const badKey = await fetch(`${runtimeGateway.url}/@connections/${encodeURIComponent(connectionId)}`, {
        method: 'POST',
        body: 'x',
        headers: { authorization: 'Bearer wrong-key-wrong-key' },
      });
      expect(badKey.status).toBe(403);
      const withKey = await fetch(`${runtimeGateway.url}/%40connections/${encodeURIComponent(connectionId)}`, {
        method: 'POST',
        body: '{"type":"keyed"}',
        headers: { authorization: `Bearer ${API_KEY}` },
      });
      expect(withKey.status).toBe(200);
      expect(await client.next((f) => f.type === 'keyed')).toEqual({ type: 'keyed' });
      expect(client.frames.some((f) => f.type === 'custom')).toBe(false);
      await client.close();
    });

    it('is closed to everyone when no credentials are configured', async () => {
      const closed = await startRuntime(runtime, { CLASSWIRE_API_KEY: '', CLASSWIRE_AWS_ACCESS_KEY_ID: '', CLASSWIRE_AWS_SECRET_ACCESS_KEY: '' });
      const client = await TestClient.connect(closed, await makeToken());
      const id = (await client.join('any')).connectionId as string;
      const response = await fetch(`${closed.url}/@connections/${encodeURIComponent(id)}`, {
        method: 'POST',
        body: 'x',
        headers: { authorization: `Bearer ${API_KEY}` },
      });
      expect(response.status).toBe(403);
      const signed = new ApiGatewayManagementApiClient({ endpoint: closed.url, region: 'eu-west-2', credentials: AWS_CREDENTIALS });
      await expect(signed.send(new GetConnectionCommand({ ConnectionId: id }))).rejects.toBeInstanceOf(ForbiddenException);
      await client.close();
      await closed.drain();
    });
  });
});

describe('POST /rooms/{room}/messages', () => {
  const publish = (room: string, body: unknown, key = API_KEY) =>
    fetch(`${gateway.url}/rooms/${encodeURIComponent(room)}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  it('sequences and stores a server-side publish like any other and delivers it to members', async () => {
    const member = await TestClient.connect(gateway, await makeToken({ rooms: ['announcements'] }));
    await member.join('announcements');
    await member.request({ action: 'publish', room: 'announcements', event: 'chat.message', data: 'first' });
    const response = await publish('announcements', { event: 'class.notice', data: { text: 'Exam moved' }, id: 'n-1' });
    expect(response.status).toBe(201);
    expect(await response.json()).toEqual({ room: 'announcements', seq: 2, duplicate: false, id: 'n-1' });
    const [, notice] = await member.waitForMessages('announcements', 2);
    expect(notice).toMatchObject({ seq: 2, event: 'class.notice', data: { text: 'Exam moved' }, from: { role: 'server' } });
    const retry = await publish('announcements', { event: 'class.notice', data: { text: 'Exam moved' }, id: 'n-1' });
    expect(await retry.json()).toMatchObject({ seq: 2, duplicate: true });
    const late = await TestClient.connect(gateway, await makeToken({ rooms: ['announcements'] }));
    const joined = member.frames.find((f) => f.type === 'joined')!;
    await late.join('announcements', { since: 1, epoch: joined.epoch });
    expect(late.messages().map((f) => f.event)).toEqual(['class.notice']);
    await Promise.all([member.close(), late.close()]);
  });

  it('validates input and authentication', async () => {
    expect((await publish('r', '{nope')).status).toBe(400);
    expect((await publish('r', { data: 1 })).status).toBe(400);
    expect((await publish('bad room', { event: 'x' })).status).toBe(400);
    expect((await publish('r', { event: 'x', data: 'y'.repeat(40_000) })).status).toBe(413);
    expect((await publish('r', { event: 'x' }, 'wrong-key-wrong-key')).status).toBe(403);
    const anonymous = await fetch(`${gateway.url}/rooms/r/messages`, { method: 'POST', body: '{"event":"x"}' });
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toMatchObject({ code: 'unauthorized' });
  });
});
