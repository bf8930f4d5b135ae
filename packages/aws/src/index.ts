export { createHandlers, createLambdaLogger, type ClasswireHandlers, type HandlerOptions } from './handlers.js';
export { createLambdaEngine, ConnectionIndex, type LambdaEngine, type LambdaEngineOptions } from './engine.js';
export { FailoverGuard } from './failover.js';
export { ManagementApiBroker } from './broker.js';
export { ManagementApiFanOut, isGoneError, MAX_POST_BYTES, BILLING_UNIT_BYTES, type FanOutStats } from './fanout.js';
export { RequestAuthorizer, claimsFromContext, contextOf, MAX_AUTHORIZER_RESULT_BYTES } from './authorizer.js';
export { loadLambdaConfig, callbackUrlFor, LambdaConfigError, API_GATEWAY_MAX_CONNECTION_MS, LAMBDA_ENV_NAMES, type LambdaConfig } from './config.js';
export type * from './events.js';
