export { createHandlers, createLambdaLogger, type ClasswireHandlers, type HandlerOptions } from './handlers.js';
export { createLambdaEngine, ConnectionIndex, type LambdaEngine, type LambdaEngineOptions } from './engine.js';
export { FailoverGuard } from './failover.js';
export { ManagementApiBroker } from './broker.js';
export { ManagementApiFanOut, isGoneError, MAX_POST_BYTES, BILLING_UNIT_BYTES, type FanOutStats } from './fanout.js';
export { RequestAuthorizer, claimsFromContext, contextOf, MAX_AUTHORIZER_RESULT_BYTES } from './authorizer.js';
import { LAMBDA_ENV_NAMES as CONFIG_ENV_NAMES } from './config.js';
import { DATABASE_ENV } from './records-database.js';
export { loadLambdaConfig, callbackUrlFor, LambdaConfigError, API_GATEWAY_MAX_CONNECTION_MS, type LambdaConfig } from './config.js';
/** Every variable the Lambda functions read: their configuration's, and the records database's (history from the records). */
export const LAMBDA_ENV_NAMES: readonly string[] = [...CONFIG_ENV_NAMES, ...Object.keys(DATABASE_ENV)];
export type * from './events.js';
export { createRecordsHandlers, type DispatchRun, type LambdaContext, type RecordRun, type RecordsHandlerOptions, type RecordsHandlers } from './records-handlers.js';
export { RecordMarkingBroker } from './records-marker.js';
export { answerRecordsEvent, lambdaRecordsPrincipal, MAX_RECORDS_BODY_BYTES, MAX_RECORDS_PATH_LENGTH, MAX_RECORDS_QUERY_LENGTH } from './records-api.js';
export { BACKEND_PREFIX, BACKEND_ROUTE_PATH, STAFF_ROUTE_PATH, RECORDS_METHODS } from './records-routes.js';
