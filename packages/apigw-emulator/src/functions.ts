import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createHandlers, createLambdaEngine, loadLambdaConfig, type ClasswireHandlers, type LambdaEngine } from '@classwire/aws';
import type { Logger } from 'pino';
import { lambdaContext } from './events.js';
import type { EmulatorMetrics } from './metrics.js';

/** The functions behind the emulated API: one set of handlers (one execution environment) each. */
export interface Functions {
  authorizer: ClasswireHandlers;
  connect: ClasswireHandlers;
  disconnect: ClasswireHandlers;
  message: ClasswireHandlers;
  /** An application backend's engine (server-side publishes), built like the handlers' own. */
  backend: LambdaEngine;
}

/**
 * Builds the functions from `handlerModule` (the Lambda bundle) or the linked `@classwire/aws`, each with
 * its own environment: like separate Lambda functions, they share nothing but Redis.
 */
export async function loadFunctions(handlerModule: string | undefined, environment: (functionName: string) => Record<string, string>, logger: Logger): Promise<Functions> {
  const create: typeof createHandlers =
    handlerModule === undefined
      ? createHandlers
      : ((await import(pathToFileURL(resolve(handlerModule)).href)) as { createHandlers: typeof createHandlers }).createHandlers;
  const build = (name: string) => create(environment(`classwire-${name}`), { logger: logger.child({ function: name }) });
  return {
    authorizer: build('authorizer'),
    connect: build('connect'),
    disconnect: build('disconnect'),
    message: build('default'),
    backend: createLambdaEngine(loadLambdaConfig(environment('classwire-backend')), { logger: logger.child({ function: 'backend' }) }),
  };
}

export async function closeFunctions(functions: Functions): Promise<void> {
  await Promise.all([functions.authorizer.close(), functions.connect.close(), functions.disconnect.close(), functions.message.close(), functions.backend.close()]);
}

/**
 * Runs one invocation as the integration does: failing after the integration timeout, counted and timed
 * by route. Never throws: the settled result says how it ended.
 */
export async function invoke<E, R>(
  route: string,
  fn: (event: E) => Promise<R>,
  event: E,
  timeoutMs: number,
  metrics: EmulatorMetrics,
  logger: Logger,
): Promise<PromiseSettledResult<R>> {
  const started = Date.now();
  const context = lambdaContext(`classwire-${route.replace('$', '')}`, timeoutMs, started);
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`integration timed out after ${timeoutMs} ms`)), timeoutMs);
    });
    const value = await Promise.race([fn(event), timeout]);
    metrics.invocations.inc({ route, outcome: 'ok' });
    return { status: 'fulfilled', value };
  } catch (error) {
    metrics.invocations.inc({ route, outcome: 'error' });
    logger.warn({ err: error, route, requestId: context.awsRequestId }, 'integration failed');
    return { status: 'rejected', reason: error };
  } finally {
    clearTimeout(timer);
    metrics.invocationSeconds.observe({ route }, (Date.now() - started) / 1000);
  }
}
