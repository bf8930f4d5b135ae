import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadApiGatewayEmulatorConfig, startApiGatewayEmulator, type ApiGatewayEmulatorConfig } from '@classwire/apigw-emulator';
import { parseEnv } from '@classwire/core';
import { loadConfig, startGateway, type Gateway, type GatewayConfig } from '@classwire/gateway';
import { DEV_DATA_DIR } from '@classwire/records';
import type { Logger } from 'pino';
import { z } from 'zod';

/** The classroom app's build in this repository (`npm run build`); from src/ and dist/ alike. */
const CLASSROOM_APP_ROOT = fileURLToPath(new URL('../../../apps/classroom/dist/', import.meta.url));

const modeEnv = z.object({ CLASSWIRE_MODE: z.enum(['gateway', 'apigw-emulator']).default('gateway') });

/** What `classwire serve` runs: the gateway, or the Lambda handlers behind the API Gateway emulator. */
export type ServeConfig =
  | { mode: 'gateway'; gateway: GatewayConfig }
  | { mode: 'apigw-emulator'; gateway: GatewayConfig; apigw: ApiGatewayEmulatorConfig };

/**
 * Reads `CLASSWIRE_MODE` and the settings of that mode. The web app defaults to the classroom app once
 * it is built (else the gateway serves its bundled console). Throws a ConfigError on bad input.
 */
export function loadServeConfig(source: Record<string, string | undefined>, overrides: { dev?: boolean } = {}): ServeConfig {
  const { CLASSWIRE_MODE: mode } = parseEnv(modeEnv, source);
  // Development mode records classes with zero set-up, in an embedded database (docs/records.md).
  const gateway = loadConfig(overrides.dev === true ? { CLASSWIRE_DATA_DIR: DEV_DATA_DIR, ...source } : source, overrides);
  gateway.staticDir ??= existsSync(`${CLASSROOM_APP_ROOT}index.html`) ? CLASSROOM_APP_ROOT : undefined;
  return mode === 'apigw-emulator' ? { mode, gateway, apigw: loadApiGatewayEmulatorConfig(source) } : { mode, gateway };
}

export function startServer(config: ServeConfig, options: { logger: Logger }): Promise<Gateway> {
  return config.mode === 'apigw-emulator' ? startApiGatewayEmulator(config.gateway, config.apigw, options) : startGateway(config.gateway, options);
}
