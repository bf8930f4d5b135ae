/**
 * The records bundle's entry (cdk/bundle.ts): the two scheduled functions of records on AWS, in their
 * own file so the WebSocket functions' bundle carries neither pg nor kysely. Built on the first event
 * and reused while the execution environment is warm.
 */
import { createRecordsHandlers, type DispatchRun, type LambdaContext, type RecordRun, type RecordsHandlers } from './records-handlers.js';

let handlers: RecordsHandlers | undefined;
const current = () => (handlers ??= createRecordsHandlers(process.env));

export const record = (event: unknown, context: LambdaContext): Promise<RecordRun> => current().record(event, context);
export const dispatch = (event: unknown, context: LambdaContext): Promise<DispatchRun> => current().dispatch(event, context);
