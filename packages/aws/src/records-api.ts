import type { Authorizer, Logger } from '@classwire/core';
import { RecordsApiError, credentialsPrincipal, recordsErrorResponse, recordsFailureResponse, type RecordsPrincipal, type RecordsRequest, type RecordsResponse } from '@classwire/records';
import type { HttpApiEvent, HttpApiIamIdentity, HttpApiResult } from './events.js';
import { BACKEND_PREFIX, BACKEND_ROUTE_PATH } from './records-routes.js';

/**
 * Bounds of a request before anything reads it. No records route takes a body (the redelivery is a bare
 * POST); a path or query longer than these names no valid resource (ids, rooms and user ids are capped
 * far below), so they are refused as `bad_request` rather than parsed. API Gateway's own caps (10 KB of
 * request line and headers, 10 MB of body) sit above these.
 */
export const MAX_RECORDS_BODY_BYTES = 1024;
export const MAX_RECORDS_PATH_LENGTH = 1024;
export const MAX_RECORDS_QUERY_LENGTH = 2048;

/** A request as the handler routes it, with the route API Gateway matched and the caller it verified. */
export type LambdaRecordsRequest = RecordsRequest & { backendRoute: boolean; iam: HttpApiIamIdentity | undefined };

/** The neutral records API (`createRecordsHandler` of @classwire/records) bound to its data. */
export type NeutralRecordsHandler = (request: LambdaRecordsRequest) => Promise<RecordsResponse | undefined>;

/**
 * Who is asking, from an HTTP API event:
 * - on the `/backend/{proxy+}` route (`AWS_IAM`: API Gateway verified the SigV4 signature against IAM
 *   before invoking), the school's backend, identified by `requestContext.authorizer.iam`;
 * - on the root route (no API Gateway authorizer), only a teacher's or assistant's JWT, verified with
 *   the WebSocket authorizer's checks. An `iam` context or an `Authorization: AWS4-HMAC-SHA256 …` header
 *   on this route grants nothing: API Gateway verified neither here.
 */
export function lambdaRecordsPrincipal(authorizer: Authorizer, logger: Logger): (request: LambdaRecordsRequest) => Promise<RecordsPrincipal> {
  const staffOnly = credentialsPrincipal<LambdaRecordsRequest>(authorizer, () => Promise.resolve(false));
  return async (request) => {
    if (!request.backendRoute) return staffOnly(request);
    if (verifiedCaller(request.iam)) return { kind: 'backend' };
    // The stack puts AWS_IAM on this route: an event without the caller means the route was changed by hand.
    logger.warn({}, 'a /backend records request arrived without an IAM caller: is the route still AWS_IAM?');
    throw new RecordsApiError('forbidden', 'the backend routes need a SigV4-signed request');
  };
}

function verifiedCaller(iam: HttpApiIamIdentity | undefined): boolean {
  return iam !== undefined && typeof iam.userArn === 'string' && iam.userArn.startsWith('arn:') && typeof iam.accountId === 'string' && iam.accountId.length > 0;
}

/**
 * Answers one HTTP API event through the neutral records API: bounds first, then the route, then the
 * principal. Every refusal is `{code, message}` from the error catalogue. A failure, opening the
 * database included, is answered as on the gateway (`recordsFailureResponse`): the database or Redis
 * unreachable is `503 unavailable` (a warning), anything else a bug, `500 internal` (an error).
 */
export async function answerRecordsEvent(event: HttpApiEvent, handle: () => Promise<NeutralRecordsHandler>, logger: Logger): Promise<HttpApiResult> {
  const refused = checkBounds(event);
  if (refused !== undefined) return result(refused);
  const backendRoute = event.routeKey.endsWith(` ${BACKEND_ROUTE_PATH}`);
  // Under /backend the API's own paths follow the prefix; a root-route path is routed as it is.
  const rawPath = event.rawPath;
  const path = backendRoute ? (rawPath.startsWith(`${BACKEND_PREFIX}/`) ? rawPath.slice(BACKEND_PREFIX.length) : '') : rawPath;
  const request: LambdaRecordsRequest = {
    method: event.requestContext.http.method.toUpperCase(),
    path,
    query: new URLSearchParams(event.rawQueryString),
    headers: lowerCased(event.headers ?? {}),
    backendRoute,
    iam: backendRoute ? event.requestContext.authorizer?.iam : undefined,
  };
  try {
    const answer = await (await handle())(request);
    return result(answer ?? recordsErrorResponse('not_found', 'not found'));
  } catch (error) {
    // The neutral handler answers its own failures; what lands here failed before it existed (the open).
    return result(recordsFailureResponse(error, logger, { requestId: event.requestContext.requestId, routeKey: event.routeKey }));
  }
}

function checkBounds(event: HttpApiEvent): RecordsResponse | undefined {
  const body = event.body ?? '';
  const bodyBytes = event.isBase64Encoded ? Math.floor((body.length * 3) / 4) : Buffer.byteLength(body);
  if (bodyBytes > MAX_RECORDS_BODY_BYTES) return recordsErrorResponse('payload_too_large', `the records API takes no body (at most ${MAX_RECORDS_BODY_BYTES} bytes are ignored)`);
  if (event.rawPath.length > MAX_RECORDS_PATH_LENGTH) return recordsErrorResponse('bad_request', `path longer than ${MAX_RECORDS_PATH_LENGTH} characters`);
  if (event.rawQueryString.length > MAX_RECORDS_QUERY_LENGTH) return recordsErrorResponse('bad_request', `query longer than ${MAX_RECORDS_QUERY_LENGTH} characters`);
  return undefined;
}

/** HTTP API lower-cases header names already; done again so a hand-built or altered event cannot differ. */
function lowerCased(headers: Record<string, string | undefined>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(headers)) out[name.toLowerCase()] = value;
  return out;
}

function result(response: RecordsResponse): HttpApiResult {
  return { statusCode: response.status, headers: response.headers, body: response.body, isBase64Encoded: false };
}
