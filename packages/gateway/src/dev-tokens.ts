import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DEFAULT_LIMITS, ROLES } from '@classwire/protocol';
import { SignJWT } from 'jose';
import { z } from 'zod';
import type { GatewayConfig } from './config.js';
import { readJson, sendError, sendJson, sendMethodNotAllowed } from './http-util.js';

const request = z.object({
  userId: z.string().min(1).max(DEFAULT_LIMITS.maxUserIdLength).optional(),
  name: z.string().trim().min(1).max(64),
  role: z.enum(ROLES as [string, ...string[]]).default('student'),
  rooms: z
    .array(z.string().min(1).max(DEFAULT_LIMITS.maxRoomLength).regex(/^\*$|^[A-Za-z0-9][A-Za-z0-9_.:-]*\*?$/))
    .max(32)
    .default(['*']),
  ttlSeconds: z.number().int().min(10).max(86_400).default(7_200),
});

const DEV_TOKEN_BODY_LIMIT = 4096;

/** Issues HS256 tokens for development. Enabled only by `--dev` or CLASSWIRE_DEV_TOKENS. */
export class DevTokenIssuer {
  private readonly key: Uint8Array;

  constructor(
    secret: string,
    private readonly claims: { issuer?: string | undefined; audience?: string | undefined } = {},
  ) {
    this.key = new TextEncoder().encode(secret);
  }

  async issue(input: unknown): Promise<{ token: string; userId: string; expiresAt: number } | { error: string }> {
    const parsed = request.safeParse(input);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return { error: `${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid request'}` };
    }
    const { name, role, rooms, ttlSeconds } = parsed.data;
    const userId = parsed.data.userId ?? `u-${randomBytes(6).toString('hex')}`;
    const expiresAt = Math.floor(Date.now() / 1000) + ttlSeconds;
    const jwt = new SignJWT({ name, role, rooms })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(userId)
      .setIssuedAt()
      .setExpirationTime(expiresAt);
    if (this.claims.issuer !== undefined) jwt.setIssuer(this.claims.issuer);
    if (this.claims.audience !== undefined) jwt.setAudience(this.claims.audience);
    const token = await jwt.sign(this.key);
    return { token, userId, expiresAt: expiresAt * 1000 };
  }
}

/**
 * Development tokens when the configuration enables them: the issuer, and the secret it signs with (the
 * configured one, else a random one for this run, which the verifier must then use too).
 */
export function createDevTokens(config: Pick<GatewayConfig, 'devTokens' | 'auth'>): { secret: string; issuer: DevTokenIssuer } | undefined {
  if (!config.devTokens) return undefined;
  const secret = config.auth.secret ?? randomBytes(36).toString('base64url');
  return { secret, issuer: new DevTokenIssuer(secret, { issuer: config.auth.issuer, audience: config.auth.audience }) };
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/**
 * The startup warning for development tokens: who can reach the endpoint (loopback, or every network
 * the explicit HOST is on) and which secret the tokens are signed with.
 */
export function devTokenWarning(config: Pick<GatewayConfig, 'host' | 'auth'>, url: string): { fields: Record<string, string>; message: string } {
  const reach = LOOPBACK.test(config.host)
    ? `only from this machine (${config.host})`
    : `from every network ${config.host} reaches, because HOST is set`;
  const signing =
    config.auth.secret === undefined
      ? 'a random secret of this run (only tokens of this process verify)'
      : 'CLASSWIRE_JWT_SECRET, allowed by CLASSWIRE_DEV_TOKENS_USE_JWT_SECRET: these tokens are valid wherever that secret is';
  return {
    fields: { endpoint: `${url}/dev/token`, host: config.host, signing: config.auth.secret === undefined ? 'random' : 'CLASSWIRE_JWT_SECRET' },
    message: `DEVELOPMENT TOKENS ARE ON: anyone who reaches this server can mint a token for any user and role, ${reach}; tokens are signed with ${signing}. Never enable this in production.`,
  };
}

/** `POST /dev/token`: issues a token for the requested user. */
export async function serveDevToken(req: IncomingMessage, res: ServerResponse, issuer: DevTokenIssuer): Promise<void> {
  if (req.method !== 'POST') return sendMethodNotAllowed(req, res, ['POST']);
  const input = await readJson(req, res, DEV_TOKEN_BODY_LIMIT);
  if (input === undefined) return;
  const issued = await issuer.issue(input.value);
  if ('error' in issued) return sendError(res, 'bad_request', issued.error);
  sendJson(res, 200, issued);
}
