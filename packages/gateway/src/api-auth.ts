import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';

export interface ApiCredentials {
  /** Bearer key for `Authorization: Bearer <key>`. */
  key: string | undefined;
  /** Static AWS credentials whose SigV4 signatures are accepted (service `execute-api`). */
  awsCredentials: { accessKeyId: string; secretAccessKey: string } | undefined;
}

export type ApiAuthResult = { ok: true; principal: string } | { ok: false; status: 401 | 403; message: string };

/** Largest clock difference accepted in a SigV4 `x-amz-date`, as AWS does. */
const MAX_SKEW_MS = 15 * 60 * 1000;
const SIGV4 = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;

/**
 * Authenticates a management or publish API request. The API is never open: with no key and no AWS
 * credentials configured every request is refused.
 */
export async function authenticateApiRequest(
  req: IncomingMessage,
  body: Buffer,
  credentials: ApiCredentials,
  now: number = Date.now(),
): Promise<ApiAuthResult> {
  const header = req.headers.authorization;
  if (header === undefined || header.length === 0) return { ok: false, status: 401, message: 'Missing Authentication Token' };
  if (header.startsWith('Bearer ')) {
    if (credentials.key === undefined) return { ok: false, status: 403, message: 'bearer keys are not enabled' };
    return constantTimeEquals(header.slice(7), credentials.key)
      ? { ok: true, principal: 'api-key' }
      : { ok: false, status: 403, message: 'invalid API key' };
  }
  const match = SIGV4.exec(header);
  if (match === null) return { ok: false, status: 403, message: 'unsupported Authorization header' };
  const aws = credentials.awsCredentials;
  const [, accessKeyId, scopeDate, region, service, signedHeaderList, signature] = match as unknown as string[];
  if (aws === undefined || accessKeyId !== aws.accessKeyId) {
    return { ok: false, status: 403, message: 'The security token included in the request is invalid.' };
  }
  if (service !== 'execute-api') return { ok: false, status: 403, message: 'credential scope must be execute-api' };
  const amzDate = headerValue(req, 'x-amz-date');
  const signingDate = amzDate === undefined ? undefined : parseAmzDate(amzDate);
  if (signingDate === undefined || !amzDate!.startsWith(scopeDate!)) {
    return { ok: false, status: 403, message: 'x-amz-date is missing or does not match the credential scope' };
  }
  if (Math.abs(now - signingDate.getTime()) > MAX_SKEW_MS) return { ok: false, status: 403, message: 'Signature expired' };

  // The signature covers the declared body hash, not the body: compare the declaration with the body
  // received, or a captured request replays with any body of the caller's choice.
  const bodyHash = createHash('sha256').update(body).digest('hex');
  const declaredHash = headerValue(req, 'x-amz-content-sha256');
  if (declaredHash !== undefined && declaredHash !== bodyHash) {
    return {
      ok: false,
      status: 403,
      message: declaredHash === 'UNSIGNED-PAYLOAD' ? 'UNSIGNED-PAYLOAD is not accepted' : 'x-amz-content-sha256 does not match the body',
    };
  }

  const signedHeaders = signedHeaderList!.split(';');
  const headers: Record<string, string> = {};
  for (const name of signedHeaders) {
    const value = headerValue(req, name);
    if (value === undefined) return { ok: false, status: 403, message: `signed header ${name} is missing` };
    headers[name] = value;
  }
  const url = new URL(req.url ?? '/', 'http://localhost');
  const query: Record<string, string | string[]> = {};
  for (const [key, value] of url.searchParams) {
    const existing = query[key];
    query[key] = existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value];
  }
  const signer = new SignatureV4({
    credentials: aws,
    region: region!,
    service: 'execute-api',
    sha256: Sha256,
  });
  const request = new HttpRequest({
    method: req.method ?? 'GET',
    protocol: 'http:',
    hostname: headers.host ?? 'localhost',
    // The wire path, still percent-encoded: SigV4 encodes it once more, exactly as the signing client did.
    path: rawPath(req.url ?? '/'),
    query,
    headers,
    body,
  });
  const signed = await signer.sign(request, { signingDate, signableHeaders: new Set(signedHeaders) });
  const expected = /Signature=([0-9a-f]{64})/.exec(String(signed.headers.authorization ?? ''))?.[1];
  if (expected === undefined || !constantTimeEquals(expected, signature!)) {
    return {
      ok: false,
      status: 403,
      message: 'The request signature we calculated does not match the signature you provided.',
    };
  }
  return { ok: true, principal: accessKeyId };
}

function rawPath(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  if (value === undefined) return undefined;
  return (Array.isArray(value) ? value.join(',') : value).trim().replace(/\s+/g, ' ');
}

function parseAmzDate(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (m === null) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number) as number[];
  return new Date(Date.UTC(y!, mo! - 1, d!, h!, mi!, s!));
}

export function constantTimeEquals(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}
