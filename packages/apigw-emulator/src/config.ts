import { randomBytes } from 'node:crypto';
import { API_GATEWAY_MAX_CONNECTION_MS } from '@classwire/aws';
import { ConfigError, SHARED_ENV, envInt as int, parseEnv } from '@classwire/core';
import { z } from 'zod';

/**
 * Settings of the API Gateway emulation mode (`CLASSWIRE_MODE=apigw-emulator`), on top of the
 * gateway's (server, tokens, API credentials); docs/aws.md lists every variable.
 */
const env = z.object({
  CLASSWIRE_WS_PATH: SHARED_ENV.CLASSWIRE_WS_PATH,
  CLASSWIRE_REDIS_URL: SHARED_ENV.CLASSWIRE_REDIS_URL,
  CLASSWIRE_REDIS_SENTINELS: z.string().optional(),
  CLASSWIRE_APIGW_API_ID: z.string().regex(/^[a-z0-9]{1,32}$/, 'CLASSWIRE_APIGW_API_ID must be lower-case letters and digits').optional(),
  CLASSWIRE_APIGW_REGION: z.string().regex(/^[a-z0-9-]+$/).default('us-east-1'),
  CLASSWIRE_APIGW_ACCOUNT_ID: z.string().regex(/^\d{12}$/).default('123456789012'),
  CLASSWIRE_APIGW_IDLE_TIMEOUT_MS: int(100).default(10 * 60 * 1000),
  CLASSWIRE_APIGW_MAX_CONNECTION_MS: int(100).default(API_GATEWAY_MAX_CONNECTION_MS),
  CLASSWIRE_APIGW_INTEGRATION_TIMEOUT_MS: int(50).max(29_000).default(29_000),
  CLASSWIRE_APIGW_CONNECTS_PER_SECOND: int(1).default(500),
  CLASSWIRE_APIGW_CALLBACK_RPS: int(1).default(10_000),
  CLASSWIRE_APIGW_DISCONNECT_DROP_RATE: z.coerce.number().min(0).max(1).default(0),
  CLASSWIRE_APIGW_INVOKE_JITTER_MS: int(0).default(0),
  CLASSWIRE_APIGW_HANDLER_MODULE: z.string().min(1).optional(),
});

/** Every variable the emulator reads, for the CLI's unknown-variable check. */
export const APIGW_EMULATOR_ENV_NAMES: readonly string[] = Object.keys(env.shape);

export interface ApiGatewayEmulatorConfig {
  apiId: string;
  region: string;
  accountId: string;
  /** The stage: the WebSocket path without its slash (`/ws` → `ws`). @connections lives under it. */
  stage: string;
  idleTimeoutMs: number;
  maxConnectionMs: number;
  integrationTimeoutMs: number;
  connectsPerSecond: number;
  callbackRps: number;
  /** Share of `$disconnect` events not delivered (API Gateway's is best effort), to test clean-up. */
  disconnectDropRate: number;
  /** A random delay up to this before each MESSAGE invocation, so ordering assumptions fail visibly. */
  invokeJitterMs: number;
  /**
   * A module exporting `createHandlers` (the Lambda bundle, `packages/aws/asset/lambda/index.mjs`) to run
   * instead of the handlers of `@classwire/aws` this package depends on.
   */
  handlerModule: string | undefined;
  /** The functions' environment: the variables the Lambda functions would get (before the emulator's own). */
  functionEnvironment: Record<string, string>;
}

/** The emulator's settings from the environment; throws a ConfigError naming the bad variable. */
export function loadApiGatewayEmulatorConfig(source: Record<string, string | undefined>): ApiGatewayEmulatorConfig {
  const e = parseEnv(env, source);
  if (e.CLASSWIRE_REDIS_URL === undefined || e.CLASSWIRE_REDIS_SENTINELS !== undefined) {
    throw new ConfigError('CLASSWIRE_MODE=apigw-emulator needs CLASSWIRE_REDIS_URL (the Lambda handlers keep every state in Redis; Sentinel is not supported there)');
  }
  const stage = e.CLASSWIRE_WS_PATH.slice(1);
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(stage)) {
    throw new ConfigError('in emulation mode CLASSWIRE_WS_PATH is the stage: one path segment such as /prod');
  }
  const functionEnvironment = Object.fromEntries(
    Object.entries(source).filter(
      (entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== '' && (entry[0].startsWith('CLASSWIRE_') || entry[0] === 'LOG_LEVEL'),
    ),
  );
  return {
    apiId: e.CLASSWIRE_APIGW_API_ID ?? randomApiId(),
    region: e.CLASSWIRE_APIGW_REGION,
    accountId: e.CLASSWIRE_APIGW_ACCOUNT_ID,
    stage,
    idleTimeoutMs: e.CLASSWIRE_APIGW_IDLE_TIMEOUT_MS,
    maxConnectionMs: e.CLASSWIRE_APIGW_MAX_CONNECTION_MS,
    integrationTimeoutMs: e.CLASSWIRE_APIGW_INTEGRATION_TIMEOUT_MS,
    connectsPerSecond: e.CLASSWIRE_APIGW_CONNECTS_PER_SECOND,
    callbackRps: e.CLASSWIRE_APIGW_CALLBACK_RPS,
    disconnectDropRate: e.CLASSWIRE_APIGW_DISCONNECT_DROP_RATE,
    invokeJitterMs: e.CLASSWIRE_APIGW_INVOKE_JITTER_MS,
    handlerModule: e.CLASSWIRE_APIGW_HANDLER_MODULE,
    functionEnvironment,
  };
}

/** API ids are 10 lower-case letters and digits. */
function randomApiId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return [...randomBytes(10)].map((b) => alphabet[b % alphabet.length]).join('');
}
