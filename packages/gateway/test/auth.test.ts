import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../src/index.js';
import { RUNTIMES, SECRET, TestClient, eventually, makeToken, startRuntime, startTestGateway, upgradeStatus } from '../../../test-support/harness.js';

// The same checks against the gateway and against the Lambda authorizer and $connect behind the API Gateway
// emulator; where API Gateway answers differently by design, the test says so.
describe.each(RUNTIMES)('on %s', (runtime) => {
  let gateway: Gateway;
  let wsUrl: string;

  beforeAll(async () => {
    gateway = await startRuntime(runtime, {
      CLASSWIRE_ALLOWED_ORIGINS: 'https://classroom.example',
      CLASSWIRE_MAX_CONNECTIONS_PER_USER: '2',
    });
    wsUrl = `${gateway.url.replace('http', 'ws')}/ws`;
  });
  afterAll(async () => {
    await gateway.drain();
  });

  function b64url(value: unknown): string {
    return Buffer.from(JSON.stringify(value)).toString('base64url');
  }

  async function metric(name: string): Promise<string> {
    const text = await (await fetch(`${gateway.url}/metrics`)).text();
    return text
      .split('\n')
      .filter((line) => line.startsWith(name))
      .join('\n');
  }

  describe('authentication before the upgrade', () => {
    it('refuses every bad token with 401 and creates no socket', async () => {
      const valid = await makeToken();
      const [header, payload, signature] = valid.split('.') as [string, string, string];
      const flipped = `${header}.${payload}.${signature.slice(0, -2)}${signature.endsWith('A') ? 'B' : 'A'}A`;
      const now = Math.floor(Date.now() / 1000);
      const cases: Record<string, string | undefined> = {
        missing: undefined,
        empty: '',
        malformed: 'not-a-jwt',
        garbage_segments: 'a.b.c',
        forged_signature: flipped,
        wrong_secret: await makeToken({ secret: 'another-secret-that-is-at-least-32-chars!!' }),
        expired: await new SignJWT({ rooms: ['*'] })
          .setProtectedHeader({ alg: 'HS256' })
          .setSubject('late')
          .setExpirationTime(now - 60)
          .sign(new TextEncoder().encode(SECRET)),
        no_exp: await new SignJWT({ rooms: ['*'] })
          .setProtectedHeader({ alg: 'HS256' })
          .setSubject('forever')
          .sign(new TextEncoder().encode(SECRET)),
        no_sub: await new SignJWT({ rooms: ['*'] })
          .setProtectedHeader({ alg: 'HS256' })
          .setExpirationTime('1h')
          .sign(new TextEncoder().encode(SECRET)),
        alg_none: `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ sub: 'x', exp: now + 600, rooms: ['*'] })}.`,
        wrong_algorithm: await makeToken({ alg: 'HS512' }),
        unknown_role: await makeToken({ role: 'admin' }),
      };
      for (const [name, token] of Object.entries(cases)) {
        const query = token === undefined ? '' : `?token=${encodeURIComponent(token)}`;
        expect({ name, status: await upgradeStatus(`${wsUrl}${query}`) }).toEqual({ name, status: 401 });
      }
      expect(gateway.connectionCount).toBe(0);
      expect(await metric('classwire_connections ')).toBe('classwire_connections 0');
      expect(await metric('classwire_auth_rejects_total{reason="missing"}')).toMatch(/ [1-9]\d*$/);
    });

    it('accepts a valid token in the query string or the Authorization header', async () => {
      const token = await makeToken();
      expect(await upgradeStatus(`${wsUrl}?token=${token}`)).toBe(101);
      // On API Gateway the authorizer's identity source is the `token` query parameter only.
      expect(await upgradeStatus(wsUrl, { authorization: `Bearer ${token}` })).toBe(runtime === 'gateway' ? 101 : 401);
    });

    it('refuses a room outside the claims with 403, and an invalid room name with 400', async () => {
      const token = await makeToken({ rooms: ['math-*'] });
      expect(await upgradeStatus(`${wsUrl}?token=${token}&room=math-101`)).toBe(101);
      expect(await upgradeStatus(`${wsUrl}?token=${token}&room=history-1`)).toBe(403);
      expect(await upgradeStatus(`${wsUrl}?token=${token}&room=${encodeURIComponent('bad room!')}`)).toBe(400);
    });

    it('checks Origin against the allowlist', async () => {
      const token = await makeToken();
      expect(await upgradeStatus(`${wsUrl}?token=${token}`, { origin: 'https://classroom.example' })).toBe(101);
      expect(await upgradeStatus(`${wsUrl}?token=${token}`, { origin: 'https://evil.test' })).toBe(403);
      expect(await upgradeStatus(`${wsUrl}?token=${token}`, { origin: 'https://classroom.example.evil.test' })).toBe(403);
      expect(await upgradeStatus(`${wsUrl}?token=${token}`, { origin: 'null' })).toBe(403);
    });

    it('limits connections per user with 429', async () => {
      const token = await makeToken({ sub: 'busy-user' });
      const first = await TestClient.connect(gateway, token);
      const second = await TestClient.connect(gateway, token);
      expect(await upgradeStatus(`${wsUrl}?token=${token}`)).toBe(429);
      await first.close();
      // Once the close is processed (on API Gateway: once $disconnect ran) the user may connect again.
      await eventually(async () => (await upgradeStatus(`${wsUrl}?token=${token}`)) === 101);
      await second.close();
    });

    it('answers 404 for another path (API Gateway: 403)', async () => {
      expect(await upgradeStatus(`${gateway.url.replace('http', 'ws')}/other?token=${await makeToken()}`)).toBe(runtime === 'gateway' ? 404 : 403);
    });
  });

  describe('authorization on every frame', () => {
    it('refuses a join outside the claims', async () => {
      const client = await TestClient.connect(gateway, await makeToken({ rooms: ['room-a'] }));
      expect(await client.join('room-b')).toMatchObject({ type: 'error', code: 'forbidden', room: 'room-b' });
      expect(await client.join('room-a')).toMatchObject({ type: 'joined' });
      await client.close();
    });

    it('refuses teacher-only events from a student and accepts them from a teacher', async () => {
      const student = await TestClient.connect(gateway, await makeToken({ rooms: ['class-1'], role: 'student' }));
      const teacher = await TestClient.connect(gateway, await makeToken({ rooms: ['class-1'], role: 'teacher' }));
      await student.join('class-1');
      await teacher.join('class-1');
      for (const event of ['class.start', 'moderation.mute']) {
        const reply = await student.request({ action: 'publish', room: 'class-1', event, data: {}, id: `s-${event}` });
        expect(reply).toMatchObject({ type: 'error', code: 'forbidden', id: `s-${event}` });
      }
      const ack = await teacher.request({ action: 'publish', room: 'class-1', event: 'class.start', data: {} });
      expect(ack).toMatchObject({ type: 'ack', seq: 1 });
      const observer = await TestClient.connect(gateway, await makeToken({ rooms: ['class-1'], role: 'observer' }));
      await observer.join('class-1');
      expect(await observer.request({ action: 'publish', room: 'class-1', event: 'chat.message', data: 'hi' })).toMatchObject({
        code: 'forbidden',
      });
      await student.request({ action: 'ping' });
      expect(student.messages('class-1').map((f) => f.event)).toEqual(['class.start']);
      await Promise.all([student.close(), teacher.close(), observer.close()]);
    });

    // API Gateway checks the token at $connect only; a connection ends at the 2-hour maximum instead.
    it.skipIf(runtime !== 'gateway')('closes a connection with 4004 when its token expires', async () => {
      // The heartbeat tick checks expiry, so this gateway ticks often.
      const fast = await startTestGateway({ CLASSWIRE_PING_INTERVAL_MS: '200' });
      const client = await TestClient.connect(fast, await makeToken({ expiresIn: Math.floor(Date.now() / 1000) + 1 }));
      expect(await client.waitClosed()).toBe(4004);
      await fast.drain();
    });
  });

  describe('JWKS (RS256)', () => {
    let jwks: Server;
    let privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

    beforeAll(async () => {
      const pair = await generateKeyPair('RS256');
      privateKey = pair.privateKey;
      const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
      jwks = createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ keys: [jwk] }));
      });
      await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    });
    afterAll(() => new Promise<void>((resolve) => jwks.close(() => resolve())));

    it('accepts RS256 tokens from the configured key set and refuses HS256 ones', async () => {
      const port = (jwks.address() as AddressInfo).port;
      const rsGateway = await startRuntime(runtime, {
        CLASSWIRE_JWT_SECRET: '',
        CLASSWIRE_JWKS_URL: `http://127.0.0.1:${port}/jwks.json`,
        CLASSWIRE_JWT_ISSUER: 'https://idp.example',
        CLASSWIRE_JWT_AUDIENCE: 'classwire',
      });
      const url = `${rsGateway.url.replace('http', 'ws')}/ws`;
      const sign = (claims: { iss?: string; aud?: string }) => {
        const jwt = new SignJWT({ rooms: ['*'], role: 'teacher' })
          .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
          .setSubject('rs-user')
          .setExpirationTime('10m');
        if (claims.iss !== undefined) jwt.setIssuer(claims.iss);
        if (claims.aud !== undefined) jwt.setAudience(claims.aud);
        return jwt.sign(privateKey);
      };
      expect(await upgradeStatus(`${url}?token=${await sign({ iss: 'https://idp.example', aud: 'classwire' })}`)).toBe(101);
      expect(await upgradeStatus(`${url}?token=${await sign({ iss: 'https://other.example', aud: 'classwire' })}`)).toBe(401);
      expect(await upgradeStatus(`${url}?token=${await sign({ iss: 'https://idp.example', aud: 'other' })}`)).toBe(401);
      expect(await upgradeStatus(`${url}?token=${await makeToken()}`)).toBe(401);
      await rsGateway.drain();
    });
  });
});
