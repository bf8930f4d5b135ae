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

/** JWT authorizer on `jose`: algorithms pinned, `exp` and `sub` required, `iss`/`aud` checked when configured. */
export class JwtAuthorizer implements Authorizer {
  private readonly key: JWTVerifyGetKey;
  private readonly algorithms: string[];

  constructor(private readonly options: JwtAuthorizerOptions) {
    if (options.secret !== undefined && options.jwksUrl !== undefined) {
      throw new Error('configure either a JWT secret or a JWKS URL, not both');
    }
    if (options.secret !== undefined) {
      if (options.secret.length < 32) throw new Error('the JWT secret must be at least 32 characters');
      this.key = hmacKeys(new TextEncoder().encode(options.secret));
      this.algorithms = [...(options.algorithms ?? ['HS256'])];
      if (this.algorithms.some((a) => !a.startsWith('HS'))) throw new Error('a JWT secret only verifies HS* algorithms');
    } else if (options.jwksUrl !== undefined) {
      this.key = createRemoteJWKSet(new URL(options.jwksUrl));
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
    let payload: Record<string, unknown>;
    try {
      const verifyOptions = {
        algorithms: this.algorithms,
        requiredClaims: ['exp', 'sub'],
        clockTolerance: this.options.clockToleranceSeconds ?? 5,
        ...(this.options.issuer === undefined ? {} : { issuer: this.options.issuer }),
        ...(this.options.audience === undefined ? {} : { audience: this.options.audience }),
      };
      payload = (await jwtVerify(token, this.key, verifyOptions)).payload as Record<string, unknown>;
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) throw new AuthError('expired', 'token has expired', 401, { cause: error });
      if (error instanceof joseErrors.JWSInvalid || error instanceof joseErrors.JWTInvalid) {
        throw new AuthError('malformed', 'token is malformed', 401, { cause: error });
      }
      throw new AuthError('invalid', 'token is not valid', 401, { cause: error });
    }
    try {
      return claimsFromPayload(payload);
    } catch (error) {
      if (error instanceof ClaimsError) throw new AuthError('claims', error.message, 401, { cause: error });
      throw error;
    }
  }
}

/**
 * The secret as a key per HS algorithm, imported once: given the raw secret, jose would import it again
 * for every token (half the cost of a verification). jose checks the algorithm against the allowed ones
 * before it asks for a key.
 */
function hmacKeys(secret: Uint8Array): JWTVerifyGetKey {
  const keys = new Map<string, ReturnType<JWTVerifyGetKey>>();
  return (header) => {
    const alg = header.alg ?? '';
    let key = keys.get(alg);
    if (key === undefined) {
      key = globalThis.crypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: `SHA-${alg.slice(2)}` }, false, ['verify']);
      keys.set(alg, key);
    }
    return key;
  };
}
