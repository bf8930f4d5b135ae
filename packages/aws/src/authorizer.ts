import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AuthError, JwtAuthorizer, type Claims, type Logger } from '@classwire/core';
import { isRole } from '@classwire/protocol';
import type { LambdaConfig } from './config.js';
import type { AuthorizerContext, AuthorizerResult, RequestAuthorizerEvent } from './events.js';

/** API Gateway refuses an authorizer result larger than this with 500. */
export const MAX_AUTHORIZER_RESULT_BYTES = 8 * 1024;

/**
 * The REQUEST authorizer of `$connect`: verifies the JWT from the `token` query parameter with core's
 * JwtAuthorizer (the gateway's checks) and returns the user as principal and context.
 *
 * Outcomes as API Gateway maps them: throwing `Unauthorized` answers 401 (missing, malformed, forged
 * or expired tokens, bad claims); a Deny policy answers 403 (claims too large to pass on).
 */
export class RequestAuthorizer {
  private verifier: Promise<JwtAuthorizer> | undefined;

  constructor(
    private readonly config: LambdaConfig,
    private readonly logger: Logger,
    private readonly secrets: (arn: string) => Promise<string> = readSecret(config),
  ) {}

  async authorize(event: RequestAuthorizerEvent): Promise<AuthorizerResult> {
    const token = event.queryStringParameters?.token ?? '';
    let claims: Claims;
    try {
      claims = await (await this.jwt()).authorize(token);
    } catch (error) {
      if (error instanceof AuthError) {
        this.logger.info({ reason: error.reason, sourceIp: event.requestContext.identity.sourceIp }, 'token refused');
        if (error.status === 403) return policy('anonymous', 'Deny', event.methodArn);
        throw new Error('Unauthorized', { cause: error });
      }
      throw error;
    }
    const result = policy(claims.userId, 'Allow', event.methodArn, contextOf(claims));
    if (Buffer.byteLength(JSON.stringify(result)) > MAX_AUTHORIZER_RESULT_BYTES) {
      this.logger.warn({ userId: claims.userId, rooms: claims.rooms.length }, 'claims exceed the 8 KB authorizer result; refused');
      return policy(claims.userId, 'Deny', event.methodArn);
    }
    return result;
  }

  /** Verifies a token (an in-band refresh's) with the same checks as `$connect`'s. */
  async verify(token: string): Promise<Claims> {
    return (await this.jwt()).authorize(token);
  }

  private jwt(): Promise<JwtAuthorizer> {
    this.verifier ??= this.build().catch((error: unknown) => {
      // A failed secret read is retried by the next invocation rather than cached.
      this.verifier = undefined;
      throw error;
    });
    return this.verifier;
  }

  private async build(): Promise<JwtAuthorizer> {
    const { auth } = this.config;
    const secret = auth.secretArn === undefined ? auth.secret : await this.secrets(auth.secretArn);
    return new JwtAuthorizer({
      secret,
      jwksUrl: auth.jwksUrl,
      algorithms: auth.algorithms,
      issuer: auth.issuer,
      audience: auth.audience,
    });
  }
}

/** Context values must be strings, numbers or booleans; the room claims travel as a JSON string. */
export function contextOf(claims: Claims): Record<string, string | number | boolean> {
  return {
    userId: claims.userId,
    name: claims.name,
    role: claims.role,
    rooms: JSON.stringify(claims.rooms),
    expiresAt: claims.expiresAt,
  };
}

/**
 * The claims the authorizer put in the context, as they reach `$connect`. API Gateway may pass the
 * values as strings (it documents stringifying them), so every field is parsed from its string form.
 * Returns undefined when the context is missing or altered.
 */
export function claimsFromContext(context: AuthorizerContext | undefined): Claims | undefined {
  if (context === undefined) return undefined;
  const userId = text(context.userId) ?? text(context.principalId);
  const name = text(context.name);
  const role = text(context.role);
  const expiresAt = Number(text(context.expiresAt));
  let rooms: unknown;
  try {
    rooms = JSON.parse(text(context.rooms) ?? '');
  } catch {
    return undefined;
  }
  if (userId === undefined || name === undefined || role === undefined || !isRole(role)) return undefined;
  if (!Number.isFinite(expiresAt) || !Array.isArray(rooms) || !rooms.every((r) => typeof r === 'string')) return undefined;
  return { userId, name, role, rooms: rooms as string[], expiresAt };
}

function text(value: string | number | boolean | undefined): string | undefined {
  return value === undefined ? undefined : String(value);
}

function policy(principalId: string, effect: 'Allow' | 'Deny', resource: string, context?: Record<string, string | number | boolean>): AuthorizerResult {
  return {
    principalId,
    policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: effect, Resource: resource }] },
    ...(context === undefined ? {} : { context }),
  };
}

function readSecret(config: LambdaConfig): (arn: string) => Promise<string> {
  return async (arn) => {
    const client = new SecretsManagerClient(config.region === undefined ? {} : { region: config.region });
    try {
      const output = await client.send(new GetSecretValueCommand({ SecretId: arn }));
      if (output.SecretString === undefined) throw new Error(`secret ${arn} has no string value`);
      return output.SecretString;
    } finally {
      client.destroy();
    }
  };
}
