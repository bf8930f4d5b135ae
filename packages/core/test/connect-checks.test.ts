import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { JwtAuthorizer, MemoryRegistry, checkConnect, type Claims, type ConnectChecks } from '@classwire/core';

const SECRET = 'classwire-test-secret-0123456789-abcdef';

function token(rooms: string[], sub = 'ann'): Promise<string> {
  return new SignJWT({ rooms, role: 'student' })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(SECRET));
}

function checks(overrides: Partial<ConnectChecks> = {}): ConnectChecks {
  return {
    allowedOrigins: [],
    maxConnectionsPerUser: 2,
    authorizer: new JwtAuthorizer({ secret: SECRET }),
    registry: new MemoryRegistry(),
    ...overrides,
  };
}

const claims: Claims = { userId: 'bob', name: 'Bob', role: 'student', rooms: ['physics-*'], expiresAt: Date.now() + 60_000 };

describe('checkConnect', () => {
  it('allows a valid token and returns its claims and the room', async () => {
    const decision = await checkConnect({ identity: { token: await token(['physics-*']) }, origin: undefined, room: 'physics-1' }, checks());
    expect(decision).toMatchObject({ allowed: true, room: 'physics-1', claims: { userId: 'ann', rooms: ['physics-*'] } });
  });

  it('refuses a foreign origin with 403 before it looks at the token', async () => {
    const decision = await checkConnect({ identity: { token: undefined }, origin: 'https://evil.example', room: undefined }, checks({ allowedOrigins: ['https://class.example'] }));
    expect(decision).toEqual({ allowed: false, status: 403, code: 'forbidden', reason: 'origin', message: 'origin not allowed' });
    const allowed = await checkConnect({ identity: { claims }, origin: 'https://class.example', room: undefined }, checks({ allowedOrigins: ['https://class.example'] }));
    expect(allowed.allowed).toBe(true);
  });

  it('answers a missing or bad token with 401 and the authorizer reason', async () => {
    expect(await checkConnect({ identity: { token: '' }, origin: undefined, room: undefined }, checks())).toMatchObject({ allowed: false, status: 401, code: 'unauthorized', reason: 'missing' });
    expect(await checkConnect({ identity: { token: 'not-a-jwt' }, origin: undefined, room: undefined }, checks())).toMatchObject({ allowed: false, status: 401, code: 'unauthorized', reason: 'malformed' });
  });

  it('takes claims an authorizer already verified without needing a token verifier', async () => {
    const decision = await checkConnect({ identity: { claims }, origin: undefined, room: 'physics-2' }, checks({ authorizer: undefined }));
    expect(decision).toEqual({ allowed: true, claims, room: 'physics-2' });
  });

  it('refuses an invalid room name with 400 and a room outside the claims with 403', async () => {
    expect(await checkConnect({ identity: { claims }, origin: undefined, room: '-bad name' }, checks())).toMatchObject({ status: 400, code: 'bad_request', reason: 'room' });
    expect(await checkConnect({ identity: { claims }, origin: undefined, room: 'chemistry' }, checks())).toMatchObject({ status: 403, code: 'forbidden', reason: 'room' });
  });

  it('refuses a user at the per-user connection limit with 429', async () => {
    const registry = new MemoryRegistry();
    for (const connectionId of ['c1', 'c2']) {
      await registry.add({ connectionId, userId: 'bob', name: 'Bob', role: 'student', rooms: [], expiresAt: claims.expiresAt, connectedAt: Date.now(), node: 'n' });
    }
    expect(await checkConnect({ identity: { claims }, origin: undefined, room: undefined }, checks({ registry }))).toMatchObject({
      allowed: false,
      status: 429,
      code: 'rate_limited',
      reason: 'connections',
    });
  });
});
