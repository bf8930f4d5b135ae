import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import {
  MAX_AUTHORIZER_RESULT_BYTES,
  type AuthorizerContext,
  type AuthorizerResult,
  type RequestAuthorizerEvent,
  type WebSocketEvent,
  type WebSocketRequestContext,
} from '@classwire/aws';

/**
 * The events API Gateway sends to a WebSocket API's integrations and authorizer, built from a real
 * upgrade request (original header casing, raw query string), and the rules it applies to their
 * results. Pure functions, so each rule is unit-tested on its own.
 */

/** What the emulator knows about one API and one connection when it builds an event. */
export interface EventSource {
  apiId: string;
  stage: string;
  domainName: string;
  connectionId: string;
  connectedAt: number;
  sourceIp: string;
  userAgent: string | undefined;
  authorizer: AuthorizerContext | undefined;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Common Log Format time as API Gateway writes `requestTime`: `19/Jan/2023:21:13:26 +0000`. */
export function clfTime(epochMs: number): string {
  const d = new Date(epochMs);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

/** An id shaped like API Gateway's `extendedRequestId` / `messageId` (opaque base64 with `=`). */
export function opaqueId(): string {
  return `${randomBytes(11).toString('base64url')}=`;
}

/** `headers` (last value of each, original casing) and `multiValueHeaders` from the raw header list. */
export function headerMaps(rawHeaders: readonly string[]): { headers: Record<string, string>; multiValueHeaders: Record<string, string[]> } {
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  const casing = new Map<string, string>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const value = rawHeaders[i + 1]!;
    // One key per header whatever the casing of its repeats: the first spelling wins.
    const key = casing.get(name.toLowerCase()) ?? name;
    casing.set(name.toLowerCase(), key);
    headers[key] = value;
    (multiValueHeaders[key] ??= []).push(value);
  }
  return { headers, multiValueHeaders };
}

/** The query maps, or undefined when the URL has no query string (API Gateway omits both fields then). */
export function queryMaps(rawUrl: string): { queryStringParameters: Record<string, string>; multiValueQueryStringParameters: Record<string, string[]> } | undefined {
  const q = rawUrl.indexOf('?');
  if (q === -1 || q === rawUrl.length - 1) return undefined;
  const single: Record<string, string> = {};
  const multi: Record<string, string[]> = {};
  for (const [key, value] of new URLSearchParams(rawUrl.slice(q + 1))) {
    single[key] = value;
    (multi[key] ??= []).push(value);
  }
  return { queryStringParameters: single, multiValueQueryStringParameters: multi };
}

function requestContext(source: EventSource, routeKey: string, eventType: WebSocketRequestContext['eventType'], now: number): WebSocketRequestContext {
  return {
    routeKey,
    eventType,
    extendedRequestId: opaqueId(),
    requestTime: clfTime(now),
    messageDirection: 'IN',
    stage: source.stage,
    connectedAt: source.connectedAt,
    requestTimeEpoch: now,
    identity: { sourceIp: source.sourceIp, ...(source.userAgent === undefined ? {} : { userAgent: source.userAgent }) },
    requestId: opaqueId(),
    domainName: source.domainName,
    connectionId: source.connectionId,
    apiId: source.apiId,
    ...(source.authorizer === undefined ? {} : { authorizer: source.authorizer }),
  };
}

/** The REQUEST authorizer's event for an upgrade request. */
export function authorizerEvent(req: IncomingMessage, source: EventSource, methodArn: string, now: number): RequestAuthorizerEvent {
  // The authorizer runs before there is any authorizer context.
  const unauthorized: EventSource = { ...source, authorizer: undefined };
  return {
    type: 'REQUEST',
    methodArn,
    ...headerMaps(req.rawHeaders),
    ...queryMaps(req.url ?? '/'),
    stageVariables: {},
    requestContext: requestContext(unauthorized, '$connect', 'CONNECT', now),
  };
}

export function connectEvent(req: IncomingMessage, source: EventSource, now: number): WebSocketEvent {
  return {
    ...headerMaps(req.rawHeaders),
    ...queryMaps(req.url ?? '/'),
    isBase64Encoded: false,
    requestContext: requestContext(source, '$connect', 'CONNECT', now),
  };
}

/** MESSAGE events carry the frame and no headers or query string. */
export function messageEvent(source: EventSource, routeKey: string, body: string, now: number): WebSocketEvent {
  return {
    body,
    isBase64Encoded: false,
    requestContext: { ...requestContext(source, routeKey, 'MESSAGE', now), messageId: opaqueId() },
  };
}

/** DISCONNECT events carry only minimal headers, and the close code and reason. */
export function disconnectEvent(source: EventSource, statusCode: number, reason: string, now: number): WebSocketEvent {
  const headers = { Host: source.domainName, 'x-api-key': '', 'X-Forwarded-For': '', 'x-restapi': '' };
  return {
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
    isBase64Encoded: false,
    requestContext: {
      ...requestContext(source, '$disconnect', 'DISCONNECT', now),
      disconnectStatusCode: statusCode,
      disconnectReason: reason,
    },
  };
}

export function methodArnFor(region: string, accountId: string, apiId: string, stage: string): string {
  return `arn:aws:execute-api:${region}:${accountId}:${apiId}/${stage}/$connect`;
}

/**
 * The route key a message selects under a `$request.body.<path>` expression (with `${...}` for several
 * variables); `$default` when the body is not JSON, a variable is missing, or no route matches.
 */
export function selectRoute(expression: string, body: string, routes: ReadonlySet<string>): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return '$default';
  }
  const lookup = (path: string): string | undefined => {
    if (!path.startsWith('request.body.')) return undefined;
    let value: unknown = parsed;
    for (const part of path.slice('request.body.'.length).split('.')) {
      if (typeof value !== 'object' || value === null || !(part in value)) return undefined;
      value = (value as Record<string, unknown>)[part];
    }
    if (value === undefined || value === null) return undefined;
    // API Gateway stringifies whatever it finds (an array becomes "[a, b]").
    return Array.isArray(value) ? `[${value.join(', ')}]` : typeof value === 'object' ? JSON.stringify(value) : String(value);
  };
  let key: string | undefined;
  if (expression.includes('${')) {
    key = '';
    for (const match of expression.matchAll(/\$\{([^}]+)\}|([^$]+|\$)/g)) {
      if (match[1] !== undefined) {
        const value = lookup(match[1]);
        if (value === undefined) return '$default';
        key += value;
      } else {
        key += match[2];
      }
    }
  } else if (expression.startsWith('$')) {
    key = lookup(expression.slice(1));
  }
  return key !== undefined && routes.has(key) ? key : '$default';
}

export type AuthorizerOutcome =
  | { allowed: true; context: AuthorizerContext }
  | { allowed: false; status: 401 | 403 | 500; reason: string };

/**
 * How API Gateway treats a REQUEST authorizer's result: a thrown `Unauthorized` is 401; a Deny, or a
 * policy that does not allow `execute-api:Invoke` on the method ARN, is 403; any other error, a result
 * over 8 KB or a malformed result (no principal, a context value that is an object) is 500. Context
 * values are passed on as strings.
 */
export function evaluateAuthorizer(result: PromiseSettledResult<unknown>, methodArn: string): AuthorizerOutcome {
  if (result.status === 'rejected') {
    const message = result.reason instanceof Error ? result.reason.message : String(result.reason);
    return message === 'Unauthorized' ? { allowed: false, status: 401, reason: 'unauthorized' } : { allowed: false, status: 500, reason: 'authorizer error' };
  }
  const output = result.value as Partial<AuthorizerResult> | undefined;
  if (output === undefined || output === null || typeof output !== 'object') return { allowed: false, status: 500, reason: 'malformed result' };
  if (Buffer.byteLength(JSON.stringify(output)) > MAX_AUTHORIZER_RESULT_BYTES) return { allowed: false, status: 500, reason: 'result over 8 KB' };
  if (typeof output.principalId !== 'string' || output.principalId.length === 0) return { allowed: false, status: 500, reason: 'no principalId' };
  const statements = output.policyDocument?.Statement;
  if (!Array.isArray(statements)) return { allowed: false, status: 500, reason: 'no policy' };
  const applies = statements.filter((s) => matchesAny(s.Action, 'execute-api:Invoke') && matchesAny(s.Resource, methodArn));
  if (applies.some((s) => s.Effect === 'Deny')) return { allowed: false, status: 403, reason: 'denied' };
  if (!applies.some((s) => s.Effect === 'Allow')) return { allowed: false, status: 403, reason: 'not allowed' };
  const context: AuthorizerContext = { principalId: output.principalId };
  for (const [key, value] of Object.entries(output.context ?? {})) {
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      return { allowed: false, status: 500, reason: `context value ${key} is not a string, number or boolean` };
    }
    context[key] = String(value);
  }
  return { allowed: true, context };
}

/** IAM-style match with `*` and `?` wildcards, case-sensitive. */
function matchesAny(patterns: string | string[] | undefined, value: string): boolean {
  if (patterns === undefined) return false;
  return (Array.isArray(patterns) ? patterns : [patterns]).some((pattern) => {
    const regex = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
    return regex.test(value);
  });
}

export function lambdaContext(functionName: string, timeoutMs: number, started: number): { awsRequestId: string; functionName: string; getRemainingTimeInMillis(): number } {
  return {
    awsRequestId: randomUUID(),
    functionName,
    getRemainingTimeInMillis: () => Math.max(0, timeoutMs - (Date.now() - started)),
  };
}
