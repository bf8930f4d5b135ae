import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { APIGW_EMULATOR_ENV_NAMES, loadApiGatewayEmulatorConfig, startApiGatewayEmulator, type ApiGatewayEmulatorConfig } from '@classwire/apigw-emulator';
import { LAMBDA_ENV_NAMES } from '@classwire/aws';
import { ConfigError, collectConfigProblems, describeUnknownVariable, findUnknownVariables, parseEnv, type UnknownVariable } from '@classwire/core';
import { GATEWAY_ENV_NAMES, loadConfig, startGateway, type Gateway, type GatewayConfig } from '@classwire/gateway';
import { DEV_DATA_DIR } from '@classwire/records';
import type { Logger } from 'pino';
import { z } from 'zod';

/** The classroom app's build in this repository (`npm run build`); from src/ and dist/ alike. */
const CLASSROOM_APP_ROOT = fileURLToPath(new URL('../../../apps/classroom/dist/', import.meta.url));

const modeEnv = z.object({ CLASSWIRE_MODE: z.enum(['gateway', 'apigw-emulator']).default('gateway') });
type Mode = z.output<typeof modeEnv>['CLASSWIRE_MODE'];

/** What `classwire serve` runs: the gateway, or the Lambda handlers behind the API Gateway emulator. */
export type ServeConfig =
  | { mode: 'gateway'; gateway: GatewayConfig }
  | { mode: 'apigw-emulator'; gateway: GatewayConfig; apigw: ApiGatewayEmulatorConfig };

export interface ServeOptions {
  dev?: boolean;
  /** Unknown `CLASSWIRE_*` variables are left to the caller to warn about instead of failing the load. */
  allowUnknownEnv?: boolean;
}

/**
 * Reads `CLASSWIRE_MODE` and the settings of that mode. The web app defaults to the classroom app once
 * it is built (else the gateway serves its bundled console). Throws a ConfigError listing every bad or
 * (unless allowed) unknown variable.
 */
export function loadServeConfig(source: Record<string, string | undefined>, options: ServeOptions = {}): ServeConfig {
  const [mode, gateway, apigw] = collectConfigProblems<[Mode, GatewayConfig, ApiGatewayEmulatorConfig | undefined, undefined]>(
    () => parseEnv(modeEnv, source).CLASSWIRE_MODE,
    // Development mode records classes with zero set-up, in an embedded database (docs/records.md).
    () => loadConfig(options.dev === true ? { CLASSWIRE_DATA_DIR: DEV_DATA_DIR, ...source } : source, { dev: options.dev }),
    () => (source.CLASSWIRE_MODE === 'apigw-emulator' ? loadApiGatewayEmulatorConfig(source) : undefined),
    () => {
      if (options.allowUnknownEnv === true) return;
      const unknown = unknownServeVariables(source);
      if (unknown.length > 0) throw new ConfigError(unknown.map(describeUnknownVariable));
    },
  );
  gateway.staticDir ??= existsSync(`${CLASSROOM_APP_ROOT}index.html`) ? CLASSROOM_APP_ROOT : undefined;
  return mode === 'apigw-emulator' && apigw !== undefined ? { mode, gateway, apigw } : { mode: 'gateway', gateway };
}

/**
 * The `CLASSWIRE_*` variables nothing reads in the configured mode. In emulation mode the Lambda
 * handlers' variables count as known: the emulator passes them on to the functions.
 */
export function unknownServeVariables(source: Record<string, string | undefined>): UnknownVariable[] {
  const emulated = source.CLASSWIRE_MODE === 'apigw-emulator';
  return findUnknownVariables(source, ['CLASSWIRE_MODE', ...GATEWAY_ENV_NAMES, ...APIGW_EMULATOR_ENV_NAMES, ...(emulated ? LAMBDA_ENV_NAMES : [])]);
}

/** What the startup log and `check-config` name first: what runs, on which engine, with which rooms. */
export function describeServeConfig(config: ServeConfig): { mode: ServeConfig['mode']; engine: 'memory' | 'redis'; classroom: boolean } {
  return {
    mode: config.mode,
    engine: config.mode === 'apigw-emulator' || config.gateway.redis !== undefined ? 'redis' : 'memory',
    classroom: config.gateway.classroom,
  };
}

const SECRET_NAME = /secret|password|token|key/i;
const MASK = '********';

/**
 * The effective configuration with every secret replaced by a mask: values under a name that says
 * secret, password, token or key, and the password of a URL.
 */
export function maskSecrets(value: unknown, name = ''): unknown {
  if (typeof value === 'string') {
    if (SECRET_NAME.test(name)) return MASK;
    return value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@/]*@/i, `$1${MASK}@`);
  }
  if (Array.isArray(value)) return value.map((item) => maskSecrets(item, name));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, maskSecrets(inner, key)]));
  }
  return value;
}

export function startServer(config: ServeConfig, options: { logger: Logger }): Promise<Gateway> {
  return config.mode === 'apigw-emulator' ? startApiGatewayEmulator(config.gateway, config.apigw, options) : startGateway(config.gateway, options);
}
