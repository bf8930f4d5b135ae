import { randomBytes } from 'node:crypto';
import { z } from 'zod';

/**
 * Settings of the API Gateway emulation mode (`CLASSWIRE_MODE=apigw-emulator`). Its own schema, so the
 * gateway's configuration stays as it is; docs/aws.md lists every variable.
 */
const int = (min: number) => z.coerce.number().int().min(min);

const env = z.object({
  CLASSWIRE_MODE: z.enum(['gateway', 'apigw-emulator']).default('gateway'),
  CLASSWIRE_APIGW_API_ID: z.string().regex(/^[a-z0-9]{1,32}$/, 'CLASSWIRE_APIGW_API_ID must be lower-case letters and digits').optional(),
  CLASSWIRE_APIGW_REGION: z.string().regex(/^[a-z0-9-]+$/).default('us-east-1'),
  CLASSWIRE_APIGW_ACCOUNT_ID: z.string().regex(/^\d{12}$/).default('123456789012'),
  CLASSWIRE_APIGW_IDLE_TIMEOUT_MS: int(100).default(10 * 60 * 1000),
  CLASSWIRE_APIGW_MAX_CONNECTION_MS: int(100).default(2 * 60 * 60 * 1000),
  CLASSWIRE_APIGW_INTEGRATION_TIMEOUT_MS: int(50).max(29_000).default(29_000),
  CLASSWIRE_APIGW_CONNECTS_PER_SECOND: int(1).default(500),
  CLASSWIRE_APIGW_CALLBACK_RPS: int(1).default(10_000),
  CLASSWIRE_APIGW_DISCONNECT_DROP_RATE: z.coerce.number().min(0).max(1).default(0),
  CLASSWIRE_APIGW_INVOKE_JITTER_MS: int(0).default(0),
  CLASSWIRE_APIGW_HANDLER_MODULE: z.string().min(1).optional(),
  CLASSWIRE_REDIS_URL: z.string().optional(),
  CLASSWIRE_REDIS_SENTINELS: z.string().optional(),
  CLASSWIRE_WS_PATH: z.string().default('/ws'),
});

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
   * instead of the handlers of `@classwire/aws` linked into the gateway.
   */
  handlerModule: string | undefined;
  /** The functions' environment: the variables the Lambda functions would get (before the emulator's own). */
  functionEnvironment: Record<string, string>;
}

/** Returns the emulator's settings in emulation mode, undefined otherwise. Throws a message on bad input. */
export function loadApiGatewayEmulatorConfig(source: Record<string, string | undefined>): ApiGatewayEmulatorConfig | undefined {
  const defined = Object.fromEntries(Object.entries(source).filter((entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== ''));
  const parsed = env.safeParse(defined);
  if (!parsed.success) throw new Error(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  const e = parsed.data;
  if (e.CLASSWIRE_MODE !== 'apigw-emulator') return undefined;
  if (e.CLASSWIRE_REDIS_URL === undefined || e.CLASSWIRE_REDIS_SENTINELS !== undefined) {
    throw new Error('CLASSWIRE_MODE=apigw-emulator needs CLASSWIRE_REDIS_URL (the Lambda handlers keep every state in Redis; Sentinel is not supported there)');
  }
  const stage = e.CLASSWIRE_WS_PATH.slice(1);
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(stage)) {
    throw new Error('in emulation mode CLASSWIRE_WS_PATH is the stage: one path segment such as /prod');
  }
  const functionEnvironment = Object.fromEntries(Object.entries(defined).filter(([key]) => key.startsWith('CLASSWIRE_') || key === 'LOG_LEVEL'));
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
