import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fc from 'fast-check';
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWTPayload } from 'jose';
import type { Role } from '@classwire/protocol';
import {
  AuthError,
  ClaimsError,
  DEFAULT_PUBLISH_RULES,
  JwtAuthorizer,
  PublishPolicy,
  STAFF_ROLES,
  claimsFromPayload,
  matchesEventPattern,
  mayJoinRoom,
  type AuthFailure,
} from '@classwire/core';

const ROLES: Role[] = ['teacher', 'assistant', 'student', 'observer'];
const SECRET = 'classwire-test-secret-0123456789-abcdef';
const secretKey = new TextEncoder().encode(SECRET);
const nowSeconds = (): number => Math.floor(Date.now() / 1000);

const b64url = (value: string | Buffer): string => Buffer.from(value).toString('base64url');

describe('claimsFromPayload', () => {
  it('applies defaults: role student, name = sub, no rooms, expiresAt in ms', () => {
    expect(claimsFromPayload({ sub: 'u1', exp: 1_700_000_000 })).toEqual({
      userId: 'u1',
      name: 'u1',
      role: 'student',
      rooms: [],
      expiresAt: 1_700_000_000_000,
    });
  });

  it('takes role, name and rooms from the payload', () => {
    expect(claimsFromPayload({ sub: 't1', exp: 10, role: 'teacher', name: 'Ms T', rooms: ['a', 'b-*'] })).toEqual({
      userId: 't1',
      name: 'Ms T',
      role: 'teacher',
      rooms: ['a', 'b-*'],
      expiresAt: 10_000,
    });
    for (const role of ROLES) expect(claimsFromPayload({ sub: 'u', exp: 1, role }).role).toBe(role);
  });

  it('accepts one room as a string', () => {
    expect(claimsFromPayload({ sub: 'u', exp: 1, rooms: 'physics-*' }).rooms).toEqual(['physics-*']);
  });

  it('truncates long names and falls back to sub for an empty name', () => {
    expect(claimsFromPayload({ sub: 'u', exp: 1, name: 'n'.repeat(200) }).name).toBe('n'.repeat(64));
    expect(claimsFromPayload({ sub: 'u', exp: 1, name: '' }).name).toBe('u');
  });

  it('accepts values at their limits', () => {
    expect(claimsFromPayload({ sub: 's'.repeat(128), exp: 1 }).userId).toHaveLength(128);
    expect(claimsFromPayload({ sub: 'u', exp: 1, rooms: Array.from({ length: 256 }, (_, i) => `r${i}`) }).rooms).toHaveLength(256);
  });

  it.each([
    ['missing sub', { exp: 1 }],
    ['empty sub', { sub: '', exp: 1 }],
    ['numeric sub', { sub: 42, exp: 1 }],
    ['null sub', { sub: null, exp: 1 }],
    ['over-long sub', { sub: 's'.repeat(129), exp: 1 }],
    ['missing exp', { sub: 'u' }],
    ['string exp', { sub: 'u', exp: '1700000000' }],
    ['NaN exp', { sub: 'u', exp: Number.NaN }],
    ['infinite exp', { sub: 'u', exp: Number.POSITIVE_INFINITY }],
    ['unknown role', { sub: 'u', exp: 1, role: 'admin' }],
    ['server role', { sub: 'u', exp: 1, role: 'server' }],
    ['numeric role', { sub: 'u', exp: 1, role: 1 }],
    ['numeric name', { sub: 'u', exp: 1, name: 5 }],
    ['object name', { sub: 'u', exp: 1, name: { first: 'a' } }],
    ['numeric rooms', { sub: 'u', exp: 1, rooms: 5 }],
    ['object rooms', { sub: 'u', exp: 1, rooms: { a: 1 } }],
    ['non-string room', { sub: 'u', exp: 1, rooms: ['a', 1] }],
    ['null room', { sub: 'u', exp: 1, rooms: [null] }],
    ['too many rooms', { sub: 'u', exp: 1, rooms: Array.from({ length: 257 }, (_, i) => `r${i}`) }],
  ])('rejects %s with a ClaimsError', (_label, payload) => {
    expect(() => claimsFromPayload(payload as Record<string, unknown>)).toThrow(ClaimsError);
  });
});

describe('mayJoinRoom', () => {
  it('matches exact names', () => {
    expect(mayJoinRoom({ rooms: ['physics-101'] }, 'physics-101')).toBe(true);
    expect(mayJoinRoom({ rooms: ['physics-101'] }, 'physics-1011')).toBe(false);
    expect(mayJoinRoom({ rooms: ['physics-101'] }, 'physics-10')).toBe(false);
  });

  it('matches prefixes ending in *', () => {
    const claims = { rooms: ['physics-*'] };
    expect(mayJoinRoom(claims, 'physics-101')).toBe(true);
    expect(mayJoinRoom(claims, 'physics-lab:2')).toBe(true);
    expect(mayJoinRoom(claims, 'physic-101')).toBe(false);
    expect(mayJoinRoom(claims, 'chemistry-101')).toBe(false);
    expect(mayJoinRoom(claims, 'xphysics-101')).toBe(false);
  });

  it('* allows any room', () => {
    fc.assert(fc.property(fc.string({ minLength: 1 }), (room) => mayJoinRoom({ rooms: ['*'] }, room)));
  });

  it('denies when nothing matches, including with no room claims', () => {
    expect(mayJoinRoom({ rooms: [] }, 'lobby')).toBe(false);
    expect(mayJoinRoom({ rooms: ['math-*', 'lobby-2'] }, 'lobby')).toBe(false);
    expect(mayJoinRoom({ rooms: ['math-*', 'lobby'] }, 'lobby')).toBe(true);
  });
});

describe('publish policy', () => {
  const policy = new PublishPolicy();
  const allowed = (event: string): Role[] => ROLES.filter((role) => policy.mayPublish(role, event));

  it('class.* is teacher only', () => {
    expect(allowed('class.start')).toEqual(['teacher']);
    expect(allowed('class.end')).toEqual(['teacher']);
    expect(allowed('class.timer.set')).toEqual(['teacher']);
    expect(allowed('class')).toEqual(['teacher']);
  });

  it('moderation.* is teacher and assistant', () => {
    expect(allowed('moderation.mute')).toEqual(['teacher', 'assistant']);
    expect(allowed('moderation')).toEqual(['teacher', 'assistant']);
  });

  it('other events are teacher, assistant and student; observers publish nothing', () => {
    for (const event of ['chat.message', 'whiteboard.stroke', 'hand.raise', 'classroom.chat', 'classes', 'moderations.x']) {
      expect(allowed(event), event).toEqual(['teacher', 'assistant', 'student']);
    }
  });

  it('observers may not publish any event', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z][a-z0-9_-]{0,8}(\.[a-z0-9_-]{1,8}){0,3}$/), (event) => !policy.mayPublish('observer', event)),
    );
  });

  it('the default rules are the documented ones', () => {
    expect(DEFAULT_PUBLISH_RULES).toEqual([
      { events: 'class.*', roles: ['teacher'] },
      { events: 'moderation.*', roles: ['teacher', 'assistant'] },
      { events: '*', roles: ['teacher', 'assistant', 'student'] },
    ]);
  });

  it('custom rules: first match decides, no match allows nobody', () => {
    const custom = new PublishPolicy([
      { events: 'quiz.answer', roles: ['student'] },
      { events: 'quiz.*', roles: ['teacher'] },
    ]);
    expect(ROLES.filter((r) => custom.mayPublish(r, 'quiz.answer'))).toEqual(['student']);
    expect(ROLES.filter((r) => custom.mayPublish(r, 'quiz.open'))).toEqual(['teacher']);
    expect(ROLES.filter((r) => custom.mayPublish(r, 'chat.message'))).toEqual([]);
    // Asking twice (cached) gives the same answer.
    expect(ROLES.filter((r) => custom.mayPublish(r, 'quiz.answer'))).toEqual(['student']);
  });

  it('matchesEventPattern', () => {
    expect(matchesEventPattern('*', 'anything.at.all')).toBe(true);
    expect(matchesEventPattern('class.*', 'class')).toBe(true);
    expect(matchesEventPattern('class.*', 'class.start')).toBe(true);
    expect(matchesEventPattern('class.*', 'classroom')).toBe(false);
    expect(matchesEventPattern('class.*', 'classroom.start')).toBe(false);
    expect(matchesEventPattern('chat.message', 'chat.message')).toBe(true);
    expect(matchesEventPattern('chat.message', 'chat.message.edit')).toBe(false);
  });

  it('mayDirect: allowed when either side is staff', () => {
    expect([...STAFF_ROLES].sort()).toEqual(['assistant', 'teacher']);
    expect(policy.mayDirect('student', 'teacher')).toBe(true);
    expect(policy.mayDirect('student', 'assistant')).toBe(true);
    expect(policy.mayDirect('teacher', 'student')).toBe(true);
    expect(policy.mayDirect('assistant', 'observer')).toBe(true);
    expect(policy.mayDirect('teacher', 'teacher')).toBe(true);
    expect(policy.mayDirect('student', 'student')).toBe(false);
    expect(policy.mayDirect('student', 'observer')).toBe(false);
    expect(policy.mayDirect('observer', 'student')).toBe(false);
  });
});

async function expectAuthError(promise: Promise<unknown>, reason: AuthFailure): Promise<AuthError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(AuthError);
  const error = caught as AuthError;
  expect(error.reason).toBe(reason);
  expect(error.status).toBe(401);
  return error;
}

interface TokenSpec {
  payload?: JWTPayload;
  sub?: string | null;
  exp?: number | string | null;
  alg?: string;
  key?: Uint8Array | CryptoKey;
  kid?: string;
}

function signToken(spec: TokenSpec = {}): Promise<string> {
  const payload: JWTPayload = { role: 'student', rooms: ['*'], ...spec.payload };
  const jwt = new SignJWT(payload).setProtectedHeader({
    alg: spec.alg ?? 'HS256',
    ...(spec.kid === undefined ? {} : { kid: spec.kid }),
  });
  if (spec.sub !== null) jwt.setSubject(spec.sub ?? 'user-1');
  if (spec.exp !== null) jwt.setExpirationTime(spec.exp ?? '1h');
  jwt.setIssuedAt();
  return jwt.sign(spec.key ?? secretKey);
}

/** A token signed by hand, for headers and payloads `SignJWT` would not produce. */
function handSigned(header: object | string, payload: object | string, secret: string | null = SECRET): string {
  const h = b64url(typeof header === 'string' ? header : JSON.stringify(header));
  const p = b64url(typeof payload === 'string' ? payload : JSON.stringify(payload));
  const signature = secret === null ? '' : createHmac('sha256', secret).update(`${h}.${p}`).digest('base64url');
  return `${h}.${p}.${signature}`;
}

describe('JwtAuthorizer with an HS256 secret', () => {
  const authorizer = new JwtAuthorizer({ secret: SECRET });

  it('accepts a valid token and maps its claims', async () => {
    const exp = nowSeconds() + 3600;
    const token = await signToken({ sub: 'teacher-7', exp, payload: { role: 'teacher', name: 'Ms Seven', rooms: ['physics-*'] } });
    expect(await authorizer.authorize(token)).toEqual({
      userId: 'teacher-7',
      name: 'Ms Seven',
      role: 'teacher',
      rooms: ['physics-*'],
      expiresAt: exp * 1000,
    });
  });

  it('accepts a hand-signed HS256 token (the hand signer is sound)', async () => {
    const claims = await authorizer.authorize(handSigned({ alg: 'HS256', typ: 'JWT' }, { sub: 'u9', exp: nowSeconds() + 60 }));
    expect(claims.userId).toBe('u9');
  });

  it("rejects a missing token: 'missing'", async () => {
    await expectAuthError(authorizer.authorize(''), 'missing');
  });

  it("rejects malformed tokens: 'malformed'", async () => {
    const valid = await signToken();
    for (const token of ['abc', 'a.b', 'a.b.c.d', `${valid}.x`, 'x'.repeat(9000), `${valid}${'A'.repeat(8200)}`, 'a.b.c', '..']) {
      await expectAuthError(authorizer.authorize(token), 'malformed');
    }
  });

  it("rejects a correctly signed token whose payload is not a JSON object: 'malformed'", async () => {
    await expectAuthError(authorizer.authorize(handSigned({ alg: 'HS256' }, 'not json')), 'malformed');
    await expectAuthError(authorizer.authorize(handSigned({ alg: 'HS256' }, '[1,2]')), 'malformed');
  });

  it("rejects a bad signature: 'invalid'", async () => {
    const forged = await signToken({ key: new TextEncoder().encode('another-secret-that-is-long-enough-123') });
    await expectAuthError(authorizer.authorize(forged), 'invalid');
    const valid = await signToken();
    const [h, p] = valid.split('.');
    const tampered = `${h}.${b64url(JSON.stringify({ sub: 'admin', exp: nowSeconds() + 60, role: 'teacher' }))}.${valid.split('.')[2]}`;
    await expectAuthError(authorizer.authorize(tampered), 'invalid');
    await expectAuthError(authorizer.authorize(`${h}.${p}.`), 'invalid');
  });

  it("rejects an expired token: 'expired'", async () => {
    await expectAuthError(authorizer.authorize(await signToken({ exp: nowSeconds() - 3600 })), 'expired');
  });

  it("rejects alg none: 'invalid'", async () => {
    const payload = { sub: 'attacker', exp: nowSeconds() + 3600, role: 'teacher', rooms: ['*'] };
    await expectAuthError(authorizer.authorize(handSigned({ alg: 'none', typ: 'JWT' }, payload, null)), 'invalid');
    await expectAuthError(authorizer.authorize(handSigned({ alg: 'none' }, payload, null)), 'invalid');
    // A none token that carries an HMAC anyway.
    await expectAuthError(authorizer.authorize(handSigned({ alg: 'none' }, payload)), 'invalid');
  });

  it("rejects HS384 when only HS256 is allowed: 'invalid'", async () => {
    await expectAuthError(authorizer.authorize(await signToken({ alg: 'HS384' })), 'invalid');
    const hs384 = new JwtAuthorizer({ secret: SECRET, algorithms: ['HS384'] });
    expect((await hs384.authorize(await signToken({ alg: 'HS384', sub: 'u3' }))).userId).toBe('u3');
    await expectAuthError(hs384.authorize(await signToken({ alg: 'HS256' })), 'invalid');
  });

  it('with several HS algorithms allowed, verifies each with its own key, again and again', async () => {
    const both = new JwtAuthorizer({ secret: SECRET, algorithms: ['HS256', 'HS512'] });
    for (let round = 0; round < 2; round++) {
      expect((await both.authorize(await signToken({ alg: 'HS512', sub: 'u5' }))).userId).toBe('u5');
      expect((await both.authorize(await signToken({ alg: 'HS256', sub: 'u2' }))).userId).toBe('u2');
      await expectAuthError(both.authorize(await signToken({ alg: 'HS384' })), 'invalid');
    }
  });

  it("rejects a token without exp: 'invalid'", async () => {
    await expectAuthError(authorizer.authorize(await signToken({ exp: null })), 'invalid');
  });

  it("rejects a token without sub: 'invalid'", async () => {
    await expectAuthError(authorizer.authorize(await signToken({ sub: null })), 'invalid');
  });

  it("rejects a signed token whose claims do not map: 'claims'", async () => {
    await expectAuthError(authorizer.authorize(await signToken({ payload: { role: 'admin' } })), 'claims');
    await expectAuthError(authorizer.authorize(await signToken({ payload: { rooms: 7 } })), 'claims');
    await expectAuthError(authorizer.authorize(await signToken({ sub: '' })), 'claims');
    await expectAuthError(authorizer.authorize(await signToken({ sub: 's'.repeat(129) })), 'claims');
  });

  it("checks iss and aud when configured: 'invalid' when wrong or missing", async () => {
    const strict = new JwtAuthorizer({ secret: SECRET, issuer: 'https://lms.example', audience: 'classwire' });
    const good = await signToken({ sub: 'u5', payload: { iss: 'https://lms.example', aud: 'classwire' } });
    expect((await strict.authorize(good)).userId).toBe('u5');
    const withList = await signToken({ payload: { iss: 'https://lms.example', aud: ['other', 'classwire'] } });
    expect((await strict.authorize(withList)).userId).toBe('user-1');

    for (const payload of [
      { iss: 'https://evil.example', aud: 'classwire' },
      { iss: 'https://lms.example', aud: 'other' },
      { aud: 'classwire' },
      { iss: 'https://lms.example' },
    ]) {
      await expectAuthError(strict.authorize(await signToken({ payload })), 'invalid');
    }
    // Without configuration, iss and aud are not checked.
    expect((await authorizer.authorize(await signToken({ payload: { iss: 'anyone', aud: 'anything' } }))).userId).toBe('user-1');
  });

  it('refuses unsafe configurations', () => {
    expect(() => new JwtAuthorizer({})).toThrow();
    expect(() => new JwtAuthorizer({ secret: 'short' })).toThrow();
    expect(() => new JwtAuthorizer({ secret: SECRET, jwksUrl: 'http://127.0.0.1:1/jwks' })).toThrow();
    expect(() => new JwtAuthorizer({ secret: SECRET, algorithms: ['RS256'] })).toThrow();
    expect(() => new JwtAuthorizer({ secret: SECRET, algorithms: ['none'] })).toThrow();
    expect(() => new JwtAuthorizer({ jwksUrl: 'http://127.0.0.1:1/jwks', algorithms: ['HS256'] })).toThrow();
    expect(() => new JwtAuthorizer({ jwksUrl: 'http://127.0.0.1:1/jwks', algorithms: ['none'] })).toThrow();
  });
});

describe('JwtAuthorizer with a JWKS URL (RS256)', () => {
  let server: Server;
  let jwksUrl: string;
  let privateKey: CryptoKey;
  let otherPrivateKey: CryptoKey;
  let requests = 0;

  beforeAll(async () => {
    const pair = await generateKeyPair('RS256');
    const other = await generateKeyPair('RS256');
    privateKey = pair.privateKey;
    otherPrivateKey = other.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'key-1', alg: 'RS256', use: 'sig' };
    const body = JSON.stringify({ keys: [jwk] });
    server = createServer((req, res) => {
      requests += 1;
      if (req.url !== '/.well-known/jwks.json') {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    jwksUrl = `http://127.0.0.1:${port}/.well-known/jwks.json`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('accepts an RS256 token signed by a key in the JWKS', async () => {
    const authorizer = new JwtAuthorizer({ jwksUrl });
    const exp = nowSeconds() + 600;
    const token = await signToken({ alg: 'RS256', kid: 'key-1', key: privateKey, sub: 'rs-user', exp, payload: { role: 'assistant' } });
    expect(await authorizer.authorize(token)).toEqual({
      userId: 'rs-user',
      name: 'rs-user',
      role: 'assistant',
      rooms: ['*'],
      expiresAt: exp * 1000,
    });
    expect(requests).toBeGreaterThan(0);
  });

  it("rejects an HS256 token: 'invalid'", async () => {
    const authorizer = new JwtAuthorizer({ jwksUrl });
    await expectAuthError(authorizer.authorize(await signToken({ alg: 'HS256', kid: 'key-1' })), 'invalid');
    await expectAuthError(authorizer.authorize(await signToken({ alg: 'HS256' })), 'invalid');
  });

  it("rejects an RS256 token signed by another key: 'invalid'", async () => {
    const authorizer = new JwtAuthorizer({ jwksUrl });
    await expectAuthError(
      authorizer.authorize(await signToken({ alg: 'RS256', kid: 'key-1', key: otherPrivateKey })),
      'invalid',
    );
  });

  it("rejects an expired RS256 token: 'expired'", async () => {
    const authorizer = new JwtAuthorizer({ jwksUrl });
    await expectAuthError(
      authorizer.authorize(await signToken({ alg: 'RS256', kid: 'key-1', key: privateKey, exp: nowSeconds() - 3600 })),
      'expired',
    );
  });

  it("rejects alg none: 'invalid'", async () => {
    const authorizer = new JwtAuthorizer({ jwksUrl });
    const token = handSigned({ alg: 'none', kid: 'key-1' }, { sub: 'x', exp: nowSeconds() + 60 }, null);
    await expectAuthError(authorizer.authorize(token), 'invalid');
  });
});
