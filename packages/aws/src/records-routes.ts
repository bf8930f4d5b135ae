/**
 * The records API's routes on the HTTP API, shared by the stack (cdk/records.ts) and the handler
 * (records-api.ts) so they cannot drift apart: the same routes twice, once under `/backend` with
 * `AWS_IAM` authorization (a school's backend signs with SigV4) and once at the root with no API
 * Gateway authorizer (the function requires a staff JWT there).
 */

/** The prefix of the backend routes; stripped before routing. */
export const BACKEND_PREFIX = '/backend';
/** The path of the IAM-authorized route. */
export const BACKEND_ROUTE_PATH = `${BACKEND_PREFIX}/{proxy+}`;
/** The path of the staff route (no API Gateway authorizer). */
export const STAFF_ROUTE_PATH = '/{proxy+}';
/** Every method the records API answers (docs/records.md). */
export const RECORDS_METHODS = ['GET', 'DELETE', 'POST'] as const;
