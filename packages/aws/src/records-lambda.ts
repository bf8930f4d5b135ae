/**
 * The records bundle's entry (cdk/bundle.ts): the functions of records on AWS (two scheduled, and the records HTTP API), in their
 * own file so the WebSocket functions' bundle carries neither pg nor kysely. Built on the first event
 * and reused while the execution environment is warm.
 */
import type { HttpApiEvent, HttpApiResult } from './events.js';
import { createRecordsHandlers, type DispatchRun, type LambdaContext, type RecordRun, type RecordsHandlers } from './records-handlers.js';

let handlers: RecordsHandlers | undefined;
const current = () => (handlers ??= createRecordsHandlers(process.env));

export const record = (event: unknown, context: LambdaContext): Promise<RecordRun> => current().record(event, context);
export const dispatch = (event: unknown, context: LambdaContext): Promise<DispatchRun> => current().dispatch(event, context);
export const api = (event: HttpApiEvent): Promise<HttpApiResult> => current().api(event);
