import { createVerifier, TokenError } from 'fast-jwt';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { ClaimsError, claimsFromPayload, type Claims } from './claims.js';

/** Verifies a bearer token and returns the claims, or throws an AuthError. */
export interface Authorizer {
  authorize(token: string): Promise<Claims>;
}

export type AuthFailure = 'missing' | 'malformed' | 'invalid' | 'expired' | 'claims';

/** A rejected token. `status` is the HTTP status to answer the upgrade with. */
export class AuthError extends Error {
  override readonly name = 'AuthError';
  constructor(
    readonly reason: AuthFailure,
    message: string,
    readonly status: 401 | 403 = 401,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export interface JwtAuthorizerOptions {
  /** Shared secret for HS256 tokens. */
  secret?: string | undefined;
  /** JWKS URL for RS256/ES256 tokens. Fixed by configuration, never derived from a token. */
  jwksUrl?: string | undefined;
  /** Accepted algorithms. @default ['HS256'] with a secret, ['RS256', 'ES256'] with a JWKS URL */
  algorithms?: readonly string[] | undefined;
  issuer?: string | undefined;
  audience?: string | undefined;
  /** Allowed clock skew in seconds. @default 5 */
  clockToleranceSeconds?: number;
}

const MAX_TOKEN_LENGTH = 8192;

/**
 * JWT authorizer: algorithms pinned, `exp` and `sub` required, `iss`/`aud` checked when configured.
 * HS* tokens are verified by `fast-jwt` (node:crypto, synchronous), JWKS tokens by `jose`. WebCrypto's
 * HMAC runs each verification as a thread-pool job: about three times the CPU of node:crypto's, paid on
 * every connect of a join storm (docs/performance.md, "Token verification").
 */
export class JwtAuthorizer implements Authorizer {
  /** The JWKS key source; undefined with a secret. */
  private readonly key: JWTVerifyGetKey | undefined;
  /** The HS* verifier; undefined with a JWKS URL. */
  private readonly verifyHmac: ((token: string) => unknown) | undefined;
  private readonly algorithms: string[];

  constructor(private readonly options: JwtAuthorizerOptions) {
    if (options.secret !== undefined && options.jwksUrl !== undefined) {
      throw new Error('configure either a JWT secret or a JWKS URL, not both');
    }
    if (options.secret !== undefined) {
      if (options.secret.length < 32) throw new Error('the JWT secret must be at least 32 characters');
      this.algorithms = [...(options.algorithms ?? ['HS256'])];
      if (this.algorithms.some((a) => !HMAC_ALGORITHMS.has(a))) throw new Error('a JWT secret only verifies HS256, HS384 and HS512');
      this.key = undefined;
      this.verifyHmac = createVerifier({
        key: options.secret,
        algorithms: this.algorithms as ('HS256' | 'HS384' | 'HS512')[],
        // fast-jwt checks iss and aud only when the token has them: configured, they are required too.
        requiredClaims: ['exp', 'sub', ...(options.issuer === undefined ? [] : ['iss']), ...(options.audience === undefined ? [] : ['aud'])],
        clockTolerance: (options.clockToleranceSeconds ?? 5) * 1000,
        ...(options.issuer === undefined ? {} : { allowedIss: options.issuer }),
        ...(options.audience === undefined ? {} : { allowedAud: options.audience }),
        cache: false,
      });
    } else if (options.jwksUrl !== undefined) {
      this.key = createRemoteJWKSet(new URL(options.jwksUrl));
      this.verifyHmac = undefined;
      this.algorithms = [...(options.algorithms ?? ['RS256', 'ES256'])];
      if (this.algorithms.some((a) => a.startsWith('HS') || a === 'none')) {
        throw new Error('a JWKS URL only verifies asymmetric algorithms');
      }
    } else {
      throw new Error('a JWT secret or a JWKS URL is required');
    }
  }

  async authorize(token: string): Promise<Claims> {
    if (token.length === 0) throw new AuthError('missing', 'token is missing');
    if (token.length > MAX_TOKEN_LENGTH || token.split('.').length !== 3) {
      throw new AuthError('malformed', 'token is malformed');
    }
    const payload = this.verifyHmac === undefined ? await this.verifyWithJwks(token) : this.verifyWithSecret(this.verifyHmac, token);
    try {
      return claimsFromPayload(payload);
    } catch (error) {
      if (error instanceof ClaimsError) throw new AuthError('claims', error.message, 401, { cause: error });
      throw error;
    }
  }

  private verifyWithSecret(verify: (token: string) => unknown, token: string): Record<string, unknown> {
    try {
      return verify(token) as Record<string, unknown>;
    } catch (error) {
      const code = error instanceof TokenError ? error.code : undefined;
      if (code === TokenError.codes.expired) throw new AuthError('expired', 'token has expired', 401, { cause: error });
      if (code === TokenError.codes.malformed || code === TokenError.codes.invalidPayload) {
        throw new AuthError('malformed', 'token is malformed', 401, { cause: error });
      }
      throw new AuthError('invalid', 'token is not valid', 401, { cause: error });
    }
  }

  private async verifyWithJwks(token: string): Promise<Record<string, unknown>> {
    try {
      const verifyOptions = {
        algorithms: this.algorithms,
        requiredClaims: ['exp', 'sub'],
        clockTolerance: this.options.clockToleranceSeconds ?? 5,
        ...(this.options.issuer === undefined ? {} : { issuer: this.options.issuer }),
        ...(this.options.audience === undefined ? {} : { audience: this.options.audience }),
      };
      return (await jwtVerify(token, this.key!, verifyOptions)).payload as Record<string, unknown>;
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) throw new AuthError('expired', 'token has expired', 401, { cause: error });
      if (error instanceof joseErrors.JWSInvalid || error instanceof joseErrors.JWTInvalid) {
        throw new AuthError('malformed', 'token is malformed', 401, { cause: error });
      }
      throw new AuthError('invalid', 'token is not valid', 401, { cause: error });
    }
  }
}

const HMAC_ALGORITHMS = new Set(['HS256', 'HS384', 'HS512']);
