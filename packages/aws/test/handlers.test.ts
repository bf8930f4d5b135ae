import { GoneException } from '@aws-sdk/client-apigatewaymanagementapi';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { SECRET, makeToken } from '../../../test-support/harness.js';
import {
  LambdaConfigError,
  RequestAuthorizer,
  callbackUrlFor,
  claimsFromContext,
  createHandlers,
  createLambdaLogger,
  isGoneError,
  loadLambdaConfig,
  type RequestAuthorizerEvent,
  type WebSocketRequestContext,
} from '../src/index.js';

const METHOD_ARN = 'arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/$connect';

function requestContext(extra: Partial<WebSocketRequestContext> = {}): WebSocketRequestContext {
  const now = Date.now();
  return {
    routeKey: '$connect',
    eventType: 'CONNECT',
    extendedRequestId: 'ext',
    requestTime: '01/Jan/2026:00:00:00 +0000',
    messageDirection: 'IN',
    stage: 'prod',
    connectedAt: now,
    requestTimeEpoch: now,
    identity: { sourceIp: '198.51.100.7' },
    requestId: 'req',
    domainName: 'abcdef1234.execute-api.us-east-1.amazonaws.com',
    connectionId: 'ZDb-VclrIAMCJ3w=',
    apiId: 'abcdef1234',
    ...extra,
  };
}

function authorizerEvent(token: string | undefined): RequestAuthorizerEvent {
  return {
    type: 'REQUEST',
    methodArn: METHOD_ARN,
    ...(token === undefined ? {} : { queryStringParameters: { token } }),
    requestContext: requestContext(),
  };
}

const silent = createLambdaLogger({ logLevel: 'silent' }, undefined);

describe('REQUEST authorizer', () => {
  const handlers = createHandlers({ CLASSWIRE_JWT_SECRET: SECRET }, { logger: silent });

  it('allows a valid token on exactly the method ARN, with the user as principal and context', async () => {
    const token = await makeToken({ sub: 'u-1', name: 'Ada', role: 'teacher', rooms: ['math-*', 'hall'] });
    const result = await handlers.authorizer(authorizerEvent(token));
    expect(result.principalId).toBe('u-1');
    expect(result.policyDocument).toEqual({
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: METHOD_ARN }],
    });
    expect(result.context).toMatchObject({ userId: 'u-1', name: 'Ada', role: 'teacher', rooms: '["math-*","hall"]' });
    expect(typeof result.context!.expiresAt).toBe('number');
    // What reaches $connect (every value stringified, as API Gateway may pass them) gives back the claims.
    const stringified = Object.fromEntries(Object.entries(result.context!).map(([k, v]) => [k, String(v)]));
    expect(claimsFromContext({ principalId: 'u-1', ...stringified })).toEqual({
      userId: 'u-1',
      name: 'Ada',
      role: 'teacher',
      rooms: ['math-*', 'hall'],
      expiresAt: result.context!.expiresAt,
    });
  });

  it('throws Unauthorized (401) for every bad token', async () => {
    const now = Math.floor(Date.now() / 1000);
    const sign = (jwt: SignJWT) => jwt.sign(new TextEncoder().encode(SECRET));
    const cases: Record<string, string | undefined> = {
      missing: undefined,
      empty: '',
      malformed: 'not-a-jwt',
      wrong_secret: await makeToken({ secret: 'another-secret-that-is-at-least-32-chars!!' }),
      expired: await sign(new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('x').setExpirationTime(now - 60)),
      no_exp: await sign(new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('x')),
      alg_none: `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'x', exp: now + 60 })).toString('base64url')}.`,
      wrong_algorithm: await makeToken({ alg: 'HS512' }),
      unknown_role: await makeToken({ role: 'admin' }),
    };
    for (const [name, token] of Object.entries(cases)) {
      const outcome = await handlers.authorizer(authorizerEvent(token)).then(
        () => 'allowed',
        (error: Error) => error.message,
      );
      expect({ name, outcome }).toEqual({ name, outcome: 'Unauthorized' });
    }
  });

  it('fits the 8 KB authorizer result limit even for the largest token the verifier accepts', async () => {
    // Tokens are capped at 8,192 characters, so the claims the context carries stay under API Gateway's
    // 8 KB result limit (the authorizer still denies, 403, any result that would not fit).
    const rooms: string[] = [];
    let token = await makeToken({ rooms });
    while (token.length < 8100) {
      rooms.push(`room-${rooms.length}-${'x'.repeat(20)}`);
      token = await makeToken({ rooms });
    }
    if (token.length > 8192) token = await makeToken({ rooms: rooms.slice(0, -1) });
    const result = await handlers.authorizer(authorizerEvent(token));
    expect(result.policyDocument.Statement[0]!.Effect).toBe('Allow');
    expect(Buffer.byteLength(JSON.stringify(result))).toBeLessThan(8 * 1024);
  });

  it('reads an HS256 secret from Secrets Manager once per environment, and retries after a failed read', async () => {
    const config = loadLambdaConfig({ CLASSWIRE_JWT_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:jwt' });
    let reads = 0;
    const authorizer = new RequestAuthorizer(config, silent, (arn) => {
      reads += 1;
      expect(arn).toBe('arn:aws:secretsmanager:us-east-1:123456789012:secret:jwt');
      return reads === 1 ? Promise.reject(new Error('throttled')) : Promise.resolve(SECRET);
    });
    const token = await makeToken({ sub: 'from-secret' });
    await expect(authorizer.authorize(authorizerEvent(token))).rejects.toThrow('throttled');
    expect((await authorizer.authorize(authorizerEvent(token))).principalId).toBe('from-secret');
    expect((await authorizer.authorize(authorizerEvent(token))).principalId).toBe('from-secret');
    expect(reads).toBe(2);
  });
});

describe('$connect', () => {
  it('refuses with 500, touching nothing, when the authorizer context is missing', async () => {
    // No Redis configured: a handler that tried to register the connection would fail differently.
    const handlers = createHandlers({ CLASSWIRE_JWT_SECRET: SECRET }, { logger: silent });
    const result = await handlers.connect({ isBase64Encoded: false, requestContext: requestContext() });
    expect(result.statusCode).toBe(500);
    expect(claimsFromContext({ principalId: 'x', name: 'n', role: 'admin', rooms: '[]', expiresAt: '1' })).toBeUndefined();
    expect(claimsFromContext({ principalId: 'x', name: 'n', role: 'student', rooms: '{', expiresAt: '1' })).toBeUndefined();
  });
});

describe('configuration', () => {
  it('falls back to https://{domainName}/{stage} for the callback URL', () => {
    const context = { domainName: 'abc.execute-api.eu-west-1.amazonaws.com', stage: 'prod' };
    expect(callbackUrlFor(loadLambdaConfig({}), context)).toBe('https://abc.execute-api.eu-west-1.amazonaws.com/prod');
    expect(callbackUrlFor(loadLambdaConfig({ WS_CALLBACK_URL: 'https://ws.example.com/v1/' }), context)).toBe('https://ws.example.com/v1');
  });

  it('refuses contradictory or invalid settings with a message', () => {
    expect(() => loadLambdaConfig({ CLASSWIRE_JWT_SECRET: SECRET, CLASSWIRE_JWKS_URL: 'https://idp.example/jwks' })).toThrow(LambdaConfigError);
    expect(() => loadLambdaConfig({ CLASSWIRE_REDIS_URL: 'http://redis' })).toThrow(/CLASSWIRE_REDIS_URL/);
    expect(() => loadLambdaConfig({ CLASSWIRE_MAX_FRAME_BYTES: '65536' })).toThrow(/CLASSWIRE_MAX_FRAME_BYTES/);
    expect(() => loadLambdaConfig({ AWS_ACCESS_KEY_ID: 'AKID' })).toThrow(/AWS_SECRET_ACCESS_KEY/);
    const config = loadLambdaConfig({});
    expect(config.recordTtlMs).toBeGreaterThan(2 * 60 * 60 * 1000);
  });
});

describe('410 detection for SDK v3', () => {
  it('recognises GoneException by class, by name, and by HTTP status, and nothing else', () => {
    expect(isGoneError(new GoneException({ message: '', $metadata: { httpStatusCode: 410 } }))).toBe(true);
    expect(isGoneError(Object.assign(new Error('x'), { name: 'GoneException' }))).toBe(true);
    // No x-amzn-ErrorType header: the SDK raises a generic error named after the status.
    expect(isGoneError(Object.assign(new Error('x'), { name: '410', $metadata: { httpStatusCode: 410 } }))).toBe(true);
    expect(isGoneError(Object.assign(new Error('x'), { name: 'LimitExceededException', $metadata: { httpStatusCode: 429 } }))).toBe(false);
    // An SDK v2-style status field never appears in v3 errors; it is not evidence of 410.
    expect(isGoneError({ statusCode: 410 })).toBe(false);
    expect(isGoneError(undefined)).toBe(false);
  });
});
