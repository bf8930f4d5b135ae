import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { JwtAuthorizer, MemoryRegistry, SLOT_RESERVATION_MS, checkConnect, type Claims, type ConnectChecks } from '@classwire/core';

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
    const decision = await checkConnect({ connectionId: 'conn-1', identity: { token: await token(['physics-*']) }, origin: undefined, room: 'physics-1' }, checks());
    expect(decision).toMatchObject({ allowed: true, room: 'physics-1', claims: { userId: 'ann', rooms: ['physics-*'] } });
  });

  it('refuses a foreign origin with 403 before it looks at the token', async () => {
    const decision = await checkConnect({ connectionId: 'conn-2', identity: { token: undefined }, origin: 'https://evil.example', room: undefined }, checks({ allowedOrigins: ['https://class.example'] }));
    expect(decision).toEqual({ allowed: false, status: 403, code: 'forbidden', reason: 'origin', message: 'origin not allowed' });
    const allowed = await checkConnect({ connectionId: 'conn-3', identity: { claims }, origin: 'https://class.example', room: undefined }, checks({ allowedOrigins: ['https://class.example'] }));
    expect(allowed.allowed).toBe(true);
  });

  it('answers a missing or bad token with 401 and the authorizer reason', async () => {
    expect(await checkConnect({ connectionId: 'conn-4', identity: { token: '' }, origin: undefined, room: undefined }, checks())).toMatchObject({ allowed: false, status: 401, code: 'unauthorized', reason: 'missing' });
    expect(await checkConnect({ connectionId: 'conn-5', identity: { token: 'not-a-jwt' }, origin: undefined, room: undefined }, checks())).toMatchObject({ allowed: false, status: 401, code: 'unauthorized', reason: 'malformed' });
  });

  it('takes claims an authorizer already verified without needing a token verifier', async () => {
    const decision = await checkConnect({ connectionId: 'conn-6', identity: { claims }, origin: undefined, room: 'physics-2' }, checks({ authorizer: undefined }));
    expect(decision).toEqual({ allowed: true, claims, room: 'physics-2' });
  });

  it('refuses an invalid room name with 400 and a room outside the claims with 403', async () => {
    expect(await checkConnect({ connectionId: 'conn-7', identity: { claims }, origin: undefined, room: '-bad name' }, checks())).toMatchObject({ status: 400, code: 'bad_request', reason: 'room' });
    expect(await checkConnect({ connectionId: 'conn-8', identity: { claims }, origin: undefined, room: 'chemistry' }, checks())).toMatchObject({ status: 403, code: 'forbidden', reason: 'room' });
  });

  it('refuses a user at the per-user connection limit with 429', async () => {
    const registry = new MemoryRegistry();
    for (const connectionId of ['c1', 'c2']) {
      await registry.add({ connectionId, userId: 'bob', name: 'Bob', role: 'student', rooms: [], expiresAt: claims.expiresAt, connectedAt: Date.now(), node: 'n' });
    }
    expect(await checkConnect({ connectionId: 'conn-9', identity: { claims }, origin: undefined, room: undefined }, checks({ registry }))).toMatchObject({
      allowed: false,
      status: 429,
      code: 'rate_limited',
      reason: 'connections',
    });
  });

  it('reserves the slot atomically: concurrent connects of one user never exceed the limit', async () => {
    const registry = new MemoryRegistry();
    const decisions = await Promise.all(
      Array.from({ length: 40 }, (_, i) => checkConnect({ connectionId: `c${i}`, identity: { claims }, origin: undefined, room: 'physics-1' }, checks({ registry, maxConnectionsPerUser: 10 }))),
    );
    expect(decisions.filter((d) => d.allowed)).toHaveLength(10);
    expect(decisions.filter((d) => !d.allowed).every((d) => !d.allowed && d.reason === 'connections')).toBe(true);
  });

  it('frees a slot on release and on remove, and lets an unregistered reservation lapse', async () => {
    let now = 1_000_000;
    const registry = new MemoryRegistry(() => now);
    const connect = (connectionId: string) => checkConnect({ connectionId, identity: { claims }, origin: undefined, room: undefined }, checks({ registry }));
    expect((await connect('a')).allowed).toBe(true);
    expect((await connect('b')).allowed).toBe(true);
    expect((await connect('c')).allowed).toBe(false);
    await registry.releaseSlot('bob', 'b');
    expect((await connect('c')).allowed).toBe(true);
    await registry.add({ connectionId: 'c', userId: 'bob', name: 'Bob', role: 'student', rooms: [], expiresAt: claims.expiresAt, connectedAt: now, node: 'n' });
    await registry.remove('c');
    expect((await connect('d')).allowed).toBe(true);
    // 'a' never registered: its reservation lapses; 'd' too, so two new connections fit.
    now += SLOT_RESERVATION_MS;
    expect((await connect('e')).allowed).toBe(true);
    expect((await connect('f')).allowed).toBe(true);
    expect((await connect('g')).allowed).toBe(false);
  });
});
