import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { Gateway, GatewayConfig } from '@classwire/gateway';
import { applySecurityHeaders, BUNDLED_WEB_ROOT, createDevTokens, devTokenWarning, isAbandoned, listen, sendAwsError } from '@classwire/gateway/http';
import { CLOSE_CODES } from '@classwire/protocol';
import type { Logger } from 'pino';
import type { ApiGatewayEmulatorConfig } from './config.js';
import type { EmulatorContext } from './context.js';
import { closeFunctions, invoke, loadFunctions, type Functions } from './functions.js';
import { EmulatorMetrics } from './metrics.js';
import { createRoutes } from './routes.js';
import { handleUpgrades } from './upgrade.js';

/** How often a drain looks whether every socket has closed. */
const DRAIN_POLL_MS = 20;

/**
 * API Gateway emulation mode: a WebSocket API in front of Classwire's Lambda handlers
 * (`@classwire/aws`), run in this process with the events API Gateway sends, and its `@connections`
 * management API on the same port, which the handlers reach through the real AWS SDK client
 * (`WS_CALLBACK_URL` points here). docs/aws.md lists what is emulated and what is not.
 *
 * The lifecycle lives here (listen, build the functions, drain); the upgrade with the authorizer and
 * `$connect` in upgrade.ts, the per-connection invocations in connection-pump.ts, HTTP in routes.ts.
 */
export async function startApiGatewayEmulator(config: GatewayConfig, apigw: ApiGatewayEmulatorConfig, options: { logger: Logger }): Promise<Gateway> {
  const { logger } = options;
  const devTokens = createDevTokens(config);
  // The functions sign @connections calls with these; without configured ones, a pair of this run's own.
  const awsCredentials = config.api.awsCredentials ?? { accessKeyId: `AKIDEMU${randomBytes(6).toString('hex').toUpperCase()}`, secretAccessKey: randomBytes(24).toString('base64url') };

  let functions: Functions | undefined;
  let draining = false;
  const pending = new Set<Promise<unknown>>();
  const live: EmulatorContext['live'] = new Map();
  const metrics = new EmulatorMetrics(
    () => live.size,
    () => Array.from(live.values(), (entry) => entry.source.connectedAt),
  );
  const ctx: EmulatorContext = {
    config,
    apigw,
    logger,
    metrics,
    live,
    connecting: new Set(),
    functions: () => functions,
    isDraining: () => draining,
    track: (promise) => {
      pending.add(promise);
      void promise.finally(() => pending.delete(promise)).catch(() => undefined);
      return promise;
    },
    invoke: (route, fn, event) => invoke(route, fn, event, apigw.integrationTimeoutMs, metrics, logger),
  };

  const routes = createRoutes(ctx, {
    apiCredentials: { key: config.api.key, awsCredentials },
    devTokens: devTokens?.issuer,
    webRoot: config.staticDir ?? BUNDLED_WEB_ROOT,
    isReady: () => functions !== undefined,
  });
  const server = createServer((req, res) => {
    applySecurityHeaders(req, res);
    routes(req, res).catch((error: unknown) => {
      if (isAbandoned(req)) {
        logger.debug({ err: error, method: req.method }, 'request abandoned by the client');
        res.destroy();
        return;
      }
      logger.error({ err: error, method: req.method }, 'request failed');
      if (!res.headersSent) sendAwsError(res, 500, 'InternalServerErrorException', 'Internal server error');
      else res.destroy();
    });
  });
  handleUpgrades(server, ctx);

  const { url, port } = await listen(server, config.port, config.host);
  const callbackUrl = `${url}/${apigw.stage}`;
  const functionEnvironment = (name: string): Record<string, string> => ({
    ...apigw.functionEnvironment,
    ...(devTokens === undefined ? {} : { CLASSWIRE_JWT_SECRET: devTokens.secret }),
    WS_CALLBACK_URL: callbackUrl,
    AWS_REGION: apigw.region,
    AWS_ACCESS_KEY_ID: awsCredentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: awsCredentials.secretAccessKey,
    AWS_LAMBDA_FUNCTION_NAME: name,
  });
  try {
    functions = await loadFunctions(apigw.handlerModule, functionEnvironment, logger);
  } catch (error) {
    server.close();
    throw error;
  }
  const backend = functions.backend;
  logger.info({ url, ws: `${url.replace('http', 'ws')}/${apigw.stage}`, apiId: apigw.apiId, callbackUrl, handlers: apigw.handlerModule ?? '@classwire/aws' }, 'classwire API Gateway emulator listening');
  if (devTokens !== undefined) {
    const warning = devTokenWarning(config, url);
    logger.warn(warning.fields, warning.message);
  }

  async function drain(): Promise<void> {
    draining = true;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const entry of live.values()) entry.connection.close(CLOSE_CODES.apiGatewayGoingAway, 'Going away');
    const deadline = Date.now() + config.drainTimeoutMs;
    while (live.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, DRAIN_POLL_MS));
    for (const entry of live.values()) entry.socket.terminate();
    server.closeAllConnections();
    await closed;
    while (pending.size > 0) await Promise.allSettled([...pending]);
    if (functions !== undefined) await closeFunctions(functions);
    logger.info('emulator drained');
  }

  let drained: Promise<void> | undefined;
  return {
    url,
    port,
    engine: backend.engine,
    metrics,
    get connectionCount() {
      return live.size;
    },
    drain: () => (drained ??= drain()),
  };
}
